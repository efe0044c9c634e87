"""The command line and the window tell the same truth: CLI pictures restore, MSE/PSNR agree."""

from __future__ import annotations

import json

import pytest
import torch

from ddim_studio.cli import main
from ddim_studio.core.imaging import read_params
from ddim_studio.core.latents import load_latent
from ddim_studio.ui import dialogs
from tests.ui.conftest import wait_idle
from tests.ui.test_encode import drop_files


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    capsys.readouterr()
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_a_cli_sample_with_latent_restores_in_the_window(qtbot, window, outputs, tiny_model, capsys) -> None:  # type: ignore[no-untyped-def]
    args = ["sample", "-n", "1", "--seed", "5", "--steps", "3", "--save-latents"]
    _cli(capsys, *args, "--model", str(tiny_model), "--out", str(outputs))
    png = outputs / "seed-000005.png"
    params = read_params(png)
    assert params is not None
    assert params["kind"] == "sample" and params["app"] == "ddim-studio" and params["sampler"] == "ddim"
    window.services.library.refresh()
    row = [item.png for item in window.services.library.items].index(png)
    window.gallery_view.select_row(row)
    assert window.gallery.selected().png == png
    assert window.gallery_view.reuse_params_button.isEnabled()  # a studio sample: Reuse works

    asked = []
    ask = dialogs.ask
    dialogs.ask = lambda *a, **k: asked.append(a) or "encode"  # a fitting latent: no question
    try:
        assert drop_files(window.encode_view, png)
        wait_idle(qtbot, window)
    finally:
        dialogs.ask = ask
    assert asked == []
    saved, _ = load_latent(outputs / "seed-000005.safetensors")
    assert window.encode.params["restored"] is True  # its latent was decoded, not re-inverted
    assert torch.equal(window.encode.x_T, saved)
    assert window.encode.mse == 0.0


def test_cli_and_window_report_the_same_mse_and_psnr(
    qtbot, window, picture, tiny_model, tmp_path, capsys
) -> None:  # type: ignore[no-untyped-def]
    out = _cli(
        capsys, "encode", str(picture), "--steps", "4", "--model", str(tiny_model), "--out", str(tmp_path)
    )
    cli_mse, cli_psnr = out["results"][0]["mse"], out["results"][0]["psnr"]

    window.set_mode(1)
    assert drop_files(window.encode_view, picture)
    window.encode_view.steps.spin.setValue(4)
    window.encode.encode()
    wait_idle(qtbot, window)
    assert window.encode.params["kind"] == "encode" and "restored" not in window.encode.params
    assert window.encode.mse == pytest.approx(cli_mse, rel=1e-6, abs=1e-12)
    assert window.encode.psnr == pytest.approx(cli_psnr, rel=1e-6)
    saved = read_params(tmp_path / f"{picture.stem}-recon.png")
    assert saved is not None and saved["mse"] == pytest.approx(window.encode.mse, rel=1e-6)
