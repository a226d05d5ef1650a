-- A slowly changing dimension (type 2): one row per version of a (qualification type, worker).
-- Only score, status and locale make a new version; a changed grant_time alone does not. If a
-- snapshot holds a key twice, the history keeps one version per key (the latest grant_time).
-- Nothing is ever deleted: a worker who disappears from MTurk gets its last version closed.
CREATE TABLE IF NOT EXISTS worker_qualification_history (
    qualification_type_id VARCHAR NOT NULL USING COMPRESSION dictionary,  -- the qualification type (with worker_id, the key)
    worker_id VARCHAR NOT NULL USING COMPRESSION fsst,  -- the worker (with qualification_type_id, the key)
    status VARCHAR NOT NULL USING COMPRESSION dictionary,  -- `Granted` or `Revoked` in this version
    integer_value INTEGER,  -- the score in this version (null when none)
    country VARCHAR USING COMPRESSION dictionary,  -- the country in this version (as in worker_qualifications)
    subdivision VARCHAR USING COMPRESSION dictionary,  -- the subdivision in this version (as in worker_qualifications)
    valid_from TIMESTAMPTZ NOT NULL,  -- when this version was first observed
    valid_to TIMESTAMPTZ,  -- when it stopped being true; null for the current version
    change VARCHAR NOT NULL USING COMPRESSION dictionary,  -- why this version began: `new` (first sighting), `returned`
    -- (seen again after being gone), or the fields that changed, comma-separated in this
    -- order: `score`, `status`, `locale` (e.g. `score,status`)
    end_reason VARCHAR USING COMPRESSION dictionary,  -- null while current; `superseded` (a newer version follows) or
    -- `gone` (the worker disappeared from MTurk: the version is closed, never deleted)
    source VARCHAR NOT NULL USING COMPRESSION dictionary  -- where the version was observed: `refresh` (a lake snapshot) or
    -- `push` (a verified push recorded by the push path)
);
