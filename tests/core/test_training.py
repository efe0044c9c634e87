"""The trainer: deterministic, resumable to the bit, the same with data workers; exports a loadable folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from ddim_studio.core.models import load_model
from ddim_studio.core.sampling import sample
from ddim_studio.training.config import TrainConfig
from ddim_studio.training.data import Prefetcher, step_inputs
from ddim_studio.training.export import export_model
from ddim_studio.training.trainer import HELD_OUT_SEED, Trainer, lr_at

TINY = TrainConfig(total_steps=6, batch_size=4, image_size=8, block_out_channels=(8, 16), warmup_steps=2)


def weights(trainer: Trainer) -> dict[str, torch.Tensor]:
    return {**trainer.model.state_dict(), **{f"ema.{k}": v for k, v in trainer.ema.state_dict().items()}}


def assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_step_inputs_are_deterministic_fresh_and_in_range() -> None:
    x0, t, noise = step_inputs(TINY, 3)
    again = step_inputs(TINY, 3)
    assert all(np.array_equal(u, v) for u, v in zip((x0, t, noise), again, strict=True))
    other = step_inputs(TINY, 4)[0]
    assert not np.array_equal(x0, other)  # fresh scenes every step
    assert x0.shape == (4, 3, 8, 8) and -1 <= x0.min() and x0.max() <= 1
    assert t.dtype == np.int64 and 0 <= t.min() and t.max() < 1000
    assert TINY.data_seed != HELD_OUT_SEED


def test_lr_warms_up_then_decays_to_the_floor() -> None:
    rates = [lr_at(s, TINY) for s in range(TINY.total_steps + 1)]
    assert rates[0] < rates[1] == pytest.approx(TINY.lr)
    assert rates[-1] == pytest.approx(TINY.lr_min)
    assert all(a >= b for a, b in zip(rates[1:], rates[2:], strict=False))


def test_a_resumed_run_matches_an_uninterrupted_one(tmp_path: Path) -> None:
    straight = Trainer(TINY, tmp_path / "a")
    straight.run(6, eval_every=3)
    first = Trainer(TINY, tmp_path / "b")
    first.run(3, eval_every=3)
    resumed = Trainer(TINY, tmp_path / "b")
    assert resumed.load() and resumed.step == 3
    resumed.run(6, eval_every=3)
    assert_same(weights(straight), weights(resumed))
    assert [h["step"] for h in resumed.history] == [3.0, 6.0]
    assert not torch.equal(
        straight.model.state_dict()["conv_in.weight"],
        Trainer(TINY, tmp_path / "c").model.state_dict()["conv_in.weight"],
    )


def test_data_workers_give_the_same_run(tmp_path: Path) -> None:
    inline = Trainer(TINY, tmp_path / "inline")
    inline.run(4)
    pooled = Trainer(TINY, tmp_path / "pooled")
    pooled.run(4, data_workers=2)
    assert_same(weights(inline), weights(pooled))


def test_prefetcher_refuses_steps_out_of_order() -> None:
    with Prefetcher(TINY, 0, 10, workers=1) as batches:
        batches.get(0)
        with pytest.raises(RuntimeError, match="step 5"):
            batches.get(5)


def test_export_writes_a_folder_the_app_loads(tmp_path: Path) -> None:
    trainer = Trainer(TINY, tmp_path / "run")
    trainer.run(2)
    folder = export_model(trainer, tmp_path / "model", weights="raw", metrics_md="SWD 1.0")
    scheduler = json.loads((folder / "scheduler_config.json").read_text())
    assert scheduler["prediction_type"] == "v_prediction" and scheduler["clip_sample"] is False
    assert scheduler["beta_start"] == pytest.approx(1e-4) and scheduler["beta_end"] == pytest.approx(0.02)
    card = (folder / "README.md").read_text()
    assert "2 of 6 planned" in card and "raw (not EMA)" in card and "SWD 1.0" in card
    assert "self-attention in the mid-block only" in card and "no attention" not in card
    assert "## Licence\nMIT" in card
    model, info = load_model(folder)
    assert info.prediction_type == "v_prediction"
    x = sample(model, torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(0)), steps=3)
    assert x.shape == (2, 3, 8, 8) and torch.isfinite(x).all()
    loaded = dict(model.unet.state_dict())  # type: ignore[attr-defined]
    assert_same({k: v.float() for k, v in loaded.items()}, trainer.model.state_dict())


def test_the_shipped_model_card_says_where_its_attention_is() -> None:
    """issue 26: the card said "no attention" while config.json has add_attention: true."""
    from diffusers import UNet2DModel

    from ddim_studio.core.models import DEFAULT_MODEL_DIR
    from ddim_studio.training.export import attention_description

    config = json.loads((DEFAULT_MODEL_DIR / "config.json").read_text())
    unet = UNet2DModel.from_config(config)
    words = attention_description(unet, config["sample_size"], len(config["block_out_channels"]))
    assert config["add_attention"] is True
    assert words == "self-attention in the mid-block only (at 8×8, 16,768 parameters)"
    assert words in (DEFAULT_MODEL_DIR / "README.md").read_text(encoding="utf-8")


def test_train_command_shows_progress_resumes_and_exports(tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "ddim_studio", "train", "--workdir", str(tmp_path / "run"), "--steps", "3"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    first = subprocess.run([*cmd, "--until", "1"], capture_output=True, text=True, env=env, timeout=300)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "1/1" in first.stderr  # the progress bar
    second = subprocess.run(
        [*cmd, "--export", str(tmp_path / "model")], capture_output=True, text=True, env=env, timeout=300
    )
    assert second.returncode == 0, second.stderr[-2000:]
    assert "resumed at step 1" in second.stderr
    assert "3 of 3 planned" in (tmp_path / "model" / "README.md").read_text()
    assert (tmp_path / "model" / "diffusion_pytorch_model.safetensors").stat().st_size > 1_000_000
