-- 信用档案（按企业）: one row per legal entity of the legal-entity library with its public
-- credit record (双公示 licences and penalties, tax credit ratings, red and black list entries)
-- and a credit grade computed from it by the rule in credit.yaml.
WITH licences AS (
  SELECT
    upper(trim(x.uscc)) AS uscc,
    array_sort(collect_list(named_struct(
      'decision_date', TRY_CAST(x.decision_date AS DATE),
      'decision_no', x.decision_no,
      'licence_name', x.licence_name,
      'content', x.content,
      'authority', x.authority,
      'record_id', x.record_id
    ))) AS licences
  FROM ods.ndrc_sgs__admin_license AS x
  WHERE x.uscc IS NOT NULL
  GROUP BY upper(trim(x.uscc))
),
penalties AS (
  SELECT
    upper(trim(x.uscc)) AS uscc,
    array_sort(collect_list(named_struct(
      'decision_date', TRY_CAST(x.decision_date AS DATE),
      'decision_no', x.decision_no,
      'violation', x.violation,
      'penalty_kind', x.penalty_kind,
      'fine_amount', TRY_CAST(x.fine_amount AS DECIMAL(18, 2)),
      'authority', x.authority,
      'record_id', x.record_id
    ))) AS penalties
  FROM ods.ndrc_sgs__admin_penalty AS x
  WHERE x.uscc IS NOT NULL
  GROUP BY upper(trim(x.uscc))
),
ratings AS (
  SELECT
    upper(trim(r.taxpayer_id)) AS uscc,
    array_sort(collect_list(named_struct(
      'rating_year', r.rating_year,
      'credit_level', upper(trim(r.credit_level)),
      'rating_date', TRY_CAST(r.rating_date AS DATE)
    ))) AS tax_credit_ratings,
    max_by(upper(trim(r.credit_level)), r.rating_year) AS latest_tax_credit_level
  FROM ods.tax_credit__credit_rating AS r
  WHERE r.taxpayer_id IS NOT NULL
  GROUP BY upper(trim(r.taxpayer_id))
),
lists AS (
  SELECT
    upper(trim(b.uscc)) AS uscc,
    array_sort(collect_list(named_struct(
      'list_type', trim(b.list_type),
      'listed_on', TRY_CAST(b.listed_on AS DATE),
      'valid_until', TRY_CAST(b.valid_until AS DATE),
      'reason', b.reason,
      'authority', b.authority,
      'list_id', b.list_id
    ))) AS list_entries,
    -- An entry is in force from its listing date to the end of its validity (none: no end).
    bool_or(
      trim(b.list_type) = '黑名单'
      AND TRY_CAST(b.listed_on AS DATE) <= current_date()
      AND coalesce(TRY_CAST(b.valid_until AS DATE) >= current_date(), true)
    ) AS black_listed,
    bool_or(
      trim(b.list_type) = '红名单'
      AND TRY_CAST(b.listed_on AS DATE) <= current_date()
      AND coalesce(TRY_CAST(b.valid_until AS DATE) >= current_date(), true)
    ) AS red_listed
  FROM ods.ndrc_credit_list__red_black_list AS b
  WHERE b.uscc IS NOT NULL
  GROUP BY upper(trim(b.uscc))
),
recent AS (
  SELECT
    upper(trim(x.uscc)) AS uscc,
    count(x.record_id) AS recent_penalties
  FROM ods.ndrc_sgs__admin_penalty AS x
  WHERE TRY_CAST(x.decision_date AS DATE) > add_months(current_date(), -36)
    AND TRY_CAST(x.decision_date AS DATE) <= current_date()
  GROUP BY upper(trim(x.uscc))
)
SELECT
  l.uscc,
  l.name,
  l.entity_type,
  l.legal_representative,
  l.legal_representative_id,
  coalesce(lic.licences, array()) AS licences,
  coalesce(pen.penalties, array()) AS penalties,
  coalesce(recent.recent_penalties, 0) AS penalties_last_3_years,
  coalesce(ratings.tax_credit_ratings, array()) AS tax_credit_ratings,
  ratings.latest_tax_credit_level,
  coalesce(lists.list_entries, array()) AS list_entries,
  coalesce(lists.black_listed, false) AS black_listed,
  coalesce(lists.red_listed, false) AS red_listed,
  CASE
    WHEN coalesce(lists.black_listed, false) OR ratings.latest_tax_credit_level = 'D' THEN 'D'
    WHEN coalesce(recent.recent_penalties, 0) > 0 OR ratings.latest_tax_credit_level = 'C'
      THEN 'C'
    WHEN coalesce(lists.red_listed, false) OR ratings.latest_tax_credit_level = 'A' THEN 'A'
    ELSE 'B'
  END AS credit_grade
FROM base.legal_entity AS l
LEFT JOIN licences AS lic ON lic.uscc = l.uscc
LEFT JOIN penalties AS pen ON pen.uscc = l.uscc
LEFT JOIN recent ON recent.uscc = l.uscc
LEFT JOIN ratings ON ratings.uscc = l.uscc
LEFT JOIN lists ON lists.uscc = l.uscc
