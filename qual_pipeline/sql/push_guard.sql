-- push_guard: per qualification type, how many workers a plan changes, how many of those changes
-- set a held score to another value, how many revoke the type, and how many workers hold it.
-- Input: the view guarded_plan (qualification_type_id, is_change, is_score_change, is_revoke) over
-- push_plan or grant_plan.
WITH changed AS (
    SELECT
        qualification_type_id,
        count(*) AS changes,
        count(*) FILTER (WHERE is_score_change) AS score_changes,
        count(*) FILTER (WHERE is_revoke) AS revokes
    FROM guarded_plan
    WHERE is_change
    GROUP BY qualification_type_id
),

holders AS (
    SELECT qualification_type_id, count(*) AS workers
    FROM worker_qualifications
    WHERE status = 'Granted'
      AND qualification_type_id IN (SELECT qualification_type_id FROM changed)
    GROUP BY qualification_type_id
)

SELECT
    c.qualification_type_id,
    c.changes,
    coalesce(h.workers, 0) AS workers,
    c.score_changes,
    c.revokes
FROM changed AS c
LEFT JOIN holders AS h ON c.qualification_type_id = h.qualification_type_id
ORDER BY c.qualification_type_id
