-- Close the open versions staged_history_changes ends (load/merge_history), found by the row id the
-- comparison read them at (the history is not rewritten in between). A merge that compared only
-- the changed keys (load/compare_keys, at least load.HASH_MERGE_MIN_ROWS rows) closes them so; a
-- smaller merge and a push update them where they lie (load/close_versions).
-- A closed version is written again whole, a copy with its end, and the open row deleted: an
-- UPDATE of versions scattered over the whole table made DuckDB's checkpoint at the commit rewrite
-- them (a merge of 10,000,000 rows, 500,000 versions closed, three pairs on a busy machine: the
-- commit 1.2 to 1.5 s of CPU instead of 3.2 to 7.3; these statements 0.5 to 1.0 s more than the
-- UPDATE). The versions are the same; only where they lie in the table changes. At 1,000,000 rows
-- (50,000 closed) the commit cost more this way (1.1 and 2.0 s of CPU against 0.3 and 0.5, two
-- pairs; cause not attributed).
-- The copies come from keyed_open_versions (load/compare_keys: every column of the compared open
-- versions, an open version's valid_to and end_reason being null), not from the history, whose
-- every row a join by row id read (10,000,000 rows: about 1 s of CPU on a busy machine).
CREATE OR REPLACE TEMP TABLE closed_versions AS
SELECT
    v.open_version_rowid AS closed_rowid,
    v.qualification_type_id,
    v.worker_id,
    v.status,
    v.integer_value,
    v.country,
    v.subdivision,
    v.valid_from,
    c.observed_at AS valid_to,
    v.open_version_change AS change,
    CASE WHEN c.change = 'gone' THEN 'gone' ELSE 'superseded' END AS end_reason,
    v.open_version_source AS source
FROM keyed_open_versions AS v
JOIN staged_history_changes AS c ON v.open_version_rowid = c.open_version_rowid
WHERE c.closes_open_version;

DROP TABLE keyed_open_versions;

DELETE FROM worker_qualification_history
WHERE rowid IN (SELECT closed_rowid FROM closed_versions);

INSERT INTO worker_qualification_history BY NAME
SELECT * EXCLUDE (closed_rowid) FROM closed_versions;

DROP TABLE closed_versions;
