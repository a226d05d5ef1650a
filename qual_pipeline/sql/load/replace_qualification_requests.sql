-- Replace the pending requests of every refreshed type with its new snapshot, read straight from
-- the lake ($files; observed_partitions(qualification_type_id, ...) lists the types).
DELETE FROM qualification_requests
WHERE qualification_type_id IN (SELECT qualification_type_id FROM observed_partitions);

INSERT INTO qualification_requests BY NAME
SELECT
    qualification_request_id,
    qualification_type_id,
    worker_id,
    test,
    answer,
    submit_time,
    extracted_at
FROM read_parquet($files, hive_partitioning = false);
