"""The benchmark's profiling arithmetic: the server's busy time and the checkpoint-write count."""

from __future__ import annotations

import time
from pathlib import Path

from bench.profile import CheckpointWatch
from localdev.counting_proxy import CountingProxy, Recorded


def test_server_time_sums_latencies_and_counts_overlap_once() -> None:
    proxy = CountingProxy("http://127.0.0.1:1")
    # Two overlapping requests (0-2 s, 1-3 s) and one alone (5-6 s).
    proxy.requests = [
        Recorded("GET", "/a", 200, 0.0, 2.0),
        Recorded("POST", "/b", 200, 1.0, 2.0),
        Recorded("GET", "/c", 200, 5.0, 1.0),
    ]
    total, busy = proxy.server_time()
    assert (total, busy) == (5.0, 4.0)


def test_checkpoint_watch_counts_finished_writes_and_renames(tmp_path: Path) -> None:
    stacks = tmp_path / "stacks"
    stacks.mkdir()
    with CheckpointWatch(stacks) as watch:
        sub = stacks / "mrgov"
        sub.mkdir()
        time.sleep(0.3)  # the watch adds the new folder when it reads its creation
        (sub / "bench.json").write_text("{}")
        tmp = sub / "bench.json.1234.tmp"
        tmp.write_text('{"a": 1}')
        tmp.rename(sub / "bench.json")
        time.sleep(0.3)
    assert watch.writes == 2
    assert watch.by_suffix == {".json": 2}
