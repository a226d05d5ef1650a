"""The Parquet lake: its layout and names, and the footer contract with the warehouse loader (the
writer and the listing are the lake store's: qual_pipeline.stores.lake)."""
