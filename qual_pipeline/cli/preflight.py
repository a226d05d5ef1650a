"""A command's configuration checked once, up front, before any MTurk call or file write.

Each mistake is one line that names the setting as the user gave it (the option when it was typed,
else the environment variable) and the fix, and exits 2: an MTurk endpoint URL that is not one, a
data folder the command cannot write (or, for `sql` and `export`, read; on a read-only filesystem
it says so), a folder where warehouse.duckdb belongs, a warehouse.duckdb `refresh` or `push` cannot
write, a type list with a malformed id, a warehouse memory limit DuckDB cannot read, no usable
credentials; for `push`, an MTurk other than the one the warehouse was refreshed from (exit 2,
read from the warehouse, no network). Then one TCP connection to the endpoint is opened and
closed (no request is sent), so an endpoint where nothing listens, an unknown host or one that
does not answer is reported within MTURK_CONNECT_TIMEOUT, naming the endpoint, with exit 1. A
refresh also opens warehouse.duckdb and refuses one DuckDB finds damaged on opening it (a damaged
header, a file cut before a block it uses: exit 1, the damaged warehouse's message) before its
extraction calls MTurk; damage inside a block is found only when the load reads it, after the
extraction.

`refresh_lock` keeps two refreshes of one data folder from running at once: the second refuses at
once (exit 1), before any MTurk request, naming the one that runs.
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from qual_pipeline import settings
from qual_pipeline.cli import options
from qual_pipeline.cli.options import SettingValues, as_given, named, shared_profile, typed
from qual_pipeline.cli.render import err, fail
from qual_pipeline.settings import Setting

WRITES = {
    "refresh": "refresh writes the lake and warehouse.duckdb there",
    "push": "push keeps its journal (push_journal.sqlite) there and records what it sent in "
    "warehouse.duckdb",
    "plan": "plan saves its plan in the push journal (push_journal.sqlite) there",
}
READS = {
    "sql": "sql reads warehouse.duckdb there",
    "export": "export reads warehouse.duckdb there",
    "plan": "plan reads warehouse.duckdb there",
}
CALLS_MTURK = ("refresh", "push", "score")
REFRESH_LOCK = "refresh.lock"


def given(setting: Setting[Any], value: object) -> str:
    """`--data-dir /x` or `QUAL_PIPELINE_DATA_DIR=/x` (or, for a default, the variable and the
    option that would change it)."""
    if typed(setting):
        return f"{setting.flag} {value}"
    if os.environ.get(setting.env, "").strip():
        return f"{setting.env}={value}"
    return f"the data folder {value} (the default; set {setting.env} or {setting.flag})"


def shown(setting: Setting[Any], value: object) -> str:
    """`--endpoint-url X` when typed, else `MTURK_ENDPOINT_URL='X'`."""
    return f"{setting.flag} {value}" if typed(setting) else f"{setting.env}={value!r}"


def check(command: str, values: SettingValues) -> None:
    """Every up-front check `command` needs (see the module); raises typer.Exit(2) (or 1 for an
    endpoint that cannot be reached) after printing one line."""
    check_environment()
    url = endpoint(values) if command in CALLS_MTURK else ""
    if settings.DATA_DIR.name in values and not shared_profile(values):
        check_data_dir(command, Path(values[settings.DATA_DIR.name]))
        check_warehouse_file(command, Path(values[settings.DATA_DIR.name]))
    if settings.TYPES.name in values:
        check_types(values[settings.TYPES.name])
    if command in ("refresh", "plan"):  # push: with --replan (cli/push.py checks it then)
        check_memory(values, load=command == "refresh")
    if command in CALLS_MTURK:
        check_credentials(values)
        if command == "push":  # needs no network: before the endpoint is tried
            check_recorded_mturk(values)
        check_reachable(url, values[settings.CONNECT_TIMEOUT.name])


def check_recorded_mturk(values: SettingValues) -> None:
    """push: refuse (exit 2) an MTurk other than the one the warehouse was refreshed from
    (`saved_plan.check_target`) before the endpoint's connection check, so a dead or unknown
    endpoint (e.g. MTURK_ENDPOINT_URL unset after the demo) is told as the wrong MTurk, with its
    fix. A warehouse that cannot be read now (none yet, held by a writer, a store that does not
    open) is left to the push, which reports it and checks the target again."""
    from qual_pipeline.cli.options import open_cli_stores
    from qual_pipeline.push.saved_plan import TargetMismatch, check_target, read_only_warehouse

    try:
        stores = open_cli_stores(values, warehouse_wait_s=0)
        with read_only_warehouse(stores.warehouse)() as con:
            check_target(
                con,
                environment=values[settings.ENVIRONMENT.name],
                endpoint_url=values.get(settings.ENDPOINT_URL.name) or None,
                command="push",
                profile=stores.profile,
            )
    except TargetMismatch as e:
        raise fail(str(e), 2) from None
    except Exception:  # unreadable now: the push reports it in its own words
        return


def check_environment() -> None:
    """Every setting's variable is read from the environment once, up front, whichever command
    runs (e.g. QUAL_PIPELINE_SNAPSHOT_GRACE, which no option carries, the code location's
    QUAL_PIPELINE_SCHEDULE_CRON, a push setting in a refresh's environment): a value it refuses
    (not a number, outside its declared range, not a yes/no word, a cron expression Dagster
    refuses) or a QUAL_PIPELINE_ variable that names no setting is one line naming the variable
    and what it takes, exit 2, before any work (`cli.options.check_environment`; every command
    that takes settings runs it first, the demo calls it itself)."""
    options.check_environment()


def endpoint(values: SettingValues) -> str:
    """The endpoint the command's MTurk client will use; exit 2 when MTURK_ENDPOINT_URL is not
    an http(s) URL with a host."""
    from qual_pipeline.mturk_api.client import ENDPOINTS

    url = values.get(settings.ENDPOINT_URL.name)
    if not url:
        return ENDPOINTS[values[settings.ENVIRONMENT.name]]
    parts = urlsplit(url)
    try:
        port_ok = parts.port is None or parts.port >= 0
    except ValueError:  # not a number, or out of range
        port_ok = False
    if parts.scheme in ("http", "https") and parts.hostname and port_ok:
        return url
    from qual_pipeline.mturk_api.source import shown_endpoint

    safe = shown_endpoint(url)  # never its user name or password
    where = shown(settings.ENDPOINT_URL, safe)
    example = f"http://{safe}" if "://" not in safe else "http://127.0.0.1:8443"
    raise fail(
        f"{where} is not a URL MTurk can be reached at: write the scheme, the host and the "
        f"port, e.g. {example} (a local MTurk) or https://mturk-requester-sandbox.us-east-1."
        f"amazonaws.com; leave it out to use the real service of {settings.ENVIRONMENT.env}",
        2,
    )


def check_data_dir(command: str, folder: Path) -> None:
    """The data folder is a folder the command can read (sql, export, plan) and write (refresh,
    push, plan); refresh creates it when missing. Exit 2 naming the setting otherwise."""
    setting = settings.DATA_DIR
    folder = folder.expanduser()
    if folder.exists() and not folder.is_dir():
        raise fail(
            f"{given(setting, folder)} is a file, not a folder: point {named(setting)} at the "
            "folder of the lake and warehouse.duckdb",
            2,
        )
    if not folder.exists():
        if command != "refresh":
            return  # the command says there is no warehouse yet, and how to make one
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise fail(
                f"{given(setting, folder)} cannot be created ({e.strerror}): "
                f"{WRITES[command]}; create it, or point {named(setting)} at a folder you can "
                "write",
                2,
            ) from None
    why = READS.get(command) or WRITES.get(command)
    try:
        os.listdir(folder)
    except OSError as e:
        raise fail(
            f"{given(setting, folder)} is not readable ({e.strerror}): {why}; make it readable "
            f"(chmod u+rx), or point {named(setting)} at another folder",
            2,
        ) from None
    if command not in WRITES:
        return
    try:
        handle, probe = tempfile.mkstemp(dir=folder, prefix=".qual-pipeline-write-check-")
    except OSError as e:
        if e.errno == errno.EROFS:
            raise fail(
                f"{given(setting, folder)} is on a read-only filesystem ({e.strerror}): "
                f"{WRITES[command]}; mount that filesystem read-write, or point {named(setting)} "
                "at a folder on a writable one",
                2,
            ) from None
        raise fail(
            f"{given(setting, folder)} is not writable ({e.strerror}): {WRITES[command]}; make "
            f"it writable (chmod u+w), or point {named(setting)} at a folder you can write",
            2,
        ) from None
    os.close(handle)
    os.unlink(probe)


WRITES_WAREHOUSE = ("refresh", "push")
"""The commands that write warehouse.duckdb (a load; push_audit and the values a push verified)."""


def _writable_hint(path: Path) -> str:
    """How to make `path` writable by this user: `chmod u+w` when the user owns it, else its
    owner's help (chmod u+w by a non-owner is refused and would not help)."""
    try:
        owner = path.stat().st_uid
    except OSError:
        return f"chmod u+w {path}"
    if owner == os.geteuid():
        return f"chmod u+w {path}"
    return f"it belongs to user id {owner}: ask its owner to chown it to you, or to chmod a+w it"


def check_warehouse_file(command: str, folder: Path) -> None:
    """The data folder's warehouse.duckdb, when there is one: a file, not a folder (every command
    that reads or writes it), and writable with its write-ahead log for `refresh` and `push`;
    exit 2 naming it and the fix. For `refresh`, a file DuckDB finds damaged is refused too (exit
    1, the damaged warehouse's message), before the extraction's MTurk calls."""
    from qual_pipeline.lake.layout import warehouse_path
    from qual_pipeline.stores.warehouse import (
        DuckDBFileWarehouse,
        WarehouseStoreError,
        WarehouseUnreadableError,
    )

    if command not in READS and command not in WRITES:
        return
    store = DuckDBFileWarehouse(warehouse_path(folder.expanduser()))
    if store.path.is_dir():
        raise fail(as_given(store.folder_message(), settings.DATA_DIR), 2)
    if command not in WRITES_WAREHOUSE or not store.path.is_file():
        return
    for path in (store.path, store.wal):
        try:
            os.close(os.open(path, os.O_WRONLY))  # opened, not written: the file is unchanged
        except FileNotFoundError:
            continue
        except OSError as e:
            fix = (
                "mount that filesystem read-write"
                if e.errno == errno.EROFS
                else f"make it writable ({_writable_hint(path)})"
            )
            what = "on a read-only filesystem" if e.errno == errno.EROFS else "not writable"
            raise fail(
                f"{path} is {what} ({e.strerror}): {command} writes the warehouse there; {fix}, "
                f"or point {named(settings.DATA_DIR)} at another data folder",
                2,
            ) from None
    if command == "refresh":
        try:
            store.connect(read_only=True).close()
        except WarehouseUnreadableError as e:
            raise fail(as_given(str(e), settings.DATA_DIR), 1) from None
        except WarehouseStoreError:  # busy, empty: the load says what it finds, as before
            return


def check_types(text: str | None) -> None:
    """A type list with a malformed id is refused before any call, naming how it was given."""
    from qual_pipeline.extract.errors import TypeSelectionError
    from qual_pipeline.extract.type_selection import parse_type_setting

    try:
        parse_type_setting(text or "")
    except TypeSelectionError as e:
        raise fail(types_message(str(e)), 2) from None


def types_message(message: str) -> str:
    """An error about the type list, naming --types when the user typed it (the domain's
    messages name QUAL_PIPELINE_TYPES)."""
    return as_given(message, settings.TYPES)


def check_memory(values: SettingValues, *, load: bool = False) -> None:
    """A warehouse memory limit DuckDB cannot read is refused before anything runs, naming it as
    it was given (`--warehouse-memory abc` or `QUAL_PIPELINE_WAREHOUSE_MEMORY='abc'`); with
    `load` (a refresh), so is one below settings.WAREHOUSE_LOAD_MEMORY_MINIMUM."""
    from qual_pipeline.stores.warehouse import check_memory_limit

    setting = settings.WAREHOUSE_MEMORY
    memory_limit = values.get(setting.name)
    if not memory_limit:
        return
    minimum = settings.WAREHOUSE_LOAD_MEMORY_MINIMUM if load else None
    try:
        check_memory_limit(memory_limit, where=shown(setting, memory_limit), minimum=minimum)
    except settings.ConfigurationError as e:
        raise fail(str(e), 2) from None


def check_credentials(values: SettingValues) -> None:
    """boto3's standard chain finds a key id and a secret (never shown); exit 2 otherwise."""
    import boto3
    import botocore.session
    from botocore.exceptions import BotoCoreError, PartialCredentialsError, ProfileNotFound

    from qual_pipeline.mturk_api.errors import NO_CREDENTIALS

    profile = values.get(settings.AWS_PROFILE.name)
    try:
        session = boto3.session.Session(
            botocore_session=botocore.session.get_session(), profile_name=profile
        )
        found = session.get_credentials()
        frozen = found.get_frozen_credentials() if found is not None else None
    except ProfileNotFound:
        raise fail(
            f"{shown(settings.AWS_PROFILE, profile)} names no profile in the AWS credentials "
            "or config file: add it (aws configure --profile NAME), or unset it to use "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
            2,
        ) from None
    except PartialCredentialsError as e:
        raise fail(
            f"incomplete AWS credentials ({e}): set both AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, or AWS_PROFILE",
            2,
        ) from None
    except BotoCoreError as e:
        raise fail(f"could not read the AWS credentials: {e}", 2) from None
    if frozen is None or not frozen.access_key or not frozen.secret_key:
        raise fail(NO_CREDENTIALS, 2)


def check_reachable(url: str, timeout_s: float) -> None:
    """Open (and close) one TCP connection to the endpoint, unless a proxy carries its traffic;
    exit 1 naming the endpoint when none opens within `timeout_s`."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    proxies = urllib.request.getproxies()
    if proxies.get(parts.scheme) and not urllib.request.proxy_bypass(host):
        return  # boto3 goes through the proxy: a direct connection proves nothing
    from qual_pipeline.mturk_api.source import shown_endpoint

    setting = named(settings.ENDPOINT_URL) if typed(settings.ENDPOINT_URL) else None
    where = f"MTurk at {shown_endpoint(url)}" + (f" ({setting})" if setting else "")
    fix = (
        f"check {named(settings.ENDPOINT_URL)} (is the local MTurk running? `qual-pipeline "
        "local-mturk serve` prints its URL)"
        if os.environ.get(settings.ENDPOINT_URL.env) or setting
        else f"check the network, or {named(settings.ENVIRONMENT)}"
    )
    started = time.monotonic()
    try:
        socket.create_connection((host, port), timeout=timeout_s).close()
    except ConnectionRefusedError:
        raise fail(f"cannot connect to {where}: nothing listens there; {fix}", 1) from None
    except socket.gaierror as e:
        raise fail(f"cannot connect to {where}: unknown host ({e.strerror}); {fix}", 1) from None
    except TimeoutError:
        raise fail(
            f"cannot connect to {where}: no answer within {timeout_s:g} s "
            f"({settings.CONNECT_TIMEOUT.env}); {fix}",
            1,
        ) from None
    except OSError as e:
        seconds = time.monotonic() - started
        raise fail(
            f"cannot connect to {where}: {e.strerror or e} after {seconds:.1f} s; {fix}", 1
        ) from None


DAGSTER_HOME = "DAGSTER_HOME"


def check_dagster_home(
    *, retry_failed: bool = False, create: bool = False, unset: str = "a throw-away one"
) -> None:
    """DAGSTER_HOME, when set, is an absolute path to a folder (`create`: a missing one is made,
    as `ui` does); otherwise one line naming it, what is wrong and the fix (`unset`: what the
    command uses without it), exit 2 (Dagster's own error is a traceback).
    `open_dagster_instance` then reports a dagster.yaml it cannot use."""
    home = os.environ.get(DAGSTER_HOME, "")
    if not home.strip():
        return
    path = Path(home).expanduser()
    where = f"{DAGSTER_HOME}={home!r}"
    retry = "point it at the folder of the Dagster instance the failed refresh used"
    if not path.is_absolute():
        fix = retry if retry_failed else f"unset it for {unset}"
        raise fail(
            f"{where} is not an absolute path (Dagster keeps the runs there): set it to one, "
            f"e.g. {DAGSTER_HOME}={Path(home).resolve()}, or {fix}",
            2,
        )
    if create and not path.exists():
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise fail(
                f"{where} cannot be created ({e.strerror}): create it, or point it at a folder "
                "you can write",
                2,
            ) from None
    if path.exists() and not path.is_dir():
        fix = retry if retry_failed else (
            f"point it at the folder of your Dagster instance, or unset it for {unset}"
        )  # fmt: skip
        raise fail(f"{where} is a file, not a folder: {fix}", 2)
    if not path.exists():
        fix = retry if retry_failed else (
            f"create it (mkdir -p {path}) for a new instance, or unset it for {unset}"
        )  # fmt: skip
        raise fail(f"{where} does not exist (Dagster keeps the runs there): {fix}", 2)


INSTANCE_YAML = "dagster_instance.yaml"
"""The package's Dagster instance settings (package data): the run queue (at most 4 runs, 2
extraction runs, 1 warehouse load), the pools' default and telemetry off."""
RUN_LIMITS = ("run_coordinator", "concurrency")
"""The top-level keys of INSTANCE_YAML that hold the run limits."""


def instance_yaml() -> str:
    """The text of the package's Dagster instance settings (INSTANCE_YAML)."""
    from importlib.resources import files

    return files("qual_pipeline").joinpath(INSTANCE_YAML).read_text(encoding="utf-8")


def write_quiet_dagster_yaml(
    home: Path, *, note_missing_limits: bool = False, argument: str | None = None
) -> None:
    """Give a DAGSTER_HOME without a dagster.yaml (or .yml), or with an empty (0-byte)
    dagster.yaml (Dagster reads it as its defaults: telemetry on, no run queue), the package's
    instance settings (`instance_yaml`: run limits, telemetry off), and say so in one line. A
    dagster.yaml with anything in it, or a dagster.yml, is the user's and left as it is; with
    `note_missing_limits` (`ui`), one line notes that it lacks the run limits and where they are.
    Written whole or not at all (a temporary file renamed), so a full disk leaves no empty
    dagster.yaml behind. `argument`: as for `open_dagster_instance`."""
    target = home / "dagster.yaml"
    if not home.is_dir():
        return
    if target.is_symlink():
        if not target.exists():
            raise fail(
                f"{target} is a link to {os.readlink(target)}, which does not exist: create the "
                f"file it points to, or remove the link for qual_pipeline's instance settings",
                2,
            )
        if note_missing_limits:
            _note_missing_limits(home)
        return  # a link is the user's, whatever it points to
    if (home / "dagster.yml").exists() or (target.exists() and not _empty_file(target)):
        if note_missing_limits:
            _note_missing_limits(home)
        return
    empty = target.exists()
    staged = home / f".dagster.yaml.{os.getpid()}.tmp"
    try:
        staged.write_text(instance_yaml(), encoding="utf-8")
        os.replace(staged, target)
    except OSError as e:
        with suppress(OSError):
            staged.unlink()
        had = "an empty dagster.yaml" if empty else "no dagster.yaml"
        where, other = _home_named(str(home), argument, "a folder you can write")
        raise fail(
            f"{where} has {had} and it cannot be written there "
            f"({e.strerror}): create one with `telemetry: {{enabled: false}}`, or {other}",
            2,
        ) from None
    why = "its dagster.yaml set nothing" if empty else "the folder had no dagster.yaml"
    err.print(
        f"wrote {target}: qual_pipeline's Dagster instance settings (runs queued, at most 2 "
        f"extraction runs and 1 warehouse load at once; telemetry off) ({why})",
        highlight=False,
        soft_wrap=True,
    )


def _note_missing_limits(home: Path) -> None:
    """One line when the user's dagster.yaml sets no run queue or run limits (the keys of
    RUN_LIMITS), naming the package's file that has them; nothing when it cannot be read (Dagster
    reports that)."""
    import yaml

    path = home / "dagster.yaml" if (home / "dagster.yaml").exists() else home / "dagster.yml"
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return
    if not isinstance(config, dict):
        return
    runs = (
        (config.get("concurrency") or {}).get("runs")
        if isinstance(config.get("concurrency"), dict)
        else None
    )
    if "run_coordinator" in config or runs:
        return
    from importlib.resources import files

    shipped = files("qual_pipeline").joinpath(INSTANCE_YAML)
    err.print(
        f"note: {path} sets no run queue (run_coordinator, concurrency.runs): Dagster's defaults "
        f"apply, not the project's limits (at most 2 extraction runs, 1 warehouse load); copy "
        f"them from {shipped} if you want them",
        highlight=False,
        soft_wrap=True,
    )


def _empty_file(path: Path) -> bool:
    """Whether `path` is a file of 0 bytes or of whitespace only (a dagster.yaml that sets
    nothing: Dagster reads it as its defaults, telemetry on)."""
    try:
        if not path.is_file():
            return False
        if path.stat().st_size == 0:
            return True
        with path.open("rb") as f:
            head = f.read(65_536)
        return len(head) < 65_536 and not head.strip()
    except OSError:
        return False


def open_dagster_instance(*, note_missing_limits: bool = False, argument: str | None = None) -> Any:
    """The Dagster instance of DAGSTER_HOME (which `check_dagster_home` found to be a folder),
    given the package's settings when it has none (`write_quiet_dagster_yaml`); exit 2 naming
    its dagster.yaml when Dagster cannot read or use it. `argument`: the command's argument that
    gave the folder (e.g. `FOLDER`), which the messages then name instead of DAGSTER_HOME."""
    import yaml
    from dagster import DagsterError, DagsterInstance

    home = os.environ.get(DAGSTER_HOME, "")
    write_quiet_dagster_yaml(
        Path(home).expanduser(), note_missing_limits=note_missing_limits, argument=argument
    )
    where, other = _home_named(home, argument)
    try:
        return DagsterInstance.get()
    except (DagsterError, yaml.YAMLError, OSError, ValueError) as e:
        why = " ".join(line.strip() for line in str(e).splitlines() if line.strip())
        raise fail(
            f"the Dagster instance in {where} cannot be opened "
            f"({why or type(e).__name__}): fix {Path(home).expanduser() / 'dagster.yaml'}, or "
            f"{other}",
            2,
        ) from None


def _home_named(home: str, argument: str | None, other: str = "another folder") -> tuple[str, str]:
    """(the instance folder as the user gave it, how to give `other`): `DAGSTER_HOME='/x'` and
    `point DAGSTER_HOME at another folder`, or for a command argument `FOLDER '/x'` and `give
    another folder as FOLDER`."""
    if argument is None:
        return f"{DAGSTER_HOME}={home!r}", f"point {DAGSTER_HOME} at {other}"
    return f"{argument} {home!r}", f"give {other} as {argument}"


@contextmanager
def refresh_lock(data_dir: Path) -> Iterator[None]:
    """Hold the data folder's refresh lock (`refresh.lock`, an flock the system releases when
    the process ends, however it ends) for the block; when another refresh holds it, print one
    line naming it and exit 1 at once."""
    path = data_dir.expanduser() / REFRESH_LOCK
    with open(path, "a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise fail(
                f"another refresh of {data_dir} is running ({holder}); this one stopped before "
                "any MTurk request. Refreshes of one data folder run one at a time: wait for it "
                "to finish (its data is then current), then run again if needed",
                1,
            ) from None
        handle.seek(0)
        handle.truncate()
        started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
        handle.write(f"pid {os.getpid()}, started {started}\n")
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            handle.flush()
