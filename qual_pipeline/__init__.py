"""qual_pipeline: a warehouse connector for Amazon Mechanical Turk qualifications."""
