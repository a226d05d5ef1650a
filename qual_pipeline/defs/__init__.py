"""Dagster wiring: resources, assets, checks, sensors and schedules over the plain modules."""
