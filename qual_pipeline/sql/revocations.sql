-- Every revocation observed: when we first saw the worker revoked, the score it had, and when (if
-- ever) it was granted again. A worker first seen already revoked counts from that first sighting.
CREATE OR REPLACE VIEW revocations AS
WITH versions AS (
    SELECT
        *,
        lag(status) OVER key_in_time AS previous_status,
        lag(integer_value) OVER key_in_time AS previous_integer_value,
        min(CASE WHEN status = 'Granted' THEN valid_from END) OVER (
            key_in_time ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING
        ) AS regranted_at
    FROM worker_qualification_history
    WINDOW key_in_time AS (PARTITION BY qualification_type_id, worker_id ORDER BY valid_from)
)
SELECT
    qualification_type_id,
    worker_id,
    valid_from AS revoked_at,
    coalesce(previous_integer_value, integer_value) AS integer_value_before,
    country,
    subdivision,
    regranted_at,
    source
FROM versions
WHERE status = 'Revoked' AND previous_status IS DISTINCT FROM 'Revoked';
