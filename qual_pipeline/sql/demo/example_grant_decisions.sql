-- The demo's grant decisions: accept the first $accepts pending requests with a score on the
-- type's scale (score_scales: 1 on a binary type, 80 on a percent type, the type's median on a
-- points type, 1 where nobody holds a score), reject the next $rejects with a reason.
SELECT
    r.qualification_request_id,
    CASE WHEN row_number() OVER w <= $accepts THEN 'accept' ELSE 'reject' END AS decision,
    CASE
        WHEN row_number() OVER w <= $accepts THEN
            CASE s.scale
                WHEN 'binary' THEN 1
                WHEN 'percent' THEN 80
                WHEN 'points' THEN s.median_score
                ELSE 1
            END
    END AS integer_value,
    CASE WHEN row_number() OVER w > $accepts
        THEN 'Please complete the practice HIT first.' END AS reason
FROM qualification_requests AS r
LEFT JOIN score_scales AS s USING (qualification_type_id)
WINDOW w AS (ORDER BY r.qualification_request_id)
ORDER BY r.qualification_request_id
LIMIT $accepts + $rejects
