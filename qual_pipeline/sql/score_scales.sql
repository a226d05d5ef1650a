-- The scale of each qualification type's scores, inferred from the scores its workers hold now:
-- 'binary' (only 0 and 1), 'percent' (all within 0-100), else 'points'. A type whose workers hold
-- no score has no row. Charts draw each scale on its own axis; the demo keeps its examples on it.
CREATE OR REPLACE VIEW score_scales AS
SELECT
    qualification_type_id,
    CASE
        WHEN min(integer_value) >= 0 AND max(integer_value) <= 1 THEN 'binary'
        WHEN min(integer_value) >= 0 AND max(integer_value) <= 100 THEN 'percent'
        ELSE 'points'
    END AS scale,
    min(integer_value) AS min_score,
    max(integer_value) AS max_score,
    CAST(median(integer_value) AS INTEGER) AS median_score,
    count(*) AS scored_workers
FROM worker_qualifications
WHERE integer_value IS NOT NULL
GROUP BY qualification_type_id;
