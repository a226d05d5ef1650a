-- website_export: the CURRENT- cells of the website's worker CSV, one row per (worker, type) in
-- worker_qualifications, ordered by worker: the score a Granted worker holds, NULL (a blank cell,
-- as the website shows it) for a revoked qualification or one granted without a score.
SELECT
    worker_id,
    qualification_type_id,
    CASE WHEN status = 'Granted' THEN integer_value END AS current_value
FROM worker_qualifications
ORDER BY worker_id, qualification_type_id
