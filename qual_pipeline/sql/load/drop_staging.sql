-- Drop what a load or a recorded push staged, so the connection holds no copy of the rows.
DROP VIEW IF EXISTS observed_worker_qualifications;
DROP TABLE IF EXISTS deduplicated_observations;
DROP TABLE IF EXISTS pushed_observations;
DROP TABLE IF EXISTS history_changes;
