"""Where state lives: one small interface per kind of state, two implementations each.

- `lake`: Parquet snapshots in a Hive layout, on a local folder or on S3-compatible object storage.
- `warehouse`: the warehouse as a DuckDB file, or as DuckLake (PostgreSQL catalog, data files on
  object storage); schema migrations once per version; a commit conflict retried as a whole.
- `locks`: PostgreSQL advisory locks per (environment, account): one pusher, one warehouse writer.
- `namespace`: which MTurk environment and requester account a piece of shared state belongs to.
- `object_storage`, `duckdb_extensions`, `postgres`: what the stores share (the S3 client and
  DuckDB's access to it, DuckDB connections that never download extensions, DSNs in messages).

Only this package opens files, buckets or databases for state; the rooms above it take a store.
"""
