-- Changes per UTC day, type and kind, after each type's first load: the first sighting of every
-- worker is where the history starts, not a change, so it is left out. A push counts (source
-- 'push'), as does a worker granted, revoked, rescored, gone or back in a later load.
-- The same events as worker_qualification_changes (every version at its valid_from, and a 'gone'
-- at the valid_to of each version closed as gone), read from the history itself: the view's window
-- (the values before each change, which this count does not use) sorts the whole history, 290 MB
-- of memory and 5 s at 4,000,000 rows; the count alone scans it in constant memory.
WITH first_load AS (
    SELECT qualification_type_id, min(valid_from) AS loaded_at
    FROM worker_qualification_history
    GROUP BY qualification_type_id
),
events AS (
    SELECT qualification_type_id, valid_from AS changed_at, change
    FROM worker_qualification_history
    UNION ALL
    SELECT qualification_type_id, valid_to AS changed_at, 'gone' AS change
    FROM worker_qualification_history
    WHERE end_reason = 'gone'
)
SELECT
    c.qualification_type_id,
    CAST(c.changed_at AT TIME ZONE 'UTC' AS DATE) AS day,
    kind,
    count(*) AS workers
FROM events AS c
JOIN first_load AS f USING (qualification_type_id)
CROSS JOIN unnest(string_split(c.change, ',')) AS k(kind)
WHERE c.changed_at > f.loaded_at
GROUP BY ALL
ORDER BY ALL
