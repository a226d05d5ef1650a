-- grant_plan: grant_decisions checked against qualification_requests, one row per decision.
-- action: 'accept'    AcceptQualificationRequest with new_value (GrantQualification, default 1)
--         'reject'    RejectQualificationRequest with reject_reason
--         'unchanged' an earlier push already decided this request (push_audit)
--         'rejected'  bad input, a request that is not pending, or an accept that would change
--                     a held score without saying so; `reason` says why and how to fix it
-- effect (accepts): 'grant'  the worker lacks the type or it was revoked: MTurk grants it
--                   'update' the worker holds it (Granted) and the accept sets another value
--                   'none'   the worker holds it with exactly this value
-- An accept over a Granted holder whose value would change is rejected unless the row gives
-- integer_value explicitly: MTurk would otherwise overwrite the score with 1.
-- source_line names the first input row behind a plan row in the file the user edited, raw_value
-- its value as written; a row rejected for its input keeps its decision as written.
-- Inputs: the view grant_decision_rows (the user's model in the columns qualification_request_id,
-- decision, integer_value, reason, source_line, input_problem), qualification_requests, push_audit.
WITH decisions AS (
    SELECT
        CAST(qualification_request_id AS VARCHAR) AS qualification_request_id,
        lower(trim(CAST(decision AS VARCHAR))) AS decision,
        CAST(decision AS VARCHAR) AS decision_as_written,
        CAST(integer_value AS VARCHAR) AS raw_value,
        typeof(integer_value) = 'VARCHAR' AS is_text,
        trim_spaces(CAST(integer_value AS VARCHAR)) AS value_text,
        TRY_CAST(trim_spaces(CAST(integer_value AS VARCHAR)) AS DOUBLE) AS number,
        nullif(trim(CAST(reason AS VARCHAR)), '') AS reject_reason,
        TRY_CAST(source_line AS BIGINT) AS source_line,
        CAST(input_problem AS VARCHAR) AS input_problem
    FROM grant_decision_rows
),

checked AS (
    SELECT
        qualification_request_id,
        decision,
        decision_as_written,
        raw_value,
        reject_reason,
        source_line,
        CASE
            WHEN input_problem IS NOT NULL THEN input_problem
            WHEN qualification_request_id IS NULL OR qualification_request_id = ''
                THEN 'qualification_request_id is missing'
            WHEN decision IS NULL OR decision NOT IN ('accept', 'reject')
                THEN 'decision must be accept or reject'
            WHEN decision = 'reject' THEN NULL
            WHEN value_text IS NULL OR value_text = '' THEN NULL
            WHEN number IS NULL OR NOT isfinite(number) OR number <> trunc(number)
                THEN 'integer_value is not an integer'
            WHEN number < -2147483648 OR number > 2147483647
                THEN 'integer_value is outside the 32-bit range -2147483648..2147483647'
            -- text as in push_plan.sql: digits, an optional sign, optionally a point and zeros
            WHEN is_text AND NOT written_in_digits(value_text)
                THEN 'integer_value is not written in digits: write the whole number as digits '
                    || '(e.g. 1000 or 1000.0; not 1_000 or 1e3)'
        END AS row_problem,
        CASE
            WHEN decision <> 'accept' THEN NULL
            WHEN value_text IS NULL OR value_text = '' THEN 1
            WHEN number BETWEEN -2147483648 AND 2147483647 AND number = trunc(number)
                THEN CAST(number AS INTEGER)
        END AS new_value,
        coalesce(value_text, '') <> '' AS explicit_value
    FROM decisions
),

valid AS (
    SELECT
        qualification_request_id,
        min(decision) AS decision,
        min(new_value) AS new_value,
        arg_min_null(raw_value, coalesce(source_line, 0)) AS raw_value,
        min(source_line) AS source_line,
        min(reject_reason) AS reject_reason,
        bool_and(explicit_value) AS explicit_value,
        count(*) AS input_rows,
        count(DISTINCT decision) > 1
        OR count(DISTINCT new_value) > 1
        OR count(DISTINCT reject_reason) > 1 AS conflicting
    FROM checked
    WHERE row_problem IS NULL
    GROUP BY qualification_request_id
),

candidates AS (
    SELECT
        qualification_request_id,
        CASE WHEN NOT conflicting THEN decision END AS decision,
        CASE WHEN NOT conflicting THEN new_value END AS new_value,
        raw_value,
        CASE WHEN NOT conflicting THEN reject_reason END AS reject_reason,
        source_line,
        explicit_value,
        CASE
            WHEN conflicting THEN
                'the same request appears ' || input_rows || ' times with different decisions'
        END AS problem
    FROM valid
    UNION ALL
    -- a rejected row keeps its decision as written (`Approve`, not `approve`)
    SELECT
        qualification_request_id, decision_as_written, NULL, raw_value, reject_reason,
        source_line, explicit_value, row_problem
    FROM checked
    WHERE row_problem IS NOT NULL
),

decided AS (
    SELECT qualification_request_id, max(run_id) AS run_id
    FROM push_audit
    WHERE kind = 'requests' AND status = 'verified'
    GROUP BY qualification_request_id
)

SELECT
    d.qualification_request_id,
    r.qualification_type_id,
    r.worker_id,
    d.decision,
    c.status AS current_status,
    c.integer_value AS old_value,
    d.new_value,
    d.raw_value,
    d.reject_reason,
    d.source_line,
    CAST(NULL AS VARCHAR) AS source_column,
    CASE
        WHEN d.problem IS NOT NULL THEN 'rejected'
        WHEN done.qualification_request_id IS NOT NULL THEN 'unchanged'
        WHEN r.qualification_request_id IS NULL THEN 'rejected'
        WHEN t.qualification_type_id IS NULL THEN 'rejected'
        WHEN d.decision = 'accept' AND c.status = 'Granted' AND NOT d.explicit_value
            AND c.integer_value IS DISTINCT FROM d.new_value THEN 'rejected'
        ELSE d.decision
    END AS action,
    CASE
        WHEN d.decision IS DISTINCT FROM 'accept' THEN NULL
        WHEN c.status IS DISTINCT FROM 'Granted' THEN 'grant'
        WHEN c.integer_value IS DISTINCT FROM d.new_value THEN 'update'
        ELSE 'none'
    END AS effect,
    CASE
        WHEN d.problem IS NOT NULL THEN d.problem
        WHEN done.qualification_request_id IS NOT NULL
            THEN 'already decided by push run ' || done.run_id
        WHEN r.qualification_request_id IS NULL
            THEN 'not a pending request (not in qualification_requests; refresh the warehouse)'
        WHEN t.qualification_type_id IS NULL
            THEN 'not one of your qualification types (not in qualification_types; sandbox and production ids differ)'
        WHEN d.decision = 'accept' AND c.status = 'Granted' AND NOT d.explicit_value
            AND c.integer_value IS DISTINCT FROM d.new_value
            THEN 'the worker already holds this qualification with '
                || coalesce('value ' || c.integer_value, 'no value')
                || ' and an accept without integer_value would set it to 1: give integer_value '
                || '(e.g. ' || coalesce(c.integer_value, 1) || ' to keep it) or decide reject'
    END AS reason
FROM candidates AS d
LEFT JOIN decided AS done
    ON d.qualification_request_id = done.qualification_request_id
LEFT JOIN qualification_requests AS r
    ON d.qualification_request_id = r.qualification_request_id
LEFT JOIN qualification_types AS t
    ON r.qualification_type_id = t.qualification_type_id
LEFT JOIN worker_qualifications AS c
    ON r.qualification_type_id = c.qualification_type_id AND r.worker_id = c.worker_id
