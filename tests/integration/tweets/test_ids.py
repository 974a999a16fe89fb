"""100,000 Snowflake ids from three real processes leasing worker ids from the real Redis."""

from __future__ import annotations

import itertools
import subprocess
import time

from devstack.paths import PYTHON, ROOT
from services.platform.ids import timestamp_ms, worker_of

PROCESSES = 3
TOTAL = 100_000


def test_ids_from_three_processes_are_unique_and_time_ordered_per_process() -> None:
    start_at = time.time() + 3  # all three issue at once, after their leases are taken
    counts = [TOTAL // PROCESSES + (1 if i < TOTAL % PROCESSES else 0) for i in range(PROCESSES)]
    env = {"PYTHONPATH": f"{ROOT}:{ROOT / 'gen'}", "PATH": "/usr/bin:/bin"}
    processes = [
        subprocess.Popen(
            [str(PYTHON), "-m", "tests.integration.tweets.issue_ids", str(count), str(start_at)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for count in counts
    ]
    outputs = [process.communicate(timeout=60) for process in processes]
    assert [p.returncode for p in processes] == [0] * PROCESSES, [err for _, err in outputs]

    workers, per_process = [], []
    for stdout, _ in outputs:
        worker, *ids = map(int, stdout.split())
        workers.append(worker)
        per_process.append(ids)
    assert [len(ids) for ids in per_process] == counts
    assert len(set(workers)) == PROCESSES  # three live leases, three worker ids
    everything = [i for ids in per_process for i in ids]
    assert len(everything) == TOTAL
    assert len(set(everything)) == TOTAL
    for worker, ids in zip(workers, per_process, strict=True):
        assert all(a < b for a, b in itertools.pairwise(ids))  # strictly increasing
        assert {worker_of(i) for i in ids} == {worker}
        assert timestamp_ms(ids[0]) >= int(start_at * 1000) - 5  # issued after the barrier
