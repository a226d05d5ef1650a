-- The demo summary: per qualification type its name, scale and workers.
SELECT
    w.qualification_type_id,
    any_value(t.name) AS name,
    any_value(s.scale) AS scale,
    count(*) FILTER (WHERE w.status = 'Granted') AS granted,
    count(*) FILTER (WHERE w.status = 'Revoked') AS revoked
FROM worker_qualifications AS w
LEFT JOIN qualification_types AS t USING (qualification_type_id)
LEFT JOIN score_scales AS s USING (qualification_type_id)
GROUP BY w.qualification_type_id
ORDER BY w.qualification_type_id
