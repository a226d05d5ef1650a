-- Offending types for the extraction check, one row each:
-- * no qualification_types snapshot was ever loaded although types' tables were (the types'
--   listing failed to extract): one row without a type, since the warehouse cannot tell which
--   mirrored types are missing;
-- * a type known to the warehouse (listed in qualification_types, or with a qualification_requests
--   snapshot loaded) with no worker_qualifications snapshot loaded;
-- * a type whose newest loaded snapshot carries extraction figures that do not add up (Granted plus
--   Revoked rows differ from the rows in the file).
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
),

known_types AS (
    SELECT qualification_type_id FROM qualification_types
    UNION
    SELECT qualification_type_id
    FROM extract_runs
    WHERE lake_table = 'qualification_requests'
)

SELECT
    CAST(NULL AS VARCHAR) AS qualification_type_id,
    CAST(NULL AS VARCHAR) AS snapshot,
    'no qualification_types snapshot was loaded (the types'' listing failed to extract): the '
    || 'warehouse cannot tell which qualification types are missing' AS problem
WHERE NOT EXISTS (SELECT 1 FROM extract_runs WHERE lake_table = 'qualification_types')
    AND EXISTS (SELECT 1 FROM extract_runs WHERE lake_table <> 'qualification_types')
UNION ALL
SELECT
    k.qualification_type_id,
    CAST(NULL AS VARCHAR) AS snapshot,
    'no worker_qualifications snapshot of this type was loaded: its extraction has not finished'
        AS problem
FROM known_types AS k
ANTI JOIN newest AS n USING (qualification_type_id)
UNION ALL
SELECT
    qualification_type_id,
    snapshot,
    'the snapshot footer counts ' || (granted + revoked) || ' rows by status, the file holds '
    || row_count AS problem
FROM newest
WHERE granted + revoked <> row_count
ORDER BY qualification_type_id NULLS FIRST
