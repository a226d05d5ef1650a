"""Where state lives: one small interface per kind of state, two implementations each.

- `lake`: Parquet snapshots in a Hive layout, on a local folder or on S3-compatible object storage.
- `warehouse`: the warehouse as a DuckDB file, or as DuckLake (PostgreSQL catalog, data files on
  object storage); schema migrations once per version; a commit conflict retried as a whole.
- `locks`: the one-pusher-per-(environment, account) rule as a PostgreSQL advisory lock.
- `namespace`: which MTurk environment and requester account a piece of shared state belongs to.
- `object_storage`, `duckdb_extensions`: the S3 client and the DuckDB setup the stores share.

Only this package opens files, buckets or databases for state; the rooms above it take a store.
"""
