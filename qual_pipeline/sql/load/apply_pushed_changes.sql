-- Bring worker_qualifications up to what a verified push established, without waiting for the
-- next refresh. A worker new to the type (an accepted request) gets a row of its own.
UPDATE worker_qualifications AS w
SET
    status = o.status,
    integer_value = o.integer_value,
    grant_time = CASE
        WHEN o.status = 'Granted' AND w.status <> 'Granted' THEN o.observed_at ELSE w.grant_time
    END,
    extracted_at = o.observed_at
FROM observed_worker_qualifications AS o
WHERE w.qualification_type_id = o.qualification_type_id
    AND w.worker_id = o.worker_id
    AND w.extracted_at < o.observed_at;

INSERT INTO worker_qualifications BY NAME
SELECT
    o.qualification_type_id,
    o.worker_id,
    o.status,
    o.integer_value,
    o.observed_at AS grant_time,
    o.observed_at AS extracted_at
FROM observed_worker_qualifications AS o
ANTI JOIN worker_qualifications AS w USING (qualification_type_id, worker_id);
