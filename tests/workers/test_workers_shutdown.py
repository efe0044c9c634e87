"""Closing the app during a job: exit code 0, no "QThread: Destroyed while thread is still running"."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("close_during_job.py")


@pytest.mark.parametrize("mode", ["shutdown", "quit", "drop"])
def test_close_during_a_job_in_a_subprocess(mode):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "OMP_NUM_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, str(SCRIPT), mode], capture_output=True, text=True, timeout=120, env=env
    )
    assert out.returncode == 0, out.stderr
    assert "QThread" not in out.stderr and "Destroyed" not in out.stderr, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0] == "step" and not any(x.startswith("finished") for x in lines)
    if mode == "drop":  # no shutdown: the runner's finalizer stopped the thread
        assert lines[-1] == "exited dropped"
        return
    assert "cancelled 1" in lines and "cancelled 2" in lines
    assert lines[-1] == "exited False"
    if mode == "shutdown":
        assert "shutdown True" in lines
