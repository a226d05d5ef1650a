"""A production worker id in a sandbox push: that row fails with the explanation, the rest land.

The local MTurk serves a sandbox data set whose workers section lists the environment's workers;
`qual-pipeline push` (the user's command, in a child process) is asked for score updates, a grant
to a known worker who holds nothing, and a grant to a worker id the sandbox does not know.
"""

from __future__ import annotations

from pathlib import Path

from push_helpers import World, mturk_state, run_push_process, warehouse_rows, write_desired
from support.mturk import type_id, worker_id

T1 = type_id(31)
PRODUCTION_WORKER = "A143XRCI1YXAFE"  # well-formed, but not a worker of this sandbox
IDLE_WORKER = worker_id(50)  # a sandbox worker who holds nothing yet


def test_unknown_worker_fails_with_the_environment_explanation_and_the_rest_land(
    local_mturk, mturk_env, tmp_path: Path
) -> None:
    world = World(types=[T1], qualifications=[(T1, worker_id(i), "Granted", i) for i in range(10)])
    data = world.mturk_data()
    data["workers"] = [{"WorkerId": worker_id(i)} for i in (*range(10), 50)]
    mturk = local_mturk(data=data)
    env = mturk_env(mturk)
    world.warehouse(tmp_path / "data")
    desired = {worker_id(i): 100 + i for i in range(4)} | {IDLE_WORKER: 7, PRODUCTION_WORKER: 9}
    write_desired(tmp_path / "inputs", [(T1, w, v) for w, v in desired.items()])

    result = run_push_process(
        [
            "push",
            "--replan",
            "--data-dir",
            str(tmp_path / "data"),
            "--inputs-dir",
            str(tmp_path / "inputs"),
            "--environment",
            "sandbox",
            "--allow-grants",
            "--max-share",
            "1",
            "--rate",
            "200",
        ],
        env,
        cwd=tmp_path,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Traceback" not in output
    assert f"{T1}/{PRODUCTION_WORKER} (grant): ParameterValidationError" in output
    assert "production worker id used on the sandbox" in " ".join(output.split())

    # The others were sent and read back; the unknown worker got nothing.
    landed = {w: v for w, v in desired.items() if w != PRODUCTION_WORKER}
    assert mturk_state(mturk, [(T1, w) for w in desired]) == {
        **{(T1, w): ("Granted", v) for w, v in landed.items()},
        (T1, PRODUCTION_WORKER): None,
    }
    audit = warehouse_rows(
        tmp_path / "data",
        "SELECT worker_id, action, status, error FROM push_audit ORDER BY worker_id",
    )
    assert {(w, a, s) for w, a, s, _ in audit} == {
        *((w, "update", "verified") for w in landed if w != IDLE_WORKER),
        (IDLE_WORKER, "grant", "verified"),
        (PRODUCTION_WORKER, "grant", "failed"),
    }
    (error,) = [e for w, _, _, e in audit if w == PRODUCTION_WORKER]
    assert f'The value "{PRODUCTION_WORKER}" is not valid for the parameter WorkerId.' in error
    assert "sandbox and production have separate worker ids" in error
    assert all(e is None for w, _, _, e in audit if w != PRODUCTION_WORKER)

    # Looking the worker up says the same thing instead of a bare error.
    score = run_push_process(["score", "--type", T1, "--worker", PRODUCTION_WORKER], env)
    assert score.returncode == 1
    assert "sandbox and production ids differ" in " ".join(score.stderr.split())
