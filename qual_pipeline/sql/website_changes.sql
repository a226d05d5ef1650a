-- website_changes: the requester website's worker CSV as desired changes, one row per non-blank
-- UPDATE-<type name> cell, in the columns push_plan reads (see desired_scores.sql).
-- The type name after `UPDATE-` (trimmed) is matched exactly (case and inner spaces included)
-- to qualification_types.name trimmed of the spaces around it, as the export writes the column; a cell is a score when it is a whole number written in digits (an
-- optional sign, then ASCII digits, then optionally a point and zeros: 95, -3, 95.0; surrounding
-- spaces, any Unicode whitespace, ignored; not 1_000, 1e3 or 1,000) and a revocation when it says
-- Revoke in any case. trim_spaces and written_in_digits are the macros of
-- qual_pipeline.push.inputs.WHOLE_NUMBER_MACROS, the rule of push_plan.sql and grant_plan.sql.
-- Anything else (a value outside the 32-bit range included), or a column whose name matches no
-- type of yours or more than one, becomes a row with input_problem set, naming the column: push_plan
-- rejects it. A cell of a row with more cells than the header keeps the row's input_problem
-- (qual_pipeline.push.inputs.row_width_problem, the rule of desired_scores.csv). integer_value is
-- the cell as written, a revocation's too (push_plan shows it as raw_value).
-- Input: TEMP table website_cells (worker_id, column_name, type_name, raw_value, source_line,
-- input_problem), written by qual_pipeline.push.inputs.load_website_csv.
WITH named AS (
    SELECT
        trim_spaces(name) AS name,
        min(qualification_type_id) AS qualification_type_id,
        count(*) AS types
    FROM qualification_types
    GROUP BY trim_spaces(name)
),

cells AS (
    SELECT
        c.*,
        trim_spaces(c.raw_value) AS value_text,
        lower(trim_spaces(c.raw_value)) = 'revoke' AS is_revoke,
        TRY_CAST(trim_spaces(c.raw_value) AS DOUBLE) AS number,
        n.qualification_type_id,
        coalesce(n.types, 0) AS types
    FROM website_cells AS c
    LEFT JOIN named AS n ON c.type_name = n.name
)

SELECT
    CASE WHEN types = 1 THEN qualification_type_id END AS qualification_type_id,
    worker_id,
    -- a revocation's cell too: the plan shows every row's value as written
    raw_value AS integer_value,
    CASE WHEN is_revoke THEN 'revoke' END AS action,
    CAST(NULL AS VARCHAR) AS reason,
    source_line,
    column_name AS source_column,
    coalesce(input_problem, 'column "' || column_name || '": ' || CASE
        WHEN types = 0 THEN
            'none of your qualification types is named "' || type_name
            || '" (names are matched as MTurk shows them, case included, the spaces around '
            || 'them aside; refresh if the type is new)'
        WHEN types > 1 THEN
            types || ' of your qualification types are named "' || type_name
            || '": the website layout cannot tell them apart; use desired_scores.csv with type ids'
        WHEN is_revoke THEN NULL
        WHEN number IS NULL OR NOT isfinite(number) OR number <> trunc(number)
            THEN 'the value is neither a whole number nor Revoke'
        WHEN number < -2147483648 OR number > 2147483647
            THEN 'the value is outside the 32-bit range -2147483648..2147483647'
        WHEN NOT written_in_digits(value_text)
            THEN 'the value is not written in digits: write the whole number as digits (e.g. '
                || '1000 or 1000.0; not 1_000 or 1e3)'
    END) AS input_problem
FROM cells
