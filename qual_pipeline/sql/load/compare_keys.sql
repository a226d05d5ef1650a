-- What merge_history compares when only some keys can have changed: compared_keys(
-- qualification_type_id, worker_id) lists the keys of types with a history whose observation may
-- differ from their open version (a refresh: the keys whose current rows left or arrived; a push:
-- the pushed keys), and compared_key_observations what was observed of those keys (the rows that
-- arrived, or the pushed ones). Every other key's open version already holds what was observed,
-- so only these are compared (a merge of 10,000,000 rows, 3% changed, compared them all: 15.5 s
-- of CPU).
-- The open versions of the compared keys: a table of their own, built in a statement of its own
-- (at 10,000,000 rows the three joins in one statement ran out of 256MB), behind the view
-- merge_history reads. keyed_open_versions also keeps each open version's change and source:
-- load/close_versions_by_copy writes the versions it closes again from it instead of reading them
-- back from the whole history.
CREATE OR REPLACE TEMP TABLE keyed_open_versions AS
SELECT
    h.qualification_type_id, h.worker_id, h.status, h.integer_value, h.country,
    h.subdivision, h.valid_from, h.rowid AS open_version_rowid,
    p.observed_at AS partition_observed_at,
    p.complete AS partition_complete,
    h.change AS open_version_change,
    h.source AS open_version_source
FROM worker_qualification_history AS h
JOIN observed_partitions AS p USING (qualification_type_id)
SEMI JOIN compared_keys AS k USING (qualification_type_id, worker_id)
WHERE h.valid_to IS NULL;

-- The observations of the compared keys (compared_key_observations: the rows of a refresh that
-- arrived, or a push's rows; each of those keys is in compared_keys, so no join with it) of types
-- with a history: a semi join with those types (none in a first load, when DuckDB then reads no
-- observation) rather than an anti join with the first sighted ones.
CREATE OR REPLACE TEMP VIEW compared_observations AS
SELECT * FROM compared_key_observations
SEMI JOIN (
    SELECT qualification_type_id FROM observed_partitions
    ANTI JOIN first_sighted_types USING (qualification_type_id)
) AS known USING (qualification_type_id);

CREATE OR REPLACE TEMP VIEW compared_open_versions AS SELECT * FROM keyed_open_versions;
