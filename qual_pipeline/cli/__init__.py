"""The `qual-pipeline` command line: argument parsing and rendering, over the plain modules.

`app.py` assembles the commands, one module each; `options.py` derives their options from
`qual_pipeline.settings`; `render.py` holds the consoles, the one error helper, tables and progress.
"""

from qual_pipeline.cli.app import app, main

__all__ = ["app", "main"]
