-- 一人一档: one row per person of the population library, with what each department holds
-- about them as arrays of structs (sorted, so a rebuild of the same data gives the same row).
WITH household AS (
  SELECT
    upper(trim(r.sfzh)) AS id_number,
    array_sort(collect_list(named_struct(
      'household_no', r.hh,
      'relation_to_head', r.yhzgx,
      'head_id_number', h.hzsfzh,
      'address', h.hjdz,
      'division', h.xzqh
    ))) AS household
  FROM ods.psb_hukou__hj_resident AS r
  LEFT JOIN ods.psb_hukou__hj_household AS h
    ON h.hh = r.hh
  GROUP BY upper(trim(r.sfzh))
),
spouse_of AS (
  SELECT upper(trim(m.husband_id_number)) AS id_number, m.certificate_no, m.registration_type,
    m.wife_name AS spouse_name, m.wife_id_number AS spouse_id_number, m.registration_date,
    m.registry_office
  FROM ods.mca_marriage__marriage AS m
  UNION ALL
  SELECT upper(trim(m.wife_id_number)) AS id_number, m.certificate_no, m.registration_type,
    m.husband_name AS spouse_name, m.husband_id_number AS spouse_id_number, m.registration_date,
    m.registry_office
  FROM ods.mca_marriage__marriage AS m
),
marriages AS (
  SELECT
    s.id_number,
    array_sort(collect_list(named_struct(
      'registration_date', TRY_CAST(s.registration_date AS DATE),
      'registration_type', s.registration_type,
      'certificate_no', s.certificate_no,
      'spouse_name', s.spouse_name,
      'spouse_id_number', s.spouse_id_number,
      'registry_office', s.registry_office
    ))) AS marriages
  FROM spouse_of AS s
  GROUP BY s.id_number
),
enrolment AS (
  SELECT
    upper(trim(e.id_number)) AS id_number,
    array_sort(collect_list(named_struct(
      'insurance_type', e.insurance_type,
      'status', e.status,
      'start_date', TRY_CAST(e.start_date AS DATE),
      'unit_uscc', e.unit_uscc
    ))) AS social_insurance
  FROM ods.hrss_social_insurance__si_enrolment AS e
  GROUP BY upper(trim(e.id_number))
),
medical AS (
  SELECT
    upper(trim(i.certno)) AS id_number,
    array_sort(collect_list(named_struct(
      'insurance_type', i.insutype,
      'status', i.psn_insu_stas,
      'begin_date', TRY_CAST(i.begndate AS DATE)
    ))) AS medical_insurance
  FROM ods.nhsa_medical_insurance__mi_insured AS i
  GROUP BY upper(trim(i.certno))
),
enterprises AS (
  SELECT
    l.legal_representative_id AS id_number,
    array_sort(collect_list(named_struct(
      'uscc', l.uscc,
      'name', l.name,
      'status', l.status
    ))) AS enterprises_represented
  FROM base.legal_entity AS l
  WHERE l.legal_representative_id IS NOT NULL
  GROUP BY l.legal_representative_id
),
vital AS (
  SELECT upper(trim(b.mother_id_number)) AS id_number, 'birth of a child (mother)' AS event,
    b.birth_cert_no AS record_no, TRY_CAST(b.birth_date AS DATE) AS event_date
  FROM ods.nhc_vital__birth AS b
  UNION ALL
  SELECT upper(trim(b.father_id_number)) AS id_number, 'birth of a child (father)' AS event,
    b.birth_cert_no AS record_no, TRY_CAST(b.birth_date AS DATE) AS event_date
  FROM ods.nhc_vital__birth AS b
  UNION ALL
  SELECT upper(trim(d.id_number)) AS id_number, 'death' AS event, d.death_cert_no AS record_no,
    TRY_CAST(d.death_date AS DATE) AS event_date
  FROM ods.nhc_vital__death AS d
),
vital_events AS (
  SELECT
    v.id_number,
    array_sort(collect_list(named_struct(
      'event_date', v.event_date, 'event', v.event, 'record_no', v.record_no
    ))) AS vital_events
  FROM vital AS v
  WHERE v.id_number IS NOT NULL
  GROUP BY v.id_number
)
SELECT
  p.id_number,
  p.name,
  p.sex,
  p.birth_date,
  p.ethnicity,
  p.division,
  p.household_address,
  p.marital_status,
  p.death_date,
  p.social_insurance_status AS pension_status,
  coalesce(household.household, array()) AS household,
  coalesce(marriages.marriages, array()) AS marriages,
  coalesce(enrolment.social_insurance, array()) AS social_insurance,
  coalesce(medical.medical_insurance, array()) AS medical_insurance,
  coalesce(held.certificates, array()) AS certificates,
  coalesce(enterprises.enterprises_represented, array()) AS enterprises_represented,
  coalesce(vital_events.vital_events, array()) AS vital_events,
  CASE WHEN credit.id_number IS NOT NULL THEN named_struct(
    'enterprises', credit.enterprises,
    'penalised_enterprises', credit.penalised_enterprises,
    'penalties', credit.penalties,
    'black_listed_enterprises', credit.black_listed_enterprises,
    'worst_credit_grade', credit.worst_credit_grade
  ) END AS credit_record
FROM base.population AS p
LEFT JOIN household ON household.id_number = p.id_number
LEFT JOIN marriages ON marriages.id_number = p.id_number
LEFT JOIN enrolment ON enrolment.id_number = p.id_number
LEFT JOIN medical ON medical.id_number = p.id_number
LEFT JOIN theme.holder_certificates AS held ON held.holder_id = p.id_number
LEFT JOIN enterprises ON enterprises.id_number = p.id_number
LEFT JOIN vital_events ON vital_events.id_number = p.id_number
LEFT JOIN theme.credit_by_representative AS credit ON credit.id_number = p.id_number
