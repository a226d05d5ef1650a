"""`qual-pipeline dagster-home FOLDER`: a Dagster instance folder with qual_pipeline's settings, for
a `dagster dev -m qual_pipeline.definitions` of your own (the real MTurk, a pip install).

It does what `qual-pipeline ui` does to its DAGSTER_HOME before it starts `dagster dev`: writes the
package's dagster.yaml (runs queued: at most 4 at once, 2 extraction runs, 1 warehouse load;
telemetry off) into a folder without one, and sets the pool `mturk_api` to
QUAL_PIPELINE_API_CONCURRENCY steps and `warehouse` to 1 in the instance's storage. A dagster.yaml
of your own is left as it is (one line notes when it lacks the run limits). Bad input (a FOLDER that
is a file, a dagster.yaml Dagster cannot use) is one line, exit 2.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import Annotated

import typer

from qual_pipeline import settings
from qual_pipeline.cli.options import SettingValues, takes_settings
from qual_pipeline.cli.render import err, fail, out

DEV_COMMAND = "dagster dev -m qual_pipeline.definitions -h 127.0.0.1 -p 3000"
"""What README and this command name for serving the installed package's code location."""


@takes_settings("dagster-home")
def dagster_home(
    folder: Annotated[
        Path | None,
        typer.Argument(
            help="The Dagster instance folder (created if missing). Default: $DAGSTER_HOME.",
            show_default=False,
            metavar="FOLDER",
        ),
    ] = None,
    *,
    values: SettingValues,
) -> None:
    """Give a Dagster instance folder qual_pipeline's run limits and pools, for `dagster dev -m
    qual_pipeline.definitions` of your own; prints the two lines that start it."""
    from qual_pipeline.cli.preflight import DAGSTER_HOME, check_dagster_home, open_dagster_instance
    from qual_pipeline.defs.pools import set_pool_limits

    if folder is None:
        if not os.environ.get(DAGSTER_HOME, "").strip():
            raise fail(
                f"no FOLDER given and {DAGSTER_HOME} is not set: give the instance folder, e.g. "
                "`qual-pipeline dagster-home ~/dagster_home`",
                2,
            )
        check_dagster_home(create=True, unset="the FOLDER you give")  # a file, relative: exit 2
        home = Path(os.environ[DAGSTER_HOME]).expanduser()
    else:
        home = folder.expanduser().resolve()
        if home.exists() and not home.is_dir():
            raise fail(f"{folder} is a file: give a folder (a missing one is created)", 2)
        try:
            home.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise fail(
                f"{folder} cannot be created ({e.strerror}): give a folder you can write", 2
            ) from None
        os.environ[DAGSTER_HOME] = str(home)
    existing = [p for p in (home / "dagster.yaml", home / "dagster.yml") if p.exists()]
    instance = open_dagster_instance(
        note_missing_limits=True, argument=None if folder is None else "FOLDER"
    )
    api = values[settings.API_CONCURRENCY.name]
    set_pool_limits(instance, api)
    if existing and existing[0].is_file() and existing[0].read_bytes().strip():
        err.print(f"kept {existing[0]} as it is", highlight=False, soft_wrap=True)
    err.print(
        f"set the pools of {home}: mturk_api {api} step(s) at once "
        f"({settings.API_CONCURRENCY.env}), warehouse 1",
        highlight=False,
        soft_wrap=True,
    )
    out.print(f"export DAGSTER_HOME={shlex.quote(str(home))}", highlight=False, soft_wrap=True)
    out.print(DEV_COMMAND, highlight=False, soft_wrap=True)
