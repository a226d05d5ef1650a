-- Replace the qualification types with the newest qualification_types snapshot ($files: one file).
DELETE FROM qualification_types;

INSERT INTO qualification_types BY NAME
SELECT
    qualification_type_id,
    name,
    description,
    keywords,
    qualification_type_status,
    creation_time,
    is_requestable,
    auto_granted,
    auto_granted_value,
    retry_delay_in_seconds,
    test_duration_in_seconds,
    has_test,
    extracted_at
FROM read_parquet($files, hive_partitioning = false);
