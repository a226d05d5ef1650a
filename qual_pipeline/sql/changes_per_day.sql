-- How many workers changed per UTC day, per qualification type and kind of change.
-- A version that changed both score and status counts once under 'score' and once under 'status'.
CREATE OR REPLACE VIEW changes_per_day AS
SELECT
    CAST(changed_at AT TIME ZONE 'UTC' AS DATE) AS day,
    qualification_type_id,
    kind,
    count(*) AS workers
FROM (
    SELECT changed_at, qualification_type_id, unnest(string_split(change, ',')) AS kind
    FROM worker_qualification_changes
)
GROUP BY ALL;
