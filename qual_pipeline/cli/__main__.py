"""`python -m qual_pipeline.cli ...`: the same as the `qual-pipeline` console script."""

from qual_pipeline.entry import main

main()
