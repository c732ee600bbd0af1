-- 信用档案（按法定代表人）: one row per legal representative (identity number) of the
-- enterprises of theme.credit, with how many they represent and how those stand.
SELECT
  c.legal_representative_id AS id_number,
  min(c.legal_representative) AS name,
  count(*) AS enterprises,
  count_if(size(c.penalties) > 0) AS penalised_enterprises,
  sum(size(c.penalties)) AS penalties,
  count_if(c.black_listed) AS black_listed_enterprises,
  max(c.credit_grade) AS worst_credit_grade,
  array_sort(collect_list(named_struct(
    'uscc', c.uscc,
    'name', c.name,
    'credit_grade', c.credit_grade
  ))) AS enterprises_represented
FROM theme.credit AS c
WHERE c.legal_representative_id IS NOT NULL
GROUP BY c.legal_representative_id
