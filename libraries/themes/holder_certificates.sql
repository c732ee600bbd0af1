-- 证照归集: one row per certificate holder (a person's identity number or an entity's USCC)
-- with every certificate of base.certificate it holds; 一人一档 and 一企一档 read it by name.
SELECT
  c.holder_id,
  array_sort(collect_list(named_struct(
    'certificate_type_name', c.certificate_type_name,
    'certificate_id', c.certificate_id,
    'issue_date', c.issue_date,
    'valid_to', c.valid_to,
    'status', c.status
  ))) AS certificates
FROM base.certificate AS c
GROUP BY c.holder_id
