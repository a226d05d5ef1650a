-- grant_decisions: what to do with pending qualification requests. This model is yours.
-- It must return four columns:
--   qualification_request_id  a request listed in qualification_requests
--   decision                  'accept' or 'reject'
--   integer_value             the score to grant on accept (empty: 1, as MTurk's default)
--   reason                    on reject: the message MTurk shows the worker (optional)
-- Requests you leave out stay pending.
-- The shipped example reads <inputs dir>/grant_decisions.csv (see inputs/README.md).
SELECT
    qualification_request_id,
    decision,
    integer_value,
    reason
FROM read_csv(
    getvariable('inputs_dir') || '/grant_decisions.csv',
    header = true,
    all_varchar = true
)
