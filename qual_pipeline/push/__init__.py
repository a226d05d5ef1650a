"""Reverse ETL: plan, guard, journal, push and read back score changes and request grants."""
