-- Offending rows for the locale check: a country that is not ISO 3166-1 alpha-2, or a subdivision
-- that is not an ISO 3166-2 code of the row's country. iso_3166_countries(country) and
-- iso_3166_subdivisions(subdivision, country) are registered from pycountry by the caller.
SELECT
    w.qualification_type_id,
    w.worker_id,
    w.country,
    w.subdivision,
    CASE
        WHEN w.country IS NULL THEN 'subdivision without a country'
        WHEN c.country IS NULL THEN 'country is not an ISO 3166-1 alpha-2 code'
        ELSE 'subdivision is not an ISO 3166-2 code of the country'
    END AS problem
FROM worker_qualifications AS w
LEFT JOIN iso_3166_countries AS c ON c.country = w.country
LEFT JOIN iso_3166_subdivisions AS s ON s.subdivision = w.subdivision AND s.country = w.country
WHERE (w.country IS NOT NULL AND c.country IS NULL)
    OR (w.subdivision IS NOT NULL AND s.subdivision IS NULL)
ORDER BY w.qualification_type_id, w.worker_id
