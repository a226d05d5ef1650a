-- website_export_types: the qualification types `qual-pipeline export --website-csv` writes, one
-- pair of CURRENT-/UPDATE- columns each: the types in qualification_types whose workers were
-- extracted at least once (a type listed but never extracted would show every worker blank).
SELECT
    t.qualification_type_id,
    t.name
FROM qualification_types AS t
WHERE t.name IS NOT NULL
    AND t.qualification_type_id IN (
        SELECT qualification_type_id
        FROM extract_runs
        WHERE lake_table = 'worker_qualifications'
    )
ORDER BY t.name, t.qualification_type_id
