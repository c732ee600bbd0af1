-- 证照归集: one row per certificate holder (a person's identity number or an entity's USCC)
-- with every certificate of base.certificate it holds; 一人一档 and 一企一档 read it by name.
-- A certificate without a holder belongs to no dossier: it is left out here (the library's
-- quality suite reports the missing holder to 市行政审批局), not gathered under a NULL key.
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
WHERE c.holder_id IS NOT NULL
GROUP BY c.holder_id
