-- Drop what a load or a recorded push staged, so the connection holds no copy of the rows.
DROP VIEW IF EXISTS observed_worker_qualifications;
DROP TABLE IF EXISTS deduplicated_observations;
DROP TABLE IF EXISTS pushed_observations;
DROP VIEW IF EXISTS history_changes;
DROP TABLE IF EXISTS staged_history_changes;
DROP TABLE IF EXISTS first_sighted_types;
