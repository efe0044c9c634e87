"""The quality-per-call table: measured, resumed, Table 1's DDIM cells reused, rendered."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.benchmarks.test_paper_tables import lines, model_dir, run

__all__ = ["model_dir"]  # the tiny model fixture of the Table 1/2 test, shared


def test_sampler_table_reuses_table1_and_resumes(model_dir: Path, tmp_path: Path) -> None:
    run(model_dir, tmp_path, "--steps", "2", "--etas", "0", "--only", "table1")
    args = ("--sampler-steps", "2,3", "--samplers", "dpmpp-2m,dpmpp-2m@trailing,ddim")
    out = run(model_dir, tmp_path, *args, "--only", "samplers")
    cells = {(c["sampler"], c["steps"]): c for c in lines(tmp_path / "samplers.jsonl")}
    assert set(cells) == {(s, n) for s in ("dpmpp-2m", "dpmpp-2m@trailing") for n in (2, 3)} | {("ddim", 3)}
    assert "ddim S=2" not in out  # Table 1's η = 0, S = 2 cell is the same draw: reused
    table1 = lines(tmp_path / "table1.jsonl")[0]
    # at S = 2 both steps are first order, so DPM-Solver++ draws exactly DDIM's samples (same seeds)
    assert cells[("dpmpp-2m", 2)]["swd"] == pytest.approx(table1["swd"], rel=1e-4)
    assert cells[("dpmpp-2m", 3)]["swd"] != pytest.approx(cells[("ddim", 3)]["swd"], rel=1e-4)

    out = run(model_dir, tmp_path, *args, "--only", "samplers,render")
    assert "samplers:" not in out and len(lines(tmp_path / "samplers.jsonl")) == 5
    md = (tmp_path / "paper_tables.md").read_text()
    assert f"| DDIM (η = 0), uniform spacing | {table1['swd']:.1f} (" in md and " †" in md
    assert "| DPM-Solver++(2M), trailing spacing |" in md
