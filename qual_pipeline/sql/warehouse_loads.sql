-- One row per warehouse load that changed something (and the first load of a warehouse written
-- before loads were recorded). load_id names the state a push plan is built on: `plan` records
-- it, and `push` refuses a saved plan whose load is no longer the newest. The load's check
-- results are in check_results under the same load_id, written in the same transaction.
CREATE TABLE IF NOT EXISTS warehouse_loads (
    load_id VARCHAR NOT NULL,  -- the load, e.g. `20250601T120000123456Z-3f2a9c1e`
    seq BIGINT NOT NULL,  -- 1, 2, ...: the order of the loads
    loaded_at TIMESTAMPTZ NOT NULL,  -- when the load ran
    snapshots BIGINT NOT NULL,  -- lake snapshots the load read
    worker_qualification_rows BIGINT NOT NULL,  -- rows in worker_qualifications after it
    history_changes BIGINT NOT NULL,  -- history versions it opened or closed
    blocking_failures BIGINT NOT NULL,  -- blocking checks that failed
    warnings BIGINT NOT NULL,  -- warning checks that failed
    mturk_environment VARCHAR,  -- the MTurk environment the refresh read (`sandbox` or `production`); null when the load was not run by a refresh (or by an earlier version). `plan` and `push` refuse another target
    mturk_endpoint VARCHAR  -- the endpoint URL the refresh read (the environment's real service, or e.g. a local MTurk), without user info or query; null as above
);

-- Warehouses written by earlier versions gain the newer columns.
ALTER TABLE warehouse_loads ADD COLUMN IF NOT EXISTS mturk_environment VARCHAR;
ALTER TABLE warehouse_loads ADD COLUMN IF NOT EXISTS mturk_endpoint VARCHAR
