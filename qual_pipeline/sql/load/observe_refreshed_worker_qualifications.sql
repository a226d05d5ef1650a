-- What a refresh observed, one row per (type, worker), for the history merge: the refreshed types'
-- rows as just loaded into worker_qualifications, dated by their snapshot. A view, not a copy: the
-- rows are one per key (the load checks; see the _deduplicated variant). A kept row newer than the
-- snapshot (a verified push) is the same as its open history version, so it changes nothing.
CREATE OR REPLACE TEMP VIEW observed_worker_qualifications AS
SELECT
    w.qualification_type_id,
    w.worker_id,
    w.status,
    w.integer_value,
    w.country,
    w.subdivision,
    p.observed_at,
    'refresh' AS source
FROM worker_qualifications AS w
JOIN observed_partitions AS p USING (qualification_type_id);
