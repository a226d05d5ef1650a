-- Offending rows for the uniqueness check: (type, worker) keys held more than once.
SELECT qualification_type_id, worker_id, count(*) AS copies
FROM worker_qualifications
GROUP BY qualification_type_id, worker_id
HAVING count(*) > 1
ORDER BY copies DESC, qualification_type_id, worker_id
