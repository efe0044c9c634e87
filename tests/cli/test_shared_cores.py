"""The command line shares the cores with other studio runs computing at once (``core/cpu_share.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ddim_studio.cli import main
from ddim_studio.core.cpu_share import CpuShare
from ddim_studio.core.resources import cache_dir


def test_the_command_line_takes_its_part_while_another_run_computes(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    seen: list[int] = []
    real = torch.set_num_threads
    monkeypatch.setattr(torch, "set_num_threads", lambda n: (seen.append(n), real(n)))
    try:
        with CpuShare(cache_dir("running"), 2):  # another run, computing
            args = ["sample", "--model", str(tiny_model_dir), "--num", "1", "--steps", "3"]
            assert main([*args, "--out", str(tmp_path / "out")]) == 0
        assert seen == [1, 2]  # one thread while the other ran, the two back at the end
        assert torch.get_num_threads() == 2
        seen.clear()
        monkeypatch.setenv("OMP_NUM_THREADS", "2")  # the user's (or torchrun's) count is left alone
        with CpuShare(cache_dir("running"), 2):
            assert main([*args, "--seed", "7", "--out", str(tmp_path / "out2")]) == 0
        assert seen == []
    finally:
        real(before)
