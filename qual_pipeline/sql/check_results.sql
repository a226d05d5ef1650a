-- The data-quality checks of every warehouse load, written in the load's transaction.
-- Per load and check: one row for the whole warehouse (qualification_type_id null) and one row
-- per qualification type with offending rows. `plan` and `push` refuse a plan whose load failed a
-- blocking check for a type the plan changes (unless the check is ignored with --ignore-check).
CREATE TABLE IF NOT EXISTS check_results (
    load_id VARCHAR NOT NULL,  -- warehouse_loads.load_id
    check_name VARCHAR NOT NULL,
    qualification_type_id VARCHAR,  -- null: the check over the whole warehouse
    blocking BOOLEAN NOT NULL,  -- true: a failure blocks pushes of the type
    passed BOOLEAN NOT NULL,
    offending BIGINT NOT NULL,  -- offending rows (or types) found
    description VARCHAR NOT NULL,
    details VARCHAR,  -- JSON on the whole-warehouse row: up to 10 examples and the parameters
    checked_at TIMESTAMPTZ NOT NULL
);
