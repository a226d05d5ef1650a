-- The distinct (country, subdivision) pairs of worker_qualifications that the locale check
-- (invalid_locales) finds offending: a country that is not ISO 3166-1 alpha-2, or a subdivision
-- that is not an ISO 3166-2 code of the row's country. iso_3166_countries(country) and
-- iso_3166_subdivisions(subdivision, country) are registered from pycountry by the caller.
-- The check reads the rows (invalid_locales) only when this finds a pair: the pairs are few
-- whatever the rows, and grouping them cost a load of 10,000,000 rows about a fifth of the CPU
-- of two joins per row with the ISO tables.
WITH locales AS (
    SELECT country, subdivision FROM worker_qualifications GROUP BY ALL
)
SELECT l.country, l.subdivision
FROM locales AS l
LEFT JOIN iso_3166_countries AS c ON c.country = l.country
LEFT JOIN iso_3166_subdivisions AS s ON s.subdivision = l.subdivision AND s.country = l.country
WHERE (l.country IS NOT NULL AND c.country IS NULL)
    OR (l.subdivision IS NOT NULL AND s.subdivision IS NULL)
