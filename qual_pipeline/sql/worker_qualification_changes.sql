-- Every change ever observed, one row per event, with the values before and after.
-- 'gone' events come from versions closed because the worker disappeared from MTurk.
CREATE OR REPLACE VIEW worker_qualification_changes AS
WITH versions AS (
    SELECT
        *,
        lag(status) OVER key_in_time AS previous_status,
        lag(integer_value) OVER key_in_time AS previous_integer_value,
        lag(country) OVER key_in_time AS previous_country,
        lag(subdivision) OVER key_in_time AS previous_subdivision
    FROM worker_qualification_history
    WINDOW key_in_time AS (PARTITION BY qualification_type_id, worker_id ORDER BY valid_from)
)
SELECT
    qualification_type_id,
    worker_id,
    valid_from AS changed_at,
    change,
    previous_status,
    status,
    previous_integer_value,
    integer_value,
    previous_country,
    country,
    previous_subdivision,
    subdivision,
    source
FROM versions
UNION ALL
SELECT
    qualification_type_id,
    worker_id,
    valid_to AS changed_at,
    'gone' AS change,
    status AS previous_status,
    NULL AS status,
    integer_value AS previous_integer_value,
    NULL AS integer_value,
    country AS previous_country,
    NULL AS country,
    subdivision AS previous_subdivision,
    NULL AS subdivision,
    'refresh' AS source
FROM worker_qualification_history
WHERE end_reason = 'gone';
