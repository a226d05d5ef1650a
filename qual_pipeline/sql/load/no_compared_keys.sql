-- No key of a type with current rows was refreshed: merge_history compares none (the refreshed
-- types are all first sighted, their observations go in whole).
CREATE OR REPLACE TEMP TABLE compared_keys (qualification_type_id VARCHAR, worker_id VARCHAR);

CREATE OR REPLACE TEMP VIEW compared_key_observations AS
SELECT
    NULL::VARCHAR AS qualification_type_id,
    NULL::VARCHAR AS worker_id,
    NULL::VARCHAR AS status,
    NULL::INTEGER AS integer_value,
    NULL::VARCHAR AS country,
    NULL::VARCHAR AS subdivision,
    NULL::TIMESTAMPTZ AS observed_at,
    NULL::VARCHAR AS source
WHERE false;
