-- The data-quality checks of every warehouse load, written in the load's transaction.
-- Per load and check: one row for the whole warehouse (qualification_type_id null) and one row
-- per qualification type with offending rows. `plan` and `push` refuse a plan whose load failed a
-- blocking check for a type the plan changes (unless the check is ignored with --ignore-check).
CREATE TABLE IF NOT EXISTS check_results (
    load_id VARCHAR NOT NULL,  -- the load (warehouse_loads.load_id)
    check_name VARCHAR NOT NULL,  -- the check, e.g. `unique_worker_qualifications`
    qualification_type_id VARCHAR,  -- the type; null on the row for the whole warehouse
    blocking BOOLEAN NOT NULL,  -- true: a failure blocks plans and pushes of the type
    passed BOOLEAN NOT NULL,  -- whether the check passed
    offending BIGINT NOT NULL,  -- offending rows (or types) found
    description VARCHAR NOT NULL,  -- what was found, in a sentence
    details VARCHAR,  -- JSON with up to 10 examples and the parameters, on the whole-warehouse row
    checked_at TIMESTAMPTZ NOT NULL  -- when the check ran
);
