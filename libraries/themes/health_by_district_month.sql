-- Births and deaths per district and month, over theme.health, rebuilt in full.
SELECT
  coalesce(h.division, 'unknown') AS division,
  coalesce(h.event_month, 'unknown') AS event_month,
  count_if(h.event = 'birth') AS births,
  count_if(h.event = 'birth' AND NOT h.person_insured) AS births_newborn_uninsured,
  count_if(h.event = 'birth' AND NOT h.mother_insured) AS births_mother_uninsured,
  count_if(h.event = 'death') AS deaths,
  count_if(h.event = 'death' AND NOT h.person_insured) AS deaths_uninsured
FROM theme.health AS h
GROUP BY coalesce(h.division, 'unknown'), coalesce(h.event_month, 'unknown')
