"""The `qual-pipeline` command line: argument parsing and rendering, over the plain modules.

`app.py` assembles the commands, one module each (the console script is `app.main`); `options.py`
derives their options from `qual_pipeline.settings`; `render.py` holds the consoles, the one error
helper, tables and progress. This package's own module imports nothing, so any command module
(the push commands too) can use `options` and `render` without a circular import.
"""
