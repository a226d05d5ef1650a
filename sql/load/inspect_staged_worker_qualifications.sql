-- What the load must know about the staged rows before merging them: rows filed in the wrong
-- partition (a corrupt lake, refused) and keys held more than once (a broken extraction, flagged).
SELECT
    count(*) FILTER (qualification_type_id <> partition_type_id) AS misplaced_rows,
    any_value(partition_type_id) FILTER (
        qualification_type_id <> partition_type_id
    ) AS misplaced_partition,
    count(*) - count(DISTINCT (qualification_type_id, worker_id)) AS duplicate_rows
FROM staged_worker_qualifications;
