"""Fixtures of the command-line tests: a tiny real diffusers model folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers.models import tiny_unet


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random 8×8 UNet2DModel saved as a diffusers folder with its scheduler config."""
    folder = tmp_path_factory.mktemp("tiny-model")
    tiny_unet(seed=1).save_pretrained(folder)
    (folder / "scheduler_config.json").write_text(
        json.dumps(
            {
                "_class_name": "DDIMScheduler",
                "num_train_timesteps": 1000,
                "beta_schedule": "linear",
                "prediction_type": "epsilon",
                "clip_sample": True,
            }
        )
    )
    return folder
