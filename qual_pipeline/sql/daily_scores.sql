-- Scores over time: for each qualification type and UTC day, the granted workers and their mean
-- score as they stood at the end of that day (today: as they stand now), from the history.
-- Built from the days versions begin and end, so it costs one pass over the history, not one per day.
CREATE OR REPLACE VIEW daily_scores AS
WITH granted_versions AS (
    SELECT
        qualification_type_id,
        CAST(valid_from AT TIME ZONE 'UTC' AS DATE) AS first_day,
        CAST(valid_to AT TIME ZONE 'UTC' AS DATE) AS end_day,  -- not valid at the end of end_day
        integer_value
    FROM worker_qualification_history
    WHERE status = 'Granted'
),
deltas AS (
    SELECT
        qualification_type_id,
        day,
        sum(workers) AS workers,
        sum(scored) AS scored,
        sum(score_total) AS score_total
    FROM (
        SELECT
            qualification_type_id,
            first_day AS day,
            1 AS workers,
            CAST(integer_value IS NOT NULL AS INTEGER) AS scored,
            CAST(coalesce(integer_value, 0) AS BIGINT) AS score_total
        FROM granted_versions
        UNION ALL
        SELECT
            qualification_type_id,
            end_day,
            -1,
            -CAST(integer_value IS NOT NULL AS INTEGER),
            -CAST(coalesce(integer_value, 0) AS BIGINT)
        FROM granted_versions
        WHERE end_day IS NOT NULL
    )
    GROUP BY qualification_type_id, day
),
days AS (
    SELECT
        qualification_type_id,
        CAST(unnest(generate_series(
            CAST(min(day) AS TIMESTAMP),
            CAST(greatest(max(day), CAST(now() AT TIME ZONE 'UTC' AS DATE)) AS TIMESTAMP),
            INTERVAL 1 DAY
        )) AS DATE) AS day
    FROM deltas
    GROUP BY qualification_type_id
),
running AS (
    SELECT
        d.qualification_type_id,
        d.day,
        sum(coalesce(c.workers, 0)) OVER up_to_day AS granted_workers,
        sum(coalesce(c.scored, 0)) OVER up_to_day AS scored_workers,
        sum(coalesce(c.score_total, 0)) OVER up_to_day AS score_total
    FROM days AS d
    LEFT JOIN deltas AS c USING (qualification_type_id, day)
    WINDOW up_to_day AS (PARTITION BY d.qualification_type_id ORDER BY d.day)
)
SELECT
    qualification_type_id,
    day,
    CAST(granted_workers AS BIGINT) AS granted_workers,
    CAST(scored_workers AS BIGINT) AS scored_workers,
    score_total / nullif(scored_workers, 0) AS mean_score
FROM running;
