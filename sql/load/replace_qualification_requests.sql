-- Replace the pending requests of every refreshed type with its new snapshot.
-- new_snapshots(path, qualification_type_id, observed_at) lists the files; $files is the same list.
DELETE FROM qualification_requests
WHERE qualification_type_id IN (SELECT qualification_type_id FROM new_snapshots);

INSERT INTO qualification_requests BY NAME
SELECT
    r.qualification_request_id,
    r.qualification_type_id,
    r.worker_id,
    r.test,
    r.answer,
    r.submit_time,
    r.extracted_at
FROM read_parquet($files, filename = true, hive_partitioning = false) AS r
JOIN new_snapshots AS s ON s.path = r.filename;
