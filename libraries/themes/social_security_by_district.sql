-- Coverage per district (区县): counts over theme.social_security, rebuilt in full.
SELECT
  coalesce(s.division, 'unknown') AS division,
  count(*) AS persons,
  count_if(s.death_date IS NULL) AS living,
  count_if(s.pension_enrolled) AS pension_enrolled,
  count_if(s.working_age_not_enrolled) AS working_age_not_enrolled,
  count_if(s.enrolled_after_death) AS enrolled_after_death,
  round(count_if(s.pension_enrolled AND s.death_date IS NULL)
    / nullif(count_if(s.death_date IS NULL), 0), 4) AS pension_coverage
FROM theme.social_security AS s
GROUP BY coalesce(s.division, 'unknown')
