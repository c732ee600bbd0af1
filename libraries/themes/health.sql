-- 医疗健康: one row per birth or death certificate of the 市卫健委, with the person (the
-- newborn, identified in the population library by name and birth date within the mother's
-- district, or the deceased), the parents, and whether each is in the 市医保局 insured register
-- (the logical source, read in place). A certificate repeated in a delivery counts once.
WITH insured AS (
  SELECT DISTINCT upper(trim(i.certno)) AS id_number
  FROM ods.nhsa_medical_insurance__mi_insured AS i
  WHERE i.certno IS NOT NULL
),
birth AS (
  SELECT
    b.birth_cert_no AS record_no,
    trim(b.newborn_name) AS person_name,
    coalesce(TRY_CAST(b.birth_date AS DATE), try_to_date(b.birth_date, 'yyyy/MM/dd'))
      AS event_date,
    upper(trim(b.mother_id_number)) AS mother_id_number,
    b.mother_name,
    upper(trim(b.father_id_number)) AS father_id_number,
    b.father_name,
    b.birth_place AS place,
    row_number() OVER (PARTITION BY b.birth_cert_no ORDER BY b.issue_date DESC) AS copy
  FROM ods.nhc_vital__birth AS b
  WHERE b.birth_cert_no IS NOT NULL
),
newborn AS (
  SELECT
    birth.record_no,
    max(p.id_number) AS id_number,
    count(p.id_number) AS candidates
  FROM birth
  JOIN base.population AS mother ON mother.id_number = birth.mother_id_number
  JOIN base.population AS p
    ON p.name = birth.person_name AND p.birth_date = birth.event_date
    AND p.division = mother.division
  WHERE birth.copy = 1
  GROUP BY birth.record_no
),
death AS (
  SELECT
    d.death_cert_no AS record_no,
    upper(trim(d.id_number)) AS id_number,
    d.name AS person_name,
    coalesce(TRY_CAST(d.death_date AS DATE), try_to_date(d.death_date, 'yyyy/MM/dd'))
      AS event_date,
    d.cause_of_death,
    d.death_place AS place,
    row_number() OVER (PARTITION BY d.death_cert_no ORDER BY d.report_date DESC) AS copy
  FROM ods.nhc_vital__death AS d
  WHERE d.death_cert_no IS NOT NULL
),
event AS (
  SELECT
    birth.record_no, 'birth' AS event, birth.event_date,
    CASE WHEN newborn.candidates = 1 THEN newborn.id_number END AS person_id,
    birth.person_name, mother.division,
    birth.mother_id_number, birth.mother_name, birth.father_id_number, birth.father_name,
    CAST(NULL AS STRING) AS cause_of_death, birth.place
  FROM birth
  LEFT JOIN newborn ON newborn.record_no = birth.record_no
  LEFT JOIN base.population AS mother ON mother.id_number = birth.mother_id_number
  WHERE birth.copy = 1
  UNION ALL
  SELECT
    death.record_no, 'death' AS event, death.event_date, death.id_number AS person_id,
    death.person_name, person.division,
    CAST(NULL AS STRING), CAST(NULL AS STRING), CAST(NULL AS STRING), CAST(NULL AS STRING),
    death.cause_of_death, death.place
  FROM death
  LEFT JOIN base.population AS person ON person.id_number = death.id_number
  WHERE death.copy = 1
)
SELECT
  event.record_no,
  event.event,
  event.event_date,
  date_format(event.event_date, 'yyyy-MM') AS event_month,
  event.division,
  event.person_id,
  event.person_name,
  person_insured.id_number IS NOT NULL AS person_insured,
  event.mother_id_number,
  event.mother_name,
  mother_insured.id_number IS NOT NULL AS mother_insured,
  event.father_id_number,
  event.father_name,
  father_insured.id_number IS NOT NULL AS father_insured,
  event.cause_of_death,
  event.place
FROM event
LEFT JOIN insured AS person_insured ON person_insured.id_number = event.person_id
LEFT JOIN insured AS mother_insured ON mother_insured.id_number = event.mother_id_number
LEFT JOIN insured AS father_insured ON father_insured.id_number = event.father_id_number
