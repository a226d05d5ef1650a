"""The DuckDB warehouse: the single-writer load, history, SQL models and data-quality checks."""
