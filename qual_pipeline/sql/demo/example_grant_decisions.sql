-- The demo's grant decisions: accept the first $accepts pending requests with a score of 80,
-- reject the next $rejects with a reason.
SELECT
    qualification_request_id,
    CASE WHEN row_number() OVER w <= $accepts THEN 'accept' ELSE 'reject' END AS decision,
    CASE WHEN row_number() OVER w <= $accepts THEN 80 END AS integer_value,
    CASE WHEN row_number() OVER w > $accepts
        THEN 'Please complete the practice HIT first.' END AS reason
FROM qualification_requests
WINDOW w AS (ORDER BY qualification_request_id)
ORDER BY qualification_request_id
LIMIT $accepts + $rejects
