"""One dynamic partition per qualification type, kept in step with MTurk by the discovery sensor."""

from __future__ import annotations

from dagster import DynamicPartitionsDefinition

qualification_type_partitions = DynamicPartitionsDefinition(name="qualification_type")
