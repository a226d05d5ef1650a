-- What a refresh observed, one row per (type, worker), for the history merge. Should a snapshot
-- hold a key twice (the uniqueness check then fails), the history takes the latest grant.
CREATE OR REPLACE TEMP TABLE observed_worker_qualifications AS
SELECT DISTINCT ON (s.qualification_type_id, s.worker_id)
    s.qualification_type_id,
    s.worker_id,
    s.status,
    s.integer_value,
    s.country,
    s.subdivision,
    p.observed_at,
    'refresh' AS source
FROM staged_worker_qualifications AS s
JOIN observed_partitions AS p USING (qualification_type_id)
ORDER BY s.qualification_type_id, s.worker_id, s.grant_time DESC NULLS LAST, s.status;
