"""Push journal size after a large plan is superseded, and what compacting it costs.

A warehouse of --changes holders of one type (score 1) and a desired-scores CSV changing every
one of them; `qual-pipeline plan` (the console script next to this Python, or QP_BIN) saves the
large plan, then a plan of one change supersedes it (its rows are dropped). Printed: the journal's
size on disk (push_journal.sqlite plus its -wal file) after each plan, and each plan's wall time.
Run it with another checkout's script as QP_BIN to compare, e.g. the code before the compaction.

Run: .venv/bin/python bench/bench_journal.py [--changes 200000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import load_holders  # bench/, this script's folder

TYPE = "3BENCHJOURNALTYPE0000000000001"


def journal_bytes(data: Path) -> int:
    return sum(
        p.stat().st_size
        for p in (data / "push_journal.sqlite", data / "push_journal.sqlite-wal")
        if p.exists()
    )


def plan(script: str, data: Path, inputs: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run(
        [script, "plan", "--data-dir", str(data), "--inputs-dir", str(inputs), "--rows", "0",
         "--max-share", "1", "--max-changes", "100000000"],
        capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(done.stdout + done.stderr)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=200_000)
    args = parser.parse_args()
    script = os.environ.get("QP_BIN") or str(Path(sys.executable).with_name("qual-pipeline"))
    workers = [f"A{i:013d}" for i in range(args.changes)]
    with tempfile.TemporaryDirectory(prefix="bench-journal-") as tmp:
        root = Path(tmp)
        data, inputs = root / "data", root / "inputs"
        inputs.mkdir()
        load_holders(data, TYPE, workers)
        with (inputs / "desired_scores.csv").open("w") as f:
            f.write("qualification_type_id,worker_id,integer_value\n")
            f.writelines(f"{TYPE},{w},7\n" for w in workers)
        print(f"load average before: {os.getloadavg()[0]:.2f}; script {script}")
        large = plan(script, data, inputs)
        after_large = journal_bytes(data)
        (inputs / "desired_scores.csv").write_text(
            f"qualification_type_id,worker_id,integer_value\n{TYPE},{workers[0]},8\n"
        )
        small = plan(script, data, inputs)
        after_small = journal_bytes(data)
        print(
            f"plan of {args.changes:,} changes: {large:.2f} s, journal {after_large / 1e6:.1f} MB; "
            f"superseded by a plan of 1 change: {small:.2f} s, journal {after_small / 1e6:.2f} MB "
            f"({after_small / after_large:.3f}x); load average {os.getloadavg()[0]:.2f}"
        )


if __name__ == "__main__":
    main()
