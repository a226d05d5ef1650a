-- Offending rows for the locale check: a country that is not ISO 3166-1 alpha-2, or a subdivision
-- that is not an ISO 3166-2 code of the row's country. iso_3166_countries(country) and
-- iso_3166_subdivisions(subdivision, country) are registered from pycountry by the caller.
-- The distinct (country, subdivision) pairs are checked, then the rows of the offending pairs
-- read: two joins per row with the ISO tables cost a merge load of 10,000,000 rows about 1 s of
-- CPU; grouping the pairs, about a third (no offending pair: the rows are not read again).
WITH locales AS (
    SELECT country, subdivision FROM worker_qualifications GROUP BY ALL
),
offending AS (
    SELECT
        l.country,
        l.subdivision,
        CASE
            WHEN l.country IS NULL THEN 'subdivision without a country'
            WHEN c.country IS NULL THEN 'country is not an ISO 3166-1 alpha-2 code'
            ELSE 'subdivision is not an ISO 3166-2 code of the country'
        END AS problem
    FROM locales AS l
    LEFT JOIN iso_3166_countries AS c ON c.country = l.country
    LEFT JOIN iso_3166_subdivisions AS s ON s.subdivision = l.subdivision AND s.country = l.country
    WHERE (l.country IS NOT NULL AND c.country IS NULL)
        OR (l.subdivision IS NOT NULL AND s.subdivision IS NULL)
)
SELECT
    w.qualification_type_id,
    w.worker_id,
    w.country,
    w.subdivision,
    o.problem
FROM worker_qualifications AS w
JOIN offending AS o
    ON w.country IS NOT DISTINCT FROM o.country AND w.subdivision IS NOT DISTINCT FROM o.subdivision
ORDER BY w.qualification_type_id, w.worker_id
