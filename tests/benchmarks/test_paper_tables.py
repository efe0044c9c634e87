"""The paper-tables benchmark runs end to end on a tiny real model, resumes, and renders both tables."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from diffusers import UNet2DModel

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "paper_tables.py"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random 32×32 diffusers UNet (the scenes' size) with its scheduler config."""
    folder = tmp_path_factory.mktemp("tiny32")
    UNet2DModel(
        sample_size=32,
        block_out_channels=(8, 16),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "UpBlock2D"),
        norm_num_groups=4,
    ).save_pretrained(folder)
    scheduler = {"num_train_timesteps": 1000, "beta_schedule": "linear", "prediction_type": "epsilon"}
    (folder / "scheduler_config.json").write_text(json.dumps(scheduler))
    return folder


def run(model_dir: Path, out: Path, *args: str) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, str(SCRIPT), "--model", str(model_dir), "--out", str(out), "--num", "16"]
    done = subprocess.run([*cmd, *args], capture_output=True, text=True, env=env, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_tables_are_measured_resumed_and_rendered(model_dir: Path, tmp_path: Path) -> None:
    common = ("--steps", "2,3", "--etas", "0,1", "--recon", "4", "--recon-steps", "2,5")
    run(model_dir, tmp_path, *common, "--only", "table1,table2")
    table1, table2 = lines(tmp_path / "table1.jsonl"), lines(tmp_path / "table2.jsonl")
    assert {(c["eta"], c["steps"]) for c in table1} == {(0.0, 2), (0.0, 3), (1.0, 2), (1.0, 3)}
    assert all(c["swd"] > 0 and c["num"] == 16 for c in table1)
    assert [c["steps"] for c in table2] == [2, 5] and all(0 < c["mse"] < float("inf") for c in table2)
    bounds = json.loads((tmp_path / "table1_bounds.json").read_text())
    assert 0 < bounds["floor"] < bounds["ceiling"]

    out = run(model_dir, tmp_path, *common, "--only", "table1,table2,render")  # a rerun skips all cells
    assert len(lines(tmp_path / "table1.jsonl")) == 4 and len(lines(tmp_path / "table2.jsonl")) == 2
    assert "table 1: η" not in out and "table 2: S" not in out
    md = (tmp_path / "paper_tables.md").read_text()
    swd = {(c["eta"], c["steps"]): c["swd"] for c in table1}
    assert f"| 1 | {swd[(1.0, 2)]:.1f} | {swd[(1.0, 3)]:.1f} |" in md
    mse = "| this model | {:.2g} | {:.2g} | – |".format(*(c["mse"] for c in table2))
    assert mse in md  # S = 2 and 5 measured; S = 10, the next column, not
    assert "paper, CIFAR-10 | – | – | 0.014 |" in md and "4 held-out scenes" in md
