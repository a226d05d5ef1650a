-- Offending rows for the scores-present check: granted workers without a score in a type that
-- uses scores. A type uses scores when it is auto-granted with a value, or when more than half of
-- its granted workers hold a score.
WITH scored_share AS (
    SELECT
        qualification_type_id,
        count(integer_value) AS scored,
        count(*) AS granted
    FROM worker_qualifications
    WHERE status = 'Granted'
    GROUP BY qualification_type_id
),
types_using_scores AS (
    SELECT qualification_type_id FROM scored_share WHERE scored * 2 > granted
    UNION
    SELECT qualification_type_id
    FROM qualification_types
    WHERE auto_granted AND auto_granted_value IS NOT NULL
)
SELECT w.qualification_type_id, w.worker_id, w.status, w.grant_time
FROM worker_qualifications AS w
SEMI JOIN types_using_scores USING (qualification_type_id)
WHERE w.status = 'Granted' AND w.integer_value IS NULL
ORDER BY w.qualification_type_id, w.worker_id
