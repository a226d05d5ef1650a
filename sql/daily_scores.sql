-- Scores over time: for each qualification type and UTC day, the granted workers and their scores
-- as they stood at the end of that day (today: as they stand now), reconstructed from history.
CREATE OR REPLACE VIEW daily_scores AS
WITH days AS (
    SELECT CAST(unnest(generate_series(
        CAST(min(valid_from AT TIME ZONE 'UTC') AS DATE),
        CAST(now() AT TIME ZONE 'UTC' AS DATE),
        INTERVAL 1 DAY
    )) AS DATE) AS day
    FROM worker_qualification_history
),
day_ends AS (
    SELECT day, CAST(day + INTERVAL 1 DAY AS TIMESTAMP) AT TIME ZONE 'UTC' AS day_end FROM days
)
SELECT
    h.qualification_type_id,
    d.day,
    count(*) AS granted_workers,
    count(h.integer_value) AS scored_workers,
    avg(h.integer_value) AS mean_score,
    median(h.integer_value) AS median_score,
    min(h.integer_value) AS min_score,
    max(h.integer_value) AS max_score
FROM day_ends AS d
JOIN worker_qualification_history AS h
    ON h.valid_from < d.day_end AND coalesce(h.valid_to, 'infinity'::TIMESTAMPTZ) >= d.day_end
WHERE h.status = 'Granted'
GROUP BY h.qualification_type_id, d.day;
