-- The demo's desired scores: +5 for some granted workers of the first type (capped below 100).
-- A real user writes inputs/desired_scores.csv or sql/desired_scores.sql instead.
SELECT qualification_type_id, worker_id, integer_value + 5 AS integer_value
FROM worker_qualifications
WHERE status = 'Granted'
  AND integer_value < 95
  AND qualification_type_id = (SELECT min(qualification_type_id) FROM worker_qualifications)
ORDER BY worker_id
LIMIT $changes
