-- What a refresh observed, when a snapshot holds a (type, worker) more than once (the uniqueness
-- check then fails and blocks the push path): the history takes one row per key, the latest grant,
-- so that it stays one version per key and heals once a clean snapshot arrives.
CREATE OR REPLACE TEMP TABLE deduplicated_observations AS
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
ORDER BY
    s.qualification_type_id,
    s.worker_id,
    s.grant_time DESC NULLS LAST,
    s.status,
    s.integer_value DESC NULLS LAST,
    s.country NULLS LAST,
    s.subdivision NULLS LAST;

CREATE OR REPLACE TEMP VIEW observed_worker_qualifications AS
SELECT * FROM deduplicated_observations;
