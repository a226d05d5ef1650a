-- Offending rows for the grant-time check: granted later than $latest_allowed (now plus skew).
SELECT qualification_type_id, worker_id, grant_time
FROM worker_qualifications
WHERE grant_time > $latest_allowed
ORDER BY grant_time DESC, qualification_type_id, worker_id
