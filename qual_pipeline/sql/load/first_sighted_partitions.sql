-- The refreshed types (observed_partitions) with neither current rows nor a history version yet:
-- their snapshots go into worker_qualifications whole (insert_worker_qualifications), without a
-- comparison.
SELECT p.qualification_type_id
FROM observed_partitions AS p
ANTI JOIN (SELECT DISTINCT qualification_type_id FROM worker_qualifications) AS w
    USING (qualification_type_id)
ANTI JOIN (SELECT DISTINCT qualification_type_id FROM worker_qualification_history) AS h
    USING (qualification_type_id)
ORDER BY ALL;
