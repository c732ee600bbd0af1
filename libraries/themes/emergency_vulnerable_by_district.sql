-- 应急预案 vulnerable population per district (户籍区划): living persons aged 80 or more, and
-- those of them living alone in the household register (no other living member of their
-- 户). A person's household is the one of their register row (the lowest number if the
-- register holds several). Ages are counted on the build date.
WITH home AS (
  SELECT upper(trim(r.sfzh)) AS id_number, min(r.hh) AS hh
  FROM ods.psb_hukou__hj_resident AS r
  WHERE r.hh IS NOT NULL
  GROUP BY upper(trim(r.sfzh))
),
person AS (
  SELECT
    p.id_number,
    p.division,
    p.death_date IS NULL AS living,
    floor(months_between(current_date(), TRY_CAST(p.birth_date AS DATE)) / 12) AS age,
    home.hh
  FROM base.population AS p
  LEFT JOIN home ON home.id_number = p.id_number
),
household AS (
  SELECT person.hh, count(*) AS living_members
  FROM person
  WHERE person.living AND person.hh IS NOT NULL
  GROUP BY person.hh
)
SELECT
  coalesce(person.division, 'unknown') AS division,
  count_if(person.living) AS living,
  count_if(person.living AND person.age >= 80) AS aged_80_plus,
  count_if(person.living AND person.age >= 80 AND household.living_members = 1)
    AS aged_80_plus_living_alone
FROM person
LEFT JOIN household ON household.hh = person.hh
GROUP BY coalesce(person.division, 'unknown')
