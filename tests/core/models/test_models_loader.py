"""load_model's dispatch: default model, folders, files, hub ids, and what each refuses."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from diffusers import UNet2DModel
from safetensors.torch import save_file

from ddim_studio.core.models import DEFAULT_MODEL_DIR, ModelLoadError, loader


def test_default_model_dir_is_inside_the_package() -> None:
    assert DEFAULT_MODEL_DIR.parts[-3:] == ("resources", "models", "shapes32")  # ddim_studio.resources


def test_missing_default_model(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(loader, "DEFAULT_MODEL_DIR", tmp_path / "shapes32")
    with pytest.raises(ModelLoadError, match="default model is missing"):
        loader.load_model(None)


def test_shipped_default_model_loads() -> None:
    assert DEFAULT_MODEL_DIR.is_dir(), f"the shipped default model is missing at {DEFAULT_MODEL_DIR}"
    model, info = loader.load_model()
    x = torch.zeros(1, *model.sample_shape)
    assert model(x, torch.tensor([0])).shape == x.shape and info.name == "shapes32"


def test_dispatch_errors(tmp_path, tiny_config) -> None:
    unet = UNet2DModel(
        sample_size=8, block_out_channels=(8, 16), norm_num_groups=4,
        down_block_types=("DownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "UpBlock2D"),
    )  # fmt: skip
    unet.save_pretrained(tmp_path / "folder")
    with pytest.raises(ModelLoadError, match="--model-config is for original DDIM checkpoint"):
        loader.load_model(tmp_path / "folder", config=tiny_config)
    with pytest.raises(ModelLoadError, match="not a model file"):
        loader.load_model(tmp_path / "folder" / "config.json")
    single = tmp_path / "unet.safetensors"
    save_file(dict(unet.state_dict()), single)
    with pytest.raises(ModelLoadError, match="diffusers UNet2DModel weights.*config.json"):
        loader.load_model(single)


def test_core_models_do_not_import_qt() -> None:
    """The models package and what it loads lazily (diffusers, the hub client) work with Qt unimportable."""
    code = (
        "import sys\n"
        "for name in ('PySide6', 'PyQt5', 'PyQt6', 'shiboken6'):\n"
        "    sys.modules[name] = None\n"
        "import ddim_studio.core.models as m\n"
        "import diffusers, huggingface_hub, safetensors.torch, yaml\n"
        "m.hub_allow_patterns()\n"
        "from ddim_studio.core.models.diffusers_adapter import build_unet\n"
        "build_unet({'sample_size': 8, 'block_out_channels': [32] * 4})\n"
        "assert not any(k.startswith(('PySide6', 'PyQt')) and sys.modules[k] for k in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
