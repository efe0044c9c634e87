"""Studio runs computing at once share the cores: each registers a locked file and takes its part."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from ddim_studio.core.cpu_share import CpuShare

ROOT = Path(__file__).resolve().parents[2]


class Threads:
    """A thread count and a clock standing in for torch's pool, so the test never resizes it."""

    def __init__(self, count: int) -> None:
        self.count, self.now, self.sets = count, 0.0, []

    def set(self, n: int) -> None:
        self.count = n
        self.sets.append(n)

    def share(self, folder: Path, cores: int = 4) -> CpuShare:
        return CpuShare(
            folder, cores, set_threads=self.set, get_threads=lambda: self.count, clock=lambda: self.now
        )


def test_runs_see_each_other_and_split_the_cores(tmp_path: Path) -> None:
    a, b = Threads(4), Threads(4)
    with a.share(tmp_path) as first:
        assert first.registered and first.runs() == 1 and first.threads() == 4
        with b.share(tmp_path) as second:
            assert first.runs() == second.runs() == 2
            assert first.threads() == 2
            with Threads(4).share(tmp_path):
                assert first.runs() == 3 and first.threads() == 1  # 4 // 3
        assert first.runs() == 1 and first.threads() == 4
    assert list(tmp_path.iterdir()) == []  # each run removed its file


def test_rebalance_looks_at_most_every_interval_and_restores_on_exit(tmp_path: Path) -> None:
    mine = Threads(4)
    with mine.share(tmp_path) as share:
        assert share.rebalance() is None  # alone: keeps its 4
        other = Threads(4).share(tmp_path).__enter__()
        assert share.rebalance() is None  # looked 0 s ago
        mine.now = 0.6
        assert share.rebalance() == 2 and mine.count == 2
        other.__exit__(None, None, None)
        mine.now = 0.8
        assert share.rebalance() is None  # within the interval: still 2
        mine.now = 1.2
        assert share.rebalance() == 4 and mine.count == 4
        other2 = Threads(4).share(tmp_path).__enter__()
        mine.now = 2.0
        assert share.rebalance() == 2
    other2.__exit__(None, None, None)
    assert mine.count == 4 and mine.sets == [2, 4, 2, 4]  # leaving gave the 4 threads back


def test_a_file_left_by_a_run_that_ended_is_removed_and_not_counted(tmp_path: Path) -> None:
    left = tmp_path / "999999-dead.lock"
    left.write_text("")
    with Threads(2).share(tmp_path, cores=2) as share:
        assert share.runs() == 1
    assert not left.exists()


def test_a_killed_run_stops_counting_at_once(tmp_path: Path) -> None:
    code = textwrap.dedent(
        f"""
        import sys, time
        from ddim_studio.core.cpu_share import CpuShare
        with CpuShare({str(tmp_path)!r}, 2):
            print("registered", flush=True)
            time.sleep(600)
        """
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "registered"
        with Threads(2).share(tmp_path, cores=2) as share:
            assert share.runs() == 2 and share.threads() == 1
            child.send_signal(signal.SIGKILL)  # no clean-up of its own: the system drops the lock
            child.wait(timeout=120)
            assert share.runs() == 1 and share.threads() == 2
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert list(tmp_path.iterdir()) == []


def test_a_folder_that_cannot_be_made_means_no_sharing_not_an_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    mine = Threads(4)
    with mine.share(blocker / "running") as share:
        assert not share.registered
        assert share.rebalance() is None and share.runs() == 1
    assert mine.sets == []
