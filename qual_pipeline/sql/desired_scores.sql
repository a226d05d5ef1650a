-- desired_scores: the scores you want MTurk to hold. This model is yours: replace the query with
-- anything DuckDB can run (a join over your review results, gold-standard accuracy, ...).
-- It must return three columns:
--   qualification_type_id  the type id (must be one of your types, i.e. in qualification_types)
--   worker_id              the worker id (A + upper-case letters and digits)
--   integer_value          the score (a 32-bit integer; text or decimals are checked, not trusted)
-- Workers you leave out are left alone: the push never revokes.
-- The shipped example reads <inputs dir>/desired_scores.csv (see inputs/README.md);
-- getvariable('inputs_dir') is set by the planner (--inputs-dir, default ./inputs).
SELECT
    qualification_type_id,
    worker_id,
    integer_value
FROM read_csv(
    getvariable('inputs_dir') || '/desired_scores.csv',
    header = true,
    all_varchar = true
)
