"""The Parquet lake: layout and the streaming, atomically published snapshot writer."""
