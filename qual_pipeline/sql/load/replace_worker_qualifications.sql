-- Replace the current state of refreshed types that already hold rows with their new snapshots,
-- read straight from the lake ($files; observed_partitions(qualification_type_id, observed_at,
-- complete) lists the refreshed types). Only the rows that differ are written: a row of the
-- snapshot identical to a current one (every column, extracted_at compared as the snapshot's
-- time) keeps its place and only takes the snapshot's extracted_at. The rows are compared by a
-- 64-bit hash of all their columns.
-- A row observed after the snapshot was taken (a verified push) is newer than the snapshot: it
-- stays, and the snapshot's row of that key is skipped.
-- Leaves compared_keys(qualification_type_id, worker_id): the keys whose rows left or arrived,
-- the only ones whose observation can differ from their open history version (merge_history).
-- (The previous merge deleted and inserted every row: 8.8 s of CPU at 10,000,000 rows.)

CREATE OR REPLACE TEMP TABLE newer_worker_qualifications AS
SELECT w.qualification_type_id, w.worker_id
FROM worker_qualifications AS w
JOIN observed_partitions AS p USING (qualification_type_id)
WHERE w.extracted_at > p.observed_at;

-- One pass over the snapshot's row hashes and the current rows' (extracted_at taken as the
-- snapshot's): a current row whose hash the snapshot lacks leaves, a snapshot row whose hash no
-- current row has arrives. Exact while every key is held once: when the rows then held for these
-- types are not as many as the snapshot's, or a key is held twice, the load rewrites the types
-- instead (rewrite_worker_qualifications). (A count of each hash on both sides cost 2.3x the CPU.)
CREATE OR REPLACE TEMP TABLE row_differences AS
SELECT n.row_hash AS arrived_hash, o.row_id AS left_row_id
FROM (
    SELECT hash(
        r.qualification_type_id, r.worker_id, r.status, r.integer_value, r.country,
        r.subdivision, r.country_name, r.subdivision_name, r.grant_time, r.extracted_at
    ) AS row_hash
    FROM read_parquet($files, hive_partitioning = false) AS r
    ANTI JOIN newer_worker_qualifications USING (qualification_type_id, worker_id)
) AS n
FULL OUTER JOIN (
    SELECT
        hash(
            w.qualification_type_id, w.worker_id, w.status, w.integer_value, w.country,
            w.subdivision, w.country_name, w.subdivision_name, w.grant_time, p.observed_at
        ) AS row_hash,
        w.rowid AS row_id
    FROM worker_qualifications AS w
    JOIN observed_partitions AS p USING (qualification_type_id)
    WHERE w.extracted_at <= p.observed_at
) AS o ON n.row_hash = o.row_hash
WHERE n.row_hash IS NULL OR o.row_hash IS NULL;

CREATE OR REPLACE TEMP TABLE replaced_worker_qualifications AS
SELECT w.rowid AS row_id, w.qualification_type_id, w.worker_id
FROM worker_qualifications AS w
WHERE w.rowid IN (SELECT left_row_id FROM row_differences WHERE left_row_id IS NOT NULL);

CREATE OR REPLACE TEMP TABLE arrived_worker_qualifications AS
SELECT
    r.qualification_type_id,
    r.worker_id,
    r.status,
    r.integer_value,
    r.country,
    r.subdivision,
    r.country_name,
    r.subdivision_name,
    r.grant_time,
    r.extracted_at
FROM read_parquet($files, hive_partitioning = false) AS r
ANTI JOIN newer_worker_qualifications USING (qualification_type_id, worker_id)
WHERE hash(
    r.qualification_type_id, r.worker_id, r.status, r.integer_value, r.country,
    r.subdivision, r.country_name, r.subdivision_name, r.grant_time, r.extracted_at
) IN (SELECT arrived_hash FROM row_differences WHERE arrived_hash IS NOT NULL);

DELETE FROM worker_qualifications
WHERE rowid IN (SELECT row_id FROM replaced_worker_qualifications);

-- The rows that stayed were observed again: they take the snapshot's time.
UPDATE worker_qualifications AS w
SET extracted_at = p.observed_at
FROM observed_partitions AS p
WHERE w.qualification_type_id = p.qualification_type_id AND w.extracted_at < p.observed_at;

INSERT INTO worker_qualifications BY NAME
SELECT * FROM arrived_worker_qualifications;

CREATE OR REPLACE TEMP TABLE compared_keys AS
SELECT qualification_type_id, worker_id FROM replaced_worker_qualifications
UNION
SELECT qualification_type_id, worker_id FROM arrived_worker_qualifications;

-- What was observed of the compared keys, for load/compare_keys: the rows that arrived, dated by
-- their snapshot. With every key held once (else the load rewrites the types and compares every
-- key, load/compare_types) a compared key's current row, if it has one, is the one that arrived:
-- a key whose row left and none arrived is gone, and a row kept as newer (a verified push)
-- neither left nor arrived. So the comparison reads these few rows instead of picking the same
-- ones out of the 10,000,000 current rows of the refreshed types (observed_worker_qualifications)
-- by a join with compared_keys. arrived_worker_qualifications stays for it (load/drop_staging).
CREATE OR REPLACE TEMP VIEW compared_key_observations AS
SELECT
    a.qualification_type_id,
    a.worker_id,
    a.status,
    a.integer_value,
    a.country,
    a.subdivision,
    p.observed_at,
    'refresh' AS source
FROM arrived_worker_qualifications AS a
JOIN observed_partitions AS p USING (qualification_type_id);

DROP TABLE row_differences;
DROP TABLE replaced_worker_qualifications;
