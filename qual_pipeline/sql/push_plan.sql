-- push_plan: the desired state diffed against worker_qualifications, one row per change considered.
-- action: 'update'    the worker holds the type (Granted) with another value: UpdateQualificationScore
--         'grant'     the worker lacks the type or it was revoked, and grants are allowed
--         'revoke'    the row asks for a revocation, the worker holds the type (Granted) and
--                     revocations are allowed: DisassociateQualificationFromWorker with revoke_reason
--         'unchanged' MTurk already holds this value (or, for a revocation, the worker does not
--                     hold the type: it is revoked already or was never granted)
--         'rejected'  bad input or not allowed; `reason` says why and how to fix it
-- One row per (type, worker) and problem; input_rows counts the desired rows behind it, and
-- source_line (source_column) names the first of them in the file the user edited, raw_value its
-- value as written.
-- Inputs: the view desired_score_rows (the user's model or the website CSV, in the columns
-- qualification_type_id, worker_id, integer_value, action, reason, source_line, source_column,
-- input_problem) and getvariable('allow_grants'), getvariable('allow_revokes'),
-- getvariable('group_rows').
-- group_rows true: rows are grouped per (type, worker, problem), so repeats of a worker merge
-- (identical) or are rejected (different values). group_rows false: every input row is its own
-- candidate, as the grouping would make it when no (type, worker) repeats; push.plan builds with
-- false first and again with true when the plan's (type, worker) are not all distinct. The
-- grouping costs most of a 10,000,000-row plan; skipping it is the common case's plan.
WITH desired AS NOT MATERIALIZED (
    SELECT
        CAST(qualification_type_id AS VARCHAR) AS qualification_type_id,
        CAST(worker_id AS VARCHAR) AS worker_id,
        CAST(integer_value AS VARCHAR) AS raw_value,
        -- text (a CSV file's cells) is checked as written too (row_problem below)
        typeof(integer_value) = 'VARCHAR' AS is_text,
        lower(trim(CAST(action AS VARCHAR))) AS wanted,
        nullif(trim(CAST(reason AS VARCHAR)), '') AS revoke_reason,
        TRY_CAST(source_line AS BIGINT) AS source_line,
        CAST(source_column AS VARCHAR) AS source_column,
        CAST(input_problem AS VARCHAR) AS input_problem
    FROM desired_score_rows
),

parsed AS NOT MATERIALIZED (
    SELECT
        *,
        trim_spaces(raw_value) AS value_text,
        TRY_CAST(trim_spaces(raw_value) AS DOUBLE) AS number,
        coalesce(wanted = 'revoke', false) AS is_revoke
    FROM desired
),

checked AS NOT MATERIALIZED (
    SELECT
        qualification_type_id,
        worker_id,
        raw_value,
        revoke_reason,
        source_line,
        source_column,
        is_revoke,
        CASE
            WHEN input_problem IS NOT NULL THEN input_problem
            WHEN qualification_type_id IS NULL OR qualification_type_id = ''
                THEN 'qualification_type_id is missing'
            WHEN NOT regexp_matches(qualification_type_id, '^[A-Z0-9]{1,64}$')
                THEN 'qualification_type_id must be 1-64 upper-case letters and digits'
            WHEN worker_id IS NULL OR worker_id = ''
                THEN 'worker_id is missing'
            WHEN NOT regexp_matches(worker_id, '^A[A-Z0-9]{1,63}$')
                THEN 'worker_id must be A followed by upper-case letters and digits (at most 64)'
            WHEN coalesce(wanted, '') NOT IN ('', 'score', 'revoke')
                THEN 'action must be empty (set the score) or revoke'
            WHEN is_revoke THEN NULL
            WHEN value_text IS NULL OR value_text = ''
                THEN 'integer_value is missing'
            WHEN number IS NULL OR NOT isfinite(number) OR number <> trunc(number)
                THEN 'integer_value is not an integer'
            WHEN number < -2147483648 OR number > 2147483647
                THEN 'integer_value is outside the 32-bit range -2147483648..2147483647'
            -- text must be a whole number written in digits: an optional sign, ASCII digits,
            -- optionally a point and zeros (95, -3, 95.0 as a spreadsheet may write it); not
            -- what DuckDB's cast also reads as one (1_000, 1e3, 1.5e1). trim_spaces and
            -- written_in_digits: qual_pipeline.push.inputs.WHOLE_NUMBER_MACROS, one rule for
            -- the three files
            WHEN is_text AND NOT written_in_digits(value_text)
                THEN 'integer_value is not written in digits: write the whole number as digits '
                    || '(e.g. 1000 or 1000.0; not 1_000 or 1e3)'
        END AS row_problem,
        CASE
            WHEN is_revoke THEN NULL
            WHEN number BETWEEN -2147483648 AND 2147483647 AND number = trunc(number)
                THEN CAST(number AS INTEGER)
        END AS new_value
    FROM parsed
),

wished AS NOT MATERIALIZED (
    SELECT
        *,
        -- a revocation's reason is part of it (the message the worker sees): two reasons for
        -- one worker are two different values
        CASE
            WHEN is_revoke THEN 'revoke' || coalesce(': ' || revoke_reason, '')
            ELSE CAST(new_value AS VARCHAR)
        END AS wish
    FROM checked
),

grouped AS (
    -- One pass: valid rows collapse to one per (type, worker); invalid rows to one per
    -- (type, worker, problem), keeping how many input rows they stand for and the first of them.
    -- `wish` is the desired state as one comparable value: the score, or 'revoke' with its
    -- reason.
    SELECT
        qualification_type_id,
        worker_id,
        row_problem,
        min(new_value) AS new_value,
        bool_or(is_revoke) AS is_revoke,
        min(wish) AS first_wish,
        max(wish) AS last_wish,
        arg_min_null(raw_value, coalesce(source_line, 0)) AS raw_value,
        min(revoke_reason) AS revoke_reason,
        min(source_line) AS source_line,
        arg_min_null(source_column, coalesce(source_line, 0)) AS source_column,
        count(*) AS input_rows
    FROM wished
    GROUP BY qualification_type_id, worker_id, row_problem
),

candidates AS (
    SELECT
        qualification_type_id,
        worker_id,
        CASE WHEN row_problem IS NULL AND first_wish = last_wish THEN new_value END AS new_value,
        row_problem IS NULL AND first_wish = last_wish AND is_revoke AS is_revoke,
        raw_value,
        revoke_reason,
        source_line,
        source_column,
        input_rows,
        CASE
            WHEN row_problem IS NOT NULL THEN row_problem
            WHEN first_wish <> last_wish THEN
                'the same worker appears ' || input_rows || ' times with different values ('
                || first_wish || ' and ' || last_wish || ')'
        END AS problem
    FROM grouped
    WHERE getvariable('group_rows')
    UNION ALL
    -- The same columns for a row that is its own group (one row per (type, worker)).
    SELECT
        qualification_type_id,
        worker_id,
        CASE WHEN row_problem IS NULL THEN new_value END AS new_value,
        row_problem IS NULL AND is_revoke AS is_revoke,
        raw_value,
        revoke_reason,
        source_line,
        source_column,
        CAST(1 AS BIGINT) AS input_rows,
        row_problem AS problem
    FROM wished
    WHERE NOT getvariable('group_rows')
),

type_codes AS (
    -- Every type id the plan can meet on either side, as a number: the join with
    -- worker_qualifications compares (number, worker) instead of the 30-character id, a smaller
    -- hash table that spills less within the memory limit. owned: in qualification_types.
    SELECT qualification_type_id, row_number() OVER () AS type_code, bool_or(owned) AS owned
    FROM (
        SELECT qualification_type_id, true AS owned FROM qualification_types
        UNION ALL
        SELECT DISTINCT qualification_type_id, false FROM worker_qualifications
    )
    WHERE qualification_type_id IS NOT NULL
    GROUP BY qualification_type_id
),

current AS (
    -- worker_qualifications keyed by the type's number (a row without a type matches nothing)
    SELECT k.type_code, c.worker_id, c.status, c.integer_value
    FROM worker_qualifications AS c
    JOIN type_codes AS k ON c.qualification_type_id = k.qualification_type_id
)

SELECT
    d.qualification_type_id,
    d.worker_id,
    c.status AS current_status,
    c.integer_value AS old_value,
    d.new_value,
    d.raw_value,
    CASE WHEN d.is_revoke THEN d.revoke_reason END AS revoke_reason,
    d.input_rows,
    d.source_line,
    d.source_column,
    CASE
        WHEN d.problem IS NOT NULL THEN 'rejected'
        WHEN NOT coalesce(t.owned, false) THEN 'rejected'
        WHEN d.is_revoke AND c.status IS DISTINCT FROM 'Granted' THEN 'unchanged'
        WHEN d.is_revoke AND getvariable('allow_revokes') THEN 'revoke'
        WHEN d.is_revoke THEN 'rejected'
        WHEN c.status = 'Granted' AND c.integer_value IS NOT DISTINCT FROM d.new_value
            THEN 'unchanged'
        WHEN c.status = 'Granted' THEN 'update'
        WHEN getvariable('allow_grants') THEN 'grant'
        ELSE 'rejected'
    END AS action,
    CASE
        WHEN d.problem IS NOT NULL THEN d.problem
        WHEN NOT coalesce(t.owned, false)
            THEN 'not one of your qualification types (not in qualification_types; sandbox and production ids differ)'
        WHEN d.is_revoke AND c.status IS DISTINCT FROM 'Granted' THEN NULL
        WHEN d.is_revoke AND getvariable('allow_revokes') THEN NULL
        WHEN d.is_revoke
            THEN 'revoking a qualification needs --allow-revokes (the worker can no longer work '
                || 'on HITs that require it)'
        WHEN c.status = 'Granted' THEN NULL
        WHEN getvariable('allow_grants') THEN NULL
        WHEN c.status = 'Revoked'
            THEN 'the qualification was revoked; granting it again needs --allow-grants'
        ELSE 'the worker does not hold this qualification; granting it needs --allow-grants'
    END AS reason
FROM candidates AS d
LEFT JOIN type_codes AS t
    ON d.qualification_type_id = t.qualification_type_id
LEFT JOIN current AS c
    ON t.type_code = c.type_code AND d.worker_id = c.worker_id
