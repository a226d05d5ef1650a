-- Offending types for the row-count check: the newest loaded snapshot holds fewer than
-- (1 - $max_drop_share) times the rows of the one before it.
WITH ranked AS (
    SELECT
        qualification_type_id,
        snapshot,
        row_count,
        row_number() OVER (
            PARTITION BY qualification_type_id ORDER BY extracted_at DESC, snapshot DESC
        ) AS recency
    FROM extract_runs
    WHERE lake_table = 'worker_qualifications'
)
SELECT
    latest.qualification_type_id,
    previous.snapshot AS previous_snapshot,
    previous.row_count AS previous_rows,
    latest.snapshot,
    latest.row_count AS rows,
    round(1 - latest.row_count / previous.row_count, 4) AS drop_share
FROM ranked AS latest
JOIN ranked AS previous
    ON previous.qualification_type_id = latest.qualification_type_id
    AND latest.recency = 1
    AND previous.recency = 2
WHERE previous.row_count > 0 AND latest.row_count < previous.row_count * (1 - $max_drop_share)
ORDER BY drop_share DESC, latest.qualification_type_id
