-- Replace the current state of every refreshed type with its new snapshot. A row observed after
-- the snapshot was taken (a verified push) is newer than the snapshot and stays.
DELETE FROM worker_qualifications AS w
USING observed_partitions AS p
WHERE w.qualification_type_id = p.qualification_type_id AND w.extracted_at <= p.observed_at;

INSERT INTO worker_qualifications BY NAME
SELECT s.* EXCLUDE (partition_type_id)
FROM staged_worker_qualifications AS s
ANTI JOIN (
    SELECT qualification_type_id, worker_id
    FROM worker_qualifications
    SEMI JOIN observed_partitions USING (qualification_type_id)
) AS newer USING (qualification_type_id, worker_id);
