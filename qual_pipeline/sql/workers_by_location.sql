-- Granted workers per country and subdivision, per qualification type (current state).
CREATE OR REPLACE VIEW workers_by_location AS
SELECT
    qualification_type_id,
    country,
    any_value(country_name) AS country_name,
    subdivision,
    any_value(subdivision_name) AS subdivision_name,
    count(DISTINCT worker_id) AS workers
FROM worker_qualifications
WHERE status = 'Granted'
GROUP BY qualification_type_id, country, subdivision;
