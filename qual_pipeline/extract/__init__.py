"""Extraction: paging MTurk and normalising what comes back into the lake schema."""
