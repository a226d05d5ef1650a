-- No key of a type with current rows was refreshed: merge_history compares none (the refreshed
-- types are all first sighted, their observations go in whole).
CREATE OR REPLACE TEMP TABLE compared_keys (qualification_type_id VARCHAR, worker_id VARCHAR);
