-- push_plan: desired_scores diffed against worker_qualifications, one row per change considered.
-- action: 'update'    the worker holds the type (Granted) with another value: UpdateQualificationScore
--         'grant'     the worker lacks the type or it was revoked, and grants are allowed
--         'unchanged' MTurk already holds this value
--         'rejected'  bad input or not allowed; `reason` says why and how to fix it
-- One row per (type, worker) and problem; input_rows counts the desired rows behind it.
-- Inputs: the view desired_scores (the user's model) and getvariable('allow_grants').
WITH desired AS (
    SELECT
        CAST(qualification_type_id AS VARCHAR) AS qualification_type_id,
        CAST(worker_id AS VARCHAR) AS worker_id,
        trim(CAST(integer_value AS VARCHAR)) AS raw_value
    FROM desired_scores
),

parsed AS (
    SELECT
        *,
        TRY_CAST(raw_value AS DOUBLE) AS number
    FROM desired
),

checked AS (
    SELECT
        qualification_type_id,
        worker_id,
        raw_value,
        CASE
            WHEN qualification_type_id IS NULL OR qualification_type_id = ''
                THEN 'qualification_type_id is missing'
            WHEN NOT regexp_matches(qualification_type_id, '^[A-Z0-9]{1,64}$')
                THEN 'qualification_type_id must be 1-64 upper-case letters and digits'
            WHEN worker_id IS NULL OR worker_id = ''
                THEN 'worker_id is missing'
            WHEN NOT regexp_matches(worker_id, '^A[A-Z0-9]{1,63}$')
                THEN 'worker_id must be A followed by upper-case letters and digits (at most 64)'
            WHEN raw_value IS NULL OR raw_value = ''
                THEN 'integer_value is missing'
            WHEN number IS NULL OR NOT isfinite(number) OR number <> trunc(number)
                THEN 'integer_value is not an integer'
            WHEN number < -2147483648 OR number > 2147483647
                THEN 'integer_value is outside the 32-bit range -2147483648..2147483647'
        END AS row_problem,
        CASE
            WHEN number BETWEEN -2147483648 AND 2147483647 AND number = trunc(number)
                THEN CAST(number AS INTEGER)
        END AS new_value
    FROM parsed
),

grouped AS (
    -- One pass: valid rows collapse to one per (type, worker); invalid rows to one per
    -- (type, worker, problem), keeping how many input rows they stand for.
    SELECT
        qualification_type_id,
        worker_id,
        row_problem,
        min(new_value) AS new_value,
        max(new_value) AS highest,
        min(raw_value) AS raw_value,
        count(*) AS input_rows
    FROM checked
    GROUP BY qualification_type_id, worker_id, row_problem
),

candidates AS (
    SELECT
        qualification_type_id,
        worker_id,
        CASE WHEN row_problem IS NULL AND new_value = highest THEN new_value END AS new_value,
        raw_value,
        input_rows,
        CASE
            WHEN row_problem IS NOT NULL THEN row_problem
            WHEN new_value <> highest THEN
                'the same worker appears ' || input_rows || ' times with different values ('
                || new_value || ' to ' || highest || ')'
        END AS problem
    FROM grouped
)

SELECT
    d.qualification_type_id,
    d.worker_id,
    c.status AS current_status,
    c.integer_value AS old_value,
    d.new_value,
    d.raw_value,
    d.input_rows,
    CASE
        WHEN d.problem IS NOT NULL THEN 'rejected'
        WHEN t.qualification_type_id IS NULL THEN 'rejected'
        WHEN c.status = 'Granted' AND c.integer_value IS NOT DISTINCT FROM d.new_value
            THEN 'unchanged'
        WHEN c.status = 'Granted' THEN 'update'
        WHEN getvariable('allow_grants') THEN 'grant'
        ELSE 'rejected'
    END AS action,
    CASE
        WHEN d.problem IS NOT NULL THEN d.problem
        WHEN t.qualification_type_id IS NULL
            THEN 'not one of your qualification types (not in qualification_types)'
        WHEN c.status = 'Granted' THEN NULL
        WHEN getvariable('allow_grants') THEN NULL
        WHEN c.status = 'Revoked'
            THEN 'the qualification was revoked; granting it again needs --allow-grants'
        ELSE 'the worker does not hold this qualification; granting it needs --allow-grants'
    END AS reason
FROM candidates AS d
LEFT JOIN qualification_types AS t
    ON d.qualification_type_id = t.qualification_type_id
LEFT JOIN worker_qualifications AS c
    ON d.qualification_type_id = c.qualification_type_id AND d.worker_id = c.worker_id
