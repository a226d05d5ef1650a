-- Open the versions staged_history_changes begins (load/merge_history; after load/close_versions
-- or load/close_versions_by_copy), and insert the first versions of first sighted types straight
-- from their observations; history_changes (a view, read for the counts) lists every version
-- opened or closed.
INSERT INTO worker_qualification_history BY NAME
SELECT
    qualification_type_id, worker_id, status, integer_value, country, subdivision,
    observed_at AS valid_from, NULL AS valid_to, change, NULL AS end_reason, source
FROM staged_history_changes
WHERE change <> 'gone';

INSERT INTO worker_qualification_history BY NAME
SELECT
    qualification_type_id, worker_id, status, integer_value, country, subdivision,
    observed_at AS valid_from, NULL AS valid_to, 'new' AS change, NULL AS end_reason, source
FROM observed_worker_qualifications
SEMI JOIN first_sighted_types USING (qualification_type_id);

CREATE OR REPLACE TEMP VIEW history_changes AS
SELECT * FROM staged_history_changes
UNION ALL
SELECT
    qualification_type_id, worker_id, status, integer_value, country, subdivision, observed_at,
    source, false AS closes_open_version, NULL::BIGINT AS open_version_rowid, 'new' AS change
FROM observed_worker_qualifications
SEMI JOIN first_sighted_types USING (qualification_type_id);
