-- Drop what a load or a recorded push staged, so the connection holds no copy of the rows.
DROP VIEW IF EXISTS observed_worker_qualifications;
DROP TABLE IF EXISTS deduplicated_observations;
DROP TABLE IF EXISTS pushed_observations;
DROP VIEW IF EXISTS history_changes;
DROP TABLE IF EXISTS staged_history_changes;
DROP TABLE IF EXISTS first_sighted_types;
DROP TABLE IF EXISTS compared_keys;
DROP VIEW IF EXISTS compared_key_observations;
DROP TABLE IF EXISTS newer_worker_qualifications;
DROP TABLE IF EXISTS row_differences;
DROP TABLE IF EXISTS replaced_worker_qualifications;
DROP TABLE IF EXISTS arrived_worker_qualifications;
DROP VIEW IF EXISTS compared_open_versions;
DROP VIEW IF EXISTS compared_observations;
DROP TABLE IF EXISTS keyed_open_versions;
DROP TABLE IF EXISTS closed_versions;
