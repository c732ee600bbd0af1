-- 一企一档: one row per legal entity of the legal-entity library, with its tax credit ratings
-- over the years, the certificates it holds, its 双公示 licences and penalties with the public
-- credit grade, its hazardous-chemical registration with inspections and incidents, and its
-- economy figures per year where they exist (base.economy: 统计局, 税务局, industry of 市场监管).
WITH ratings AS (
  SELECT
    upper(trim(r.taxpayer_id)) AS uscc,
    array_sort(collect_list(named_struct(
      'rating_year', r.rating_year,
      'credit_level', r.credit_level,
      'rating_date', TRY_CAST(r.rating_date AS DATE)
    ))) AS tax_credit_ratings
  FROM ods.tax_credit__credit_rating AS r
  GROUP BY upper(trim(r.taxpayer_id))
),
economy AS (
  SELECT
    e.uscc,
    array_sort(collect_list(named_struct(
      'year', e.year,
      'revenue', e.revenue,
      'employees', e.employees,
      'tax_paid', e.tax_paid,
      'industry', e.industry
    ))) AS economy_figures
  FROM base.economy AS e
  GROUP BY e.uscc
)
SELECT
  l.uscc,
  l.name,
  l.entity_type,
  l.status,
  l.establishment_date,
  l.registered_capital,
  l.address,
  l.business_scope,
  l.legal_representative,
  l.legal_representative_id,
  person.id_number IS NOT NULL AS legal_representative_in_population,
  l.tax_credit_rating AS latest_tax_credit_rating,
  coalesce(ratings.tax_credit_ratings, array()) AS tax_credit_ratings,
  coalesce(held.certificates, array()) AS certificates,
  coalesce(credit.licences, array()) AS administrative_licences,
  coalesce(credit.penalties, array()) AS administrative_penalties,
  credit.credit_grade AS public_credit_grade,
  CASE WHEN hazchem.uscc IS NOT NULL THEN named_struct(
    'licence_no', hazchem.licence_no,
    'licence_type', hazchem.licence_type,
    'licence_valid_to', hazchem.licence_valid_to,
    'hazard_level', hazchem.hazard_level,
    'inspections', hazchem.inspections,
    'incidents', hazchem.incidents
  ) END AS hazardous_chemicals,
  coalesce(economy.economy_figures, array()) AS economy_figures
FROM base.legal_entity AS l
LEFT JOIN base.population AS person ON person.id_number = l.legal_representative_id
LEFT JOIN ratings ON ratings.uscc = l.uscc
LEFT JOIN theme.holder_certificates AS held ON held.holder_id = l.uscc
LEFT JOIN theme.credit AS credit ON credit.uscc = l.uscc
LEFT JOIN theme.emergency AS hazchem ON hazchem.uscc = l.uscc
LEFT JOIN economy ON economy.uscc = l.uscc
