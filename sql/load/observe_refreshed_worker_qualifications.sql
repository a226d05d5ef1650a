-- What a refresh observed, one row per (type, worker), for the history merge: a view, not a copy,
-- since the staged rows are already one per key (the load checks; see the _deduplicated variant).
CREATE OR REPLACE TEMP VIEW observed_worker_qualifications AS
SELECT
    s.qualification_type_id,
    s.worker_id,
    s.status,
    s.integer_value,
    s.country,
    s.subdivision,
    p.observed_at,
    'refresh' AS source
FROM staged_worker_qualifications AS s
JOIN observed_partitions AS p USING (qualification_type_id);
