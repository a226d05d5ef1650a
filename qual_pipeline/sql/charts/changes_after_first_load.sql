-- Changes per UTC day, type and kind, after each type's first load: the first sighting of every
-- worker is where the history starts, not a change, so it is left out. A push counts (source
-- 'push'), as does a worker granted, revoked, rescored, gone or back in a later load.
WITH first_load AS (
    SELECT qualification_type_id, min(valid_from) AS loaded_at
    FROM worker_qualification_history
    GROUP BY qualification_type_id
)
SELECT
    c.qualification_type_id,
    CAST(c.changed_at AT TIME ZONE 'UTC' AS DATE) AS day,
    kind,
    count(*) AS workers
FROM worker_qualification_changes AS c
JOIN first_load AS f USING (qualification_type_id)
CROSS JOIN unnest(string_split(c.change, ',')) AS k(kind)
WHERE c.changed_at > f.loaded_at
GROUP BY ALL
ORDER BY ALL
