"""The one-pusher lock on a real PostgreSQL: one pusher per (environment, account), released when
its holder dies, lost locks noticed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from support.services import free_port

from qual_pipeline.stores.locks import (
    WAREHOUSE_WRITER,
    AdvisoryLock,
    LockError,
    LockHeldError,
    LockLostError,
    push_lock,
)
from qual_pipeline.stores.namespace import Namespace
from qual_pipeline.stores.postgres import redact_dsn

ACME = Namespace("sandbox", "acme")


def test_a_second_pusher_of_one_account_is_refused_and_named(postgres_database):
    with push_lock(postgres_database, ACME):
        second = push_lock(postgres_database, ACME)
        with pytest.raises(LockHeldError) as refused:
            second.acquire()
        assert not second.held
    message = str(refused.value)
    assert "Another push of sandbox/acme is running" in message
    assert f"qual_pipeline push {os.uname().nodename}:{os.getpid()}" in message
    with push_lock(postgres_database, ACME) as again:  # released at the end of the block
        assert again.held


def test_pushers_of_two_accounts_or_two_environments_both_run(postgres_database):
    with (
        push_lock(postgres_database, ACME) as first,
        push_lock(postgres_database, Namespace("sandbox", "beta")) as other_account,
        push_lock(postgres_database, Namespace("production", "acme")) as other_environment,
        AdvisoryLock(postgres_database, WAREHOUSE_WRITER, ACME) as other_purpose,
    ):
        assert first.held and other_account.held and other_environment.held and other_purpose.held
        first.ensure_held()


HOLDER = textwrap.dedent(
    """
    import sys, time
    from qual_pipeline.stores.locks import push_lock
    from qual_pipeline.stores.namespace import Namespace
    with push_lock(sys.argv[1], Namespace("sandbox", "acme")):
        print("held", flush=True)
        time.sleep(120)
    """
)


def test_the_lock_is_released_when_its_holder_is_killed(postgres_database):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, postgres_database], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(LockHeldError, match=f":{holder.pid} since"):
            push_lock(postgres_database, ACME).acquire()
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(10)
    lock = push_lock(postgres_database, ACME)
    lock.acquire(wait_s=10)  # PostgreSQL ends the dead holder's session at once
    assert lock.held
    lock.release()


def test_a_waiting_acquire_gets_the_lock_when_the_holder_releases(postgres_database):
    holder = push_lock(postgres_database, ACME)
    holder.acquire()
    threading.Timer(0.3, holder.release).start()
    waiter = push_lock(postgres_database, ACME)
    started = time.monotonic()
    waiter.acquire(wait_s=30)
    assert waiter.held and not holder.held
    assert time.monotonic() - started < 30
    waiter.release()


def test_a_lost_session_is_noticed_before_the_next_step(postgres_server, postgres_database):
    lock = push_lock(postgres_database, ACME)
    lock.acquire()
    admin = postgres_server.connect(postgres_database.rsplit("/", 1)[1])
    with admin.cursor() as cur:  # e.g. a network cut or a restarted server ends the session
        cur.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name LIKE 'qual_pipeline push%%'"
        )
    admin.close()
    with pytest.raises(LockLostError, match="was lost"):
        lock.ensure_held()
    assert not lock.held
    with push_lock(postgres_database, ACME) as other:  # someone else may take it now
        assert other.held


def test_an_unreachable_catalog_is_named_without_its_password():
    port = free_port()
    dsn = f"postgresql://pusher:do-not-show-me@127.0.0.1:{port}/catalog"
    with pytest.raises(LockError) as failed:
        push_lock(dsn, ACME).acquire()
    assert "do-not-show-me" not in str(failed.value)
    assert failed.value.__cause__ is None and failed.value.__suppress_context__
    assert redact_dsn(dsn) == f"postgresql://pusher@127.0.0.1:{port}/catalog"
    assert redact_dsn(dsn) in str(failed.value)
