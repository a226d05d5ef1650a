-- How many of each type's current workers (granted or since revoked) MTurk granted it per UTC
-- month: what a first load can already show over time.
SELECT
    qualification_type_id,
    CAST(date_trunc('month', grant_time AT TIME ZONE 'UTC') AS DATE) AS month,
    count(*) AS workers
FROM worker_qualifications
WHERE grant_time IS NOT NULL
GROUP BY ALL
ORDER BY ALL
