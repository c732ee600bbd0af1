-- 社会保障 per person: every pension and other insurance enrolment of the 市人社局 register and
-- the gaps a caseworker looks for. Ages are counted on the build date.
WITH enrolment AS (
  SELECT
    upper(trim(e.id_number)) AS id_number,
    array_sort(collect_list(named_struct(
      'insurance_type', e.insurance_type,
      'status', e.status,
      'start_date', TRY_CAST(e.start_date AS DATE),
      'unit_uscc', e.unit_uscc
    ))) AS enrolments,
    min(CASE WHEN e.insurance_type IN ('110', '120', '170') THEN TRY_CAST(e.start_date AS DATE) END)
      AS first_pension_start,
    max(CASE WHEN e.insurance_type IN ('110', '120', '170') THEN TRY_CAST(e.start_date AS DATE) END)
      AS last_pension_start
  FROM ods.hrss_social_insurance__si_enrolment AS e
  GROUP BY upper(trim(e.id_number))
),
person AS (
  SELECT
    p.id_number,
    p.name,
    p.sex,
    p.division,
    TRY_CAST(p.death_date AS DATE) AS death_date,
    p.social_insurance_status,
    floor(months_between(current_date(), TRY_CAST(p.birth_date AS DATE)) / 12) AS age
  FROM base.population AS p
)
SELECT
  person.id_number,
  person.name,
  person.division,
  CAST(person.age AS INT) AS age,
  person.death_date,
  coalesce(enrolment.enrolments, array()) AS enrolments,
  enrolment.first_pension_start IS NOT NULL AS pension_enrolled,
  person.social_insurance_status AS pension_status,
  person.death_date IS NULL
    AND person.age >= 16
    AND person.age < CASE WHEN person.sex = '2' THEN 55 ELSE 60 END
    AND enrolment.first_pension_start IS NULL AS working_age_not_enrolled,
  coalesce(person.death_date < enrolment.last_pension_start, FALSE) AS enrolled_after_death
FROM person
LEFT JOIN enrolment
  ON enrolment.id_number = person.id_number
