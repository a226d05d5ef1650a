-- What a verified push established, one row per (type, worker), for the history merge: the pushed
-- score and status, with the locale as last seen (a push does not change where a worker is).
CREATE OR REPLACE TEMP TABLE pushed_observations AS
SELECT DISTINCT ON (c.qualification_type_id, c.worker_id)
    c.qualification_type_id,
    c.worker_id,
    c.status,
    c.integer_value,
    w.country,
    w.subdivision,
    c.observed_at,
    'push' AS source
FROM pushed_changes AS c
LEFT JOIN worker_qualifications AS w USING (qualification_type_id, worker_id)
ORDER BY c.qualification_type_id, c.worker_id, w.extracted_at DESC NULLS LAST;

CREATE OR REPLACE TEMP VIEW observed_worker_qualifications AS
SELECT * FROM pushed_observations;

-- Only the pushed keys can change (merge_history compares these).
CREATE OR REPLACE TEMP TABLE compared_keys AS
SELECT DISTINCT qualification_type_id, worker_id FROM pushed_observations;

CREATE OR REPLACE TEMP VIEW compared_key_observations AS SELECT * FROM pushed_observations;
