"""``--backend`` and ``--precision`` on the command line: saved, shown, fallbacks as notes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ddim_studio.cli import main
from ddim_studio.core.imaging import read_params, tensor_to_uint8
from ddim_studio.core.models import load_model
from ddim_studio.core.noise import initial_noise
from ddim_studio.core.sampling import sample

REPO = Path(__file__).resolve().parents[2]


def _sample(tiny_model_dir: Path, out: Path, capsys: pytest.CaptureFixture[str], *flags: str) -> dict:
    argv = ["sample", "--model", str(tiny_model_dir), "--num", "2", "--steps", "5", "--out", str(out)]
    assert main([*argv, "--json", *flags]) == 0
    return json.loads(capsys.readouterr().out)


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"), dtype=np.int16)


def test_torch_exact_is_todays_output_and_is_saved(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    summary = _sample(tiny_model_dir, tmp_path / "a", capsys, "--backend", "torch", "--precision", "exact")
    assert (summary["backend"], summary["precision"]) == ("torch", "exact")
    model, _ = load_model(tiny_model_dir)
    x_T, _ = initial_noise([0, 1], model.sample_shape)
    with torch.inference_mode():
        expected = tensor_to_uint8(sample(model, x_T, steps=5, eta=0.0))
    for index, png in enumerate(sorted((tmp_path / "a").glob("*.png"))):
        assert np.array_equal(_pixels(png), expected[index].astype(np.int16))  # bit for bit
        params = read_params(png)
        assert (params["backend"], params["precision"]) == ("torch", "exact")


def test_openvino_backend_close_to_torch_and_saved(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("openvino")
    monkeypatch.setenv("DDIM_STUDIO_CACHE_DIR", str(tmp_path / "cache"))
    torch_run = _sample(tiny_model_dir, tmp_path / "t", capsys, "--backend", "torch")
    ov_run = _sample(tiny_model_dir, tmp_path / "o", capsys, "--backend", "openvino", "--precision", "exact")
    assert (ov_run["backend"], ov_run["precision"]) == ("openvino", "exact")
    assert torch_run["backend"] == "torch"
    pngs = [sorted((tmp_path / name).glob("*.png")) for name in ("t", "o")]
    for a, b in zip(*pngs, strict=True):
        assert np.abs(_pixels(a) - _pixels(b)).max() <= 1  # f32 on both: at most one level of rounding
        assert read_params(b)["backend"] == "openvino"


def test_without_openvino_the_command_runs_on_torch_with_a_note(tiny_model_dir: Path, tmp_path: Path) -> None:
    code = textwrap.dedent(
        f"""
        import sys
        sys.modules["openvino"] = None  # import openvino fails, as on a machine without it
        from ddim_studio.cli import main
        sys.exit(main(["sample", "--model", {str(tiny_model_dir)!r}, "--num", "1", "--steps", "3",
                       "--out", {str(tmp_path / "out")!r}, "--backend", "openvino", "--json"]))
        """
    )
    env = {**os.environ, "DDIM_STUDIO_CACHE_DIR": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    notes = [line for line in done.stderr.splitlines() if "OpenVINO" in line]
    assert notes == [
        "note: OpenVINO is not installed, so torch runs the model (pip install 'ddim-studio[openvino]')."
    ]
    assert json.loads(done.stdout)["backend"] == "torch"


def test_the_command_line_sets_a_passive_openmp_wait_policy(tiny_model_dir: Path, tmp_path: Path) -> None:
    code = textwrap.dedent(
        f"""
        import os, sys
        from ddim_studio.cli import main
        main(["sample", "--model", {str(tiny_model_dir)!r}, "--num", "1", "--steps", "2",
              "--out", {str(tmp_path / "out")!r}, "--backend", "torch"])
        print(os.environ.get("OMP_WAIT_POLICY"))
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True)
    assert done.stdout.strip().splitlines()[-1] == "PASSIVE", done.stderr
    env["OMP_WAIT_POLICY"] = "ACTIVE"  # the user's own choice stays
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True)
    assert done.stdout.strip().splitlines()[-1] == "ACTIVE", done.stderr
