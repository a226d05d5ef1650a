-- The observed types (observed_partitions) without any history version: all their observations
-- are new (merge_history inserts them without a comparison). Runs before compare_keys or
-- compare_types, which leave these types out.
CREATE OR REPLACE TEMP TABLE first_sighted_types AS
SELECT p.qualification_type_id
FROM observed_partitions AS p
ANTI JOIN (
    SELECT DISTINCT qualification_type_id FROM worker_qualification_history
) AS h USING (qualification_type_id);
