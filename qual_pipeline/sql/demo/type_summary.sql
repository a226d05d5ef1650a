-- The demo summary: workers and average score per qualification type.
SELECT
    w.qualification_type_id,
    any_value(t.name) AS name,
    count(*) FILTER (WHERE w.status = 'Granted') AS granted,
    count(*) FILTER (WHERE w.status = 'Revoked') AS revoked,
    round(avg(w.integer_value) FILTER (WHERE w.status = 'Granted'), 1) AS avg_score
FROM worker_qualifications AS w
LEFT JOIN qualification_types AS t USING (qualification_type_id)
GROUP BY w.qualification_type_id
ORDER BY w.qualification_type_id
