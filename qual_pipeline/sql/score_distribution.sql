-- How many granted workers hold each score, per qualification type (current state).
CREATE OR REPLACE VIEW score_distribution AS
SELECT
    w.qualification_type_id,
    any_value(t.name) AS qualification_type_name,
    w.integer_value,
    count(*) AS workers,
    count(*) / sum(count(*)) OVER (PARTITION BY w.qualification_type_id) AS share
FROM worker_qualifications AS w
LEFT JOIN qualification_types AS t USING (qualification_type_id)
WHERE w.status = 'Granted'
GROUP BY w.qualification_type_id, w.integer_value;
