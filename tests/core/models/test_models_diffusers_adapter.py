"""diffusers folders: round trips in every layout, and every way a folder can be broken."""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import pytest
import torch
from diffusers import UNet2DModel

from ddim_studio.core.models import DiffusersUNet, DiffusionModel, ModelLoadError, load_model, resolve_device

SCHEDULER = {
    "_class_name": "DDIMScheduler",
    "num_train_timesteps": 500,
    "beta_schedule": "scaled_linear",
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "prediction_type": "v_prediction",
    "clip_sample": True,
}


def _unet(seed: int = 0, channels: tuple[int, int] = (8, 16)) -> UNet2DModel:
    torch.manual_seed(seed)
    return UNet2DModel(
        sample_size=8,
        in_channels=3,
        out_channels=3,
        block_out_channels=channels,
        layers_per_block=1,
        down_block_types=("DownBlock2D", "AttnDownBlock2D"),
        up_block_types=("AttnUpBlock2D", "UpBlock2D"),
        norm_num_groups=4,
        attention_head_dim=4,
    ).eval()


def _pipeline_folder(root: Path, unet: UNet2DModel, safe: bool = True) -> Path:
    unet.save_pretrained(root / "unet", safe_serialization=safe)
    (root / "scheduler").mkdir(parents=True)
    (root / "scheduler" / "scheduler_config.json").write_text(json.dumps(SCHEDULER))
    (root / "model_index.json").write_text(json.dumps({"_class_name": "DDIMPipeline"}))
    return root


def _inputs() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    return torch.randn(2, 3, 8, 8, generator=generator), torch.tensor([3, 420])


def _expected(unet: UNet2DModel) -> torch.Tensor:
    x, t = _inputs()
    with torch.no_grad():
        return unet(x, t).sample


@pytest.mark.parametrize("open_subfolder", [False, True])
def test_pipeline_layout_round_trip(tmp_path, open_subfolder: bool) -> None:
    unet = _unet()
    root = _pipeline_folder(tmp_path / "pipe", unet)
    model, info = load_model(root / "unet" if open_subfolder else root)
    assert isinstance(model, DiffusersUNet) and isinstance(model, DiffusionModel)
    torch.testing.assert_close(model(*_inputs()), _expected(unet), rtol=0, atol=0)
    assert model.sample_shape == (3, 8, 8) and info.sample_shape == (3, 8, 8)
    assert info.family == "diffusers" and info.prediction_type == "v_prediction"
    assert info.clip_sample_requested is True and info.notes == []
    assert info.num_parameters == sum(p.numel() for p in unet.parameters())
    assert model.schedule.num_train_timesteps == 500 and model.schedule.beta_schedule == "scaled_linear"


def test_flat_layout_and_default_schedule(tmp_path) -> None:
    unet = _unet(seed=2)
    unet.save_pretrained(tmp_path / "flat")
    model, info = load_model(tmp_path / "flat")
    assert model.schedule.num_train_timesteps == 1000 and model.schedule.prediction_type == "epsilon"
    assert any("scheduler_config.json" in note for note in info.notes)
    (tmp_path / "flat" / "scheduler_config.json").write_text(json.dumps(SCHEDULER))
    model, info = load_model(tmp_path / "flat")
    assert model.schedule.prediction_type == "v_prediction" and info.notes == []
    torch.testing.assert_close(model(*_inputs()), _expected(unet), rtol=0, atol=0)


@pytest.mark.parametrize("force_unsafe", [False, True])
def test_bin_weights_load_tensors_only(tmp_path, monkeypatch, force_unsafe: bool) -> None:
    if force_unsafe:
        monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    unet = _unet(seed=3)
    root = _pipeline_folder(tmp_path / "pipe", unet, safe=False)
    assert (root / "unet" / "diffusion_pytorch_model.bin").is_file()
    model, _ = load_model(root)
    torch.testing.assert_close(model(*_inputs()), _expected(unet), rtol=0, atol=0)


def test_device_dtype_and_scalar_timestep(tmp_path) -> None:
    unet = _unet(seed=4)
    root = _pipeline_folder(tmp_path / "pipe", unet)
    model, _ = load_model(root, device="auto", dtype=torch.float64)
    assert model.dtype == torch.float64 and model.device == resolve_device("auto")
    x, _t = _inputs()
    out = model(x, torch.tensor(7))
    assert out.dtype == torch.float32 and out.shape == x.shape
    with torch.no_grad():
        reference = unet.double()(x.double(), torch.tensor([7, 7])).sample
    torch.testing.assert_close(model(x.double(), torch.tensor([7, 7])), reference)
    with pytest.raises(ModelLoadError, match="floating"):
        load_model(root, dtype=torch.int64)


def test_resolve_device() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in ("cpu", "cuda", "mps")
    with pytest.raises(ModelLoadError, match="Unknown device"):
        resolve_device("toaster")
    if not torch.cuda.is_available():
        with pytest.raises(ModelLoadError, match="CUDA is not available"):
            resolve_device("cuda")


def test_shape_mismatch_names_key_and_both_shapes(tmp_path) -> None:
    root = _pipeline_folder(tmp_path / "pipe", _unet())
    other = _unet(channels=(8, 24))
    other.save_pretrained(tmp_path / "other")
    shutil.copy(tmp_path / "other" / "config.json", root / "unet" / "config.json")
    with pytest.raises(
        ModelLoadError, match=r"'down_blocks\.1\.\S+' has shape \[16.*\] but the config needs \[24"
    ):
        load_model(root)


def test_missing_and_extra_weights(tmp_path) -> None:
    from safetensors.torch import load_file, save_file

    root = _pipeline_folder(tmp_path / "pipe", _unet())
    weights = root / "unet" / "diffusion_pytorch_model.safetensors"
    state = load_file(weights)
    save_file({k: v for k, v in state.items() if k != "conv_out.bias"}, weights)
    with pytest.raises(ModelLoadError, match="lacks 1 weight.*conv_out.bias"):
        load_model(root)
    save_file(state | {"extra.weight": torch.ones(1)}, weights)
    with pytest.raises(ModelLoadError, match="does not use.*extra.weight"):
        load_model(root)


def _edit_config(root: Path, **changes) -> None:
    path = root / "unet" / "config.json"
    config = json.loads(path.read_text())
    config.update(changes)
    path.write_text(json.dumps(config))


def test_broken_configs(tmp_path) -> None:
    root = _pipeline_folder(tmp_path / "pipe", _unet())
    _edit_config(root, down_block_types=["DownBlock2D", "WarpDriveBlock2D"])
    with pytest.raises(ModelLoadError, match="WarpDriveBlock2D"):
        load_model(root)
    _edit_config(root, _class_name="UNet2DConditionModel")
    with pytest.raises(ModelLoadError, match="UNet2DConditionModel"):
        load_model(root)
    (root / "unet" / "config.json").write_text("{not json")
    with pytest.raises(ModelLoadError, match="not valid JSON"):
        load_model(root)
    (root / "scheduler" / "scheduler_config.json").write_text(
        json.dumps(SCHEDULER | {"prediction_type": "x"})
    )
    _pipeline_folder(tmp_path / "pipe2", _unet())
    shutil.copy(root / "scheduler" / "scheduler_config.json", tmp_path / "pipe2" / "scheduler")
    with pytest.raises(ModelLoadError, match="prediction_type"):
        load_model(tmp_path / "pipe2")


def test_folder_without_weights_lists_what_it_looked_for(tmp_path) -> None:
    root = _pipeline_folder(tmp_path / "pipe", _unet())
    (root / "unet" / "diffusion_pytorch_model.safetensors").unlink()
    with pytest.raises(
        ModelLoadError, match="diffusion_pytorch_model.safetensors, diffusion_pytorch_model.bin"
    ):
        load_model(root)
    with pytest.raises(ModelLoadError, match="no config.json"):
        load_model(tmp_path)


def test_damaged_safetensors_weights(tmp_path) -> None:
    root = _pipeline_folder(tmp_path / "pipe", _unet())
    weights = root / "unet" / "diffusion_pytorch_model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(ModelLoadError, match="truncated"):
        load_model(root)
    weights.write_bytes(struct.pack("<Q", 2**63) + data[8:])
    with pytest.raises(ModelLoadError, match="header claims 9223372036854775808 bytes"):
        load_model(root)


def test_learned_variance_unet_returns_the_prediction_half(tmp_path) -> None:
    torch.manual_seed(6)
    unet = UNet2DModel(
        sample_size=8, in_channels=3, out_channels=6, block_out_channels=(8, 16), layers_per_block=1,
        down_block_types=("DownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "UpBlock2D"),
        norm_num_groups=4,
    ).eval()  # fmt: skip
    unet.save_pretrained(tmp_path / "var")
    model, info = load_model(tmp_path / "var")
    assert any("variance" in note for note in info.notes)
    torch.testing.assert_close(model(*_inputs()), _expected(unet)[:, :3], rtol=0, atol=0)
