-- Offending types for the extraction check: a mirrored type (listed in qualification_types) with
-- no worker_qualifications snapshot loaded, or whose newest loaded snapshot carries extraction
-- figures that do not add up (Granted plus Revoked rows differ from the rows in the file).
WITH newest AS (
    SELECT DISTINCT ON (qualification_type_id)
        qualification_type_id,
        snapshot,
        row_count,
        granted,
        revoked
    FROM extract_runs
    WHERE lake_table = 'worker_qualifications'
    ORDER BY qualification_type_id, extracted_at DESC, snapshot DESC
)

SELECT
    t.qualification_type_id,
    CAST(NULL AS VARCHAR) AS snapshot,
    'no worker_qualifications snapshot of this type was loaded: its extraction has not finished'
        AS problem
FROM qualification_types AS t
ANTI JOIN newest AS n USING (qualification_type_id)
UNION ALL
SELECT
    qualification_type_id,
    snapshot,
    'the snapshot footer counts ' || (granted + revoked) || ' rows by status, the file holds '
    || row_count AS problem
FROM newest
WHERE granted + revoked <> row_count
ORDER BY qualification_type_id
