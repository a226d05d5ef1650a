-- The demo's desired scores: +5 for some granted workers of the first type that is not binary,
-- kept on the type's scale (score_scales): a percent score stays at most 100, so only workers
-- below 100 change. A binary type (0 or 1) gets no such change. At most 5% of the type's
-- granted workers change, well within the push guard's default share (10%).
-- A real user writes inputs/desired_scores.csv or sql/desired_scores.sql instead.
SELECT
    w.qualification_type_id,
    w.worker_id,
    CASE
        WHEN s.scale = 'percent' THEN least(w.integer_value + 5, 100)
        ELSE w.integer_value + 5
    END AS integer_value
FROM worker_qualifications AS w
JOIN score_scales AS s USING (qualification_type_id)
WHERE w.status = 'Granted'
  AND w.integer_value IS NOT NULL
  AND (s.scale = 'points' OR w.integer_value < 100)
  AND w.qualification_type_id = (
      SELECT min(qualification_type_id) FROM score_scales WHERE scale <> 'binary'
  )
QUALIFY row_number() OVER (ORDER BY w.worker_id)
    <= least($changes, CAST(floor(count(*) OVER () * 0.05) AS BIGINT))
ORDER BY w.worker_id
