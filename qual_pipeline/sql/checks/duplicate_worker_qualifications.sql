-- Offending rows for the uniqueness check: (type, worker) keys held more than once.
-- Keys are first grouped by their 64-bit hash (cheap, and small enough not to spill at 10,000,000
-- rows, where grouping the two strings spilled and took 19 s under 512MB); only the keys of a hash
-- seen twice, all of the duplicates and the odd collision, are then grouped by their strings.
-- One slice of the keys at a time: those whose hash modulo $slices is $slice (the caller runs
-- every slice), so the hash table holds a share of the keys. The casts keep the filter on 64-bit
-- integers (untyped, it made the query ten times slower).
WITH repeated_hashes AS (
    SELECT hash(qualification_type_id, worker_id) AS key_hash
    FROM worker_qualifications
    WHERE hash(qualification_type_id, worker_id) % $slices::UBIGINT = $slice::UBIGINT
    GROUP BY key_hash
    HAVING count(*) > 1
)
SELECT qualification_type_id, worker_id, count(*) AS copies
FROM worker_qualifications
WHERE hash(qualification_type_id, worker_id) IN (SELECT key_hash FROM repeated_hashes)
GROUP BY qualification_type_id, worker_id
HAVING count(*) > 1
ORDER BY copies DESC, qualification_type_id, worker_id
