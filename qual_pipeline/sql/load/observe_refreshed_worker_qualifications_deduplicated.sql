-- What a refresh observed, when a snapshot holds a (type, worker) more than once (the uniqueness
-- check then fails and blocks the push path): the history takes one row per key, the latest grant,
-- so that it stays one version per key and heals once a clean snapshot arrives.
CREATE OR REPLACE TEMP TABLE deduplicated_observations AS
SELECT DISTINCT ON (w.qualification_type_id, w.worker_id)
    w.qualification_type_id,
    w.worker_id,
    w.status,
    w.integer_value,
    w.country,
    w.subdivision,
    p.observed_at,
    'refresh' AS source
FROM worker_qualifications AS w
JOIN observed_partitions AS p USING (qualification_type_id)
ORDER BY
    w.qualification_type_id,
    w.worker_id,
    w.grant_time DESC NULLS LAST,
    w.status,
    w.integer_value DESC NULLS LAST,
    w.country NULLS LAST,
    w.subdivision NULLS LAST;

CREATE OR REPLACE TEMP VIEW observed_worker_qualifications AS
SELECT * FROM deduplicated_observations;
