"""`python -m qual_pipeline.push`: the push commands alone (used by the crash-and-resume tests)."""

import typer

from qual_pipeline.push.cli import register

app = typer.Typer(no_args_is_help=True)
register(app)

if __name__ == "__main__":
    app()
