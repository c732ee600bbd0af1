-- 应急管理 (enterprises): one row per hazardous-chemical enterprise of the 市应急管理局 register,
-- with its inspections and incidents and, where the legal-entity library knows it, its
-- registration. Department USCCs are upper(trim(...)) before they are keys or joined.
WITH enterprise AS (
  SELECT
    upper(trim(e.uscc)) AS uscc,
    max_by(e.enterprise_name, e.updated) AS enterprise_name,
    max_by(e.division, e.updated) AS division,
    max_by(e.licence_no, e.updated) AS licence_no,
    max_by(e.licence_type, e.updated) AS licence_type,
    max_by(TRY_CAST(e.licence_valid_to AS DATE), e.updated) AS licence_valid_to,
    max_by(e.hazard_level, e.updated) AS hazard_level
  FROM ods.mem_hazchem__enterprise AS e
  WHERE e.uscc IS NOT NULL
  GROUP BY upper(trim(e.uscc))
),
inspections AS (
  SELECT
    upper(trim(i.uscc)) AS uscc,
    array_sort(collect_set(named_struct(
      'inspection_date', TRY_CAST(i.inspection_date AS DATE),
      'inspection_no', i.inspection_no,
      'inspection_type', i.inspection_type,
      'hazards_found', TRY_CAST(i.hazards_found AS INT),
      'rectification_status', i.rectification_status
    ))) AS inspections,
    max(TRY_CAST(i.inspection_date AS DATE)) AS last_inspection_date
  FROM ods.mem_hazchem__inspection AS i
  GROUP BY upper(trim(i.uscc))
),
incidents AS (
  SELECT
    upper(trim(a.uscc)) AS uscc,
    array_sort(collect_set(named_struct(
      'incident_date', TRY_CAST(a.incident_date AS DATE),
      'incident_no', a.incident_no,
      'incident_type', a.incident_type,
      'incident_level', a.incident_level,
      'deaths', TRY_CAST(a.deaths AS INT),
      'injuries', TRY_CAST(a.injuries AS INT)
    ))) AS incidents,
    max(TRY_CAST(a.incident_date AS DATE)) AS last_incident_date
  FROM ods.mem_hazchem__incident AS a
  GROUP BY upper(trim(a.uscc))
)
SELECT
  enterprise.uscc,
  enterprise.enterprise_name,
  enterprise.division,
  l.uscc IS NOT NULL AS registered_in_legal_entity,
  l.name AS registered_name,
  l.status AS registered_status,
  l.legal_representative,
  l.legal_representative_id,
  enterprise.licence_no,
  enterprise.licence_type,
  enterprise.licence_valid_to,
  enterprise.hazard_level,
  coalesce(inspections.inspections, array()) AS inspections,
  inspections.last_inspection_date,
  coalesce(inspections.last_inspection_date > date_sub(current_date(), 365), FALSE)
    AS inspected_last_year,
  coalesce(incidents.incidents, array()) AS incidents,
  incidents.last_incident_date
FROM enterprise
LEFT JOIN base.legal_entity AS l ON l.uscc = enterprise.uscc
LEFT JOIN inspections ON inspections.uscc = enterprise.uscc
LEFT JOIN incidents ON incidents.uscc = enterprise.uscc
