"""Original DDIM checkpoints → diffusers UNet2DModel: exact outputs and complete key mappings."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file, save_file

from ddim_studio.core.models import (
    DDIMArchitecture,
    ModelLoadError,
    convert_state_dict,
    infer_architecture,
    load_ddim_checkpoint,
    load_model,
)
from ddim_studio.core.models.ddim_config import architecture_from_mapping
from ddim_studio.core.models.diffusers_adapter import build_unet

PROBE_TIMESTEPS = (0, 10, 250, 500, 999)
LISTINGS = ("cifar10", "celeba64", "lsun256")


def _assert_matches_reference(model, reference: Path) -> None:
    ref = load_file(reference)
    x_T = ref["x_T"]
    assert ref["timesteps_probe"].tolist() == list(PROBE_TIMESTEPS)
    for t in PROBE_TIMESTEPS:
        out = model(x_T, torch.full((x_T.shape[0],), t, dtype=torch.long))
        torch.testing.assert_close(out, ref[f"eps_t{t}"], rtol=0, atol=1e-5, msg=f"eps at t={t}")


def test_tiny_model_reproduces_the_official_outputs(tiny_checkpoint, tiny_config, tiny_reference) -> None:
    model, info = load_model(tiny_checkpoint, config=tiny_config)
    assert info.family == "ddim-original" and info.sample_shape == (3, 32, 32)
    assert model.sample_shape == (3, 32, 32) and model.schedule.prediction_type == "epsilon"
    assert info.num_parameters == sum(t.numel() for t in load_file(tiny_checkpoint).values())
    assert info.notes == []
    expected = torch.cumprod(1 - torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64), 0)
    torch.testing.assert_close(model.schedule.alpha_bar.double(), expected, rtol=1e-5, atol=1e-6)
    _assert_matches_reference(model, tiny_reference)


def test_official_yaml_layout(tmp_path, tiny_checkpoint, tiny_config, tiny_reference) -> None:
    flat = json.loads(tiny_config.read_text())
    official = {
        "data": {"dataset": "CIFAR10", "image_size": flat["resolution"], "channels": 3},
        "model": {k: flat[k] for k in ("ch", "out_ch", "ch_mult", "num_res_blocks", "attn_resolutions")}
        | {
            "type": "simple",
            "in_channels": 3,
            "dropout": 0.1,
            "resamp_with_conv": True,
            "var_type": "fixedlarge",
        },
        "diffusion": {
            k: flat[k] for k in ("beta_schedule", "beta_start", "beta_end", "num_diffusion_timesteps")
        },
    }
    config = tmp_path / "cifar10.yml"
    config.write_text(yaml.safe_dump(official))
    model, _info = load_model(tiny_checkpoint, config=config)
    _assert_matches_reference(model, tiny_reference)


def test_architecture_inferred_from_weights(tiny_checkpoint, tiny_reference) -> None:
    state = load_file(tiny_checkpoint)
    arch = infer_architecture(state, 32)
    assert arch == DDIMArchitecture(
        ch=32, ch_mult=(1, 2), num_res_blocks=1, attn_resolutions=(16,), resolution=32
    )
    model, info = load_model(tiny_checkpoint, resolution=32)
    assert any("weight shapes" in note for note in info.notes)
    assert any("assumed the linear schedule" in note for note in info.notes)
    _assert_matches_reference(model, tiny_reference)
    with pytest.raises(ModelLoadError, match="--model-config"):
        load_model(tiny_checkpoint)


def test_ermongroup_list_checkpoint_uses_the_ema_entry(
    tmp_path, tiny_checkpoint, tiny_config, tiny_reference
):
    ema = load_file(tiny_checkpoint)
    # The non-EMA weights, wrong on purpose: only the last entry gives the reference outputs.
    raw = {f"module.{k}": torch.zeros_like(v) for k, v in ema.items()}
    param = torch.nn.Parameter(torch.ones(3))
    optimizer = torch.optim.Adam([param])
    param.grad = torch.ones(3)
    optimizer.step()
    states = [raw, optimizer.state_dict(), 12, 34000, {f"module.{k}": v for k, v in ema.items()}]
    path = tmp_path / "ckpt.pth"
    torch.save(states, path)
    model, info = load_model(path, config=tiny_config)
    assert any("entry 4" in note for note in info.notes)
    _assert_matches_reference(model, tiny_reference)


def test_bare_state_dict_pth_with_module_prefix(
    tmp_path, tiny_checkpoint, tiny_config, tiny_reference
) -> None:
    path = tmp_path / "model-790000.ckpt"
    torch.save({f"module.{k}": v for k, v in load_file(tiny_checkpoint).items()}, path)
    model, info = load_ddim_checkpoint(path, config=tiny_config, dtype=torch.float64)
    assert info.name == "model-790000" and model.dtype == torch.float64
    _assert_matches_reference(model, tiny_reference)


def test_wrong_config_names_key_and_shapes(tmp_path, tiny_checkpoint, tiny_config) -> None:
    config = json.loads(tiny_config.read_text())
    config["ch_mult"] = [1, 4]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match=r"has shape \[\d+(, \d+)*\] but the config needs \[\d+"):
        load_model(tiny_checkpoint, config=bad)


def test_unknown_and_diffusers_keys(tmp_path, tiny_checkpoint, tiny_config) -> None:
    state = load_file(tiny_checkpoint)
    path = tmp_path / "extra.safetensors"
    save_file(state | {"down.0.block.0.gamma": torch.ones(1)}, path)
    with pytest.raises(ModelLoadError, match="down.0.block.0.gamma"):
        load_model(path, config=tiny_config)
    save_file(
        {"conv_in.weight": state["conv_in.weight"], "down_blocks.0.resnets.0.conv1.weight": torch.ones(1)},
        path,
    )
    with pytest.raises(ModelLoadError, match="config.json"):
        load_model(path, config=tiny_config)
    save_file({"foo": torch.ones(1)}, path)
    with pytest.raises(ModelLoadError, match="no model weights"):
        load_model(path, config=tiny_config)


def test_config_errors(tmp_path, tiny_checkpoint, tiny_config) -> None:
    config = json.loads(tiny_config.read_text())
    with pytest.raises(ModelLoadError, match="resolution 32 but 64"):
        load_model(tiny_checkpoint, config=tiny_config, resolution=64)
    broken = tmp_path / "broken.yml"
    broken.write_text("model: [unclosed")
    with pytest.raises(ModelLoadError, match="not valid JSON/YAML"):
        load_model(tiny_checkpoint, config=broken)
    del config["num_res_blocks"]
    missing = tmp_path / "missing.json"
    missing.write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match="num_res_blocks"):
        load_model(tiny_checkpoint, config=missing)
    config["num_res_blocks"], config["resamp_with_conv"] = 1, False
    missing.write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match="resamp_with_conv"):
        load_model(tiny_checkpoint, config=missing)


@pytest.mark.parametrize("name", LISTINGS)
def test_real_architectures_map_completely(fixture_file, name: str) -> None:
    """Every key of the official CIFAR-10 / CelebA / LSUN models lands on a UNet2DModel parameter."""
    listing = json.loads(fixture_file(f"{name}_keys.json").read_text())
    cfg = listing["config"]
    arch = architecture_from_mapping(cfg, cfg["resolution"], cfg["in_channels"])
    original = {k: torch.empty(shape, device="meta") for k, shape in listing["state_dict_shapes"].items()}
    assert sum(math.prod(t.shape) for t in original.values()) == listing["num_parameters"]
    converted = convert_state_dict(original, arch.num_levels)
    assert len(converted) == len(original)  # no two original keys collapse onto one
    expected = build_unet(arch.to_diffusers_config()).state_dict()
    assert sorted(converted) == sorted(expected), {
        "unmatched original": sorted(set(converted) - set(expected))[:5],
        "unfilled diffusers": sorted(set(expected) - set(converted))[:5],
    }
    for key, tensor in expected.items():
        assert converted[key].shape == tensor.shape, key
    assert sum(t.numel() for t in expected.values()) == listing["num_parameters"]
    inferred = infer_architecture(original, cfg["resolution"])
    assert inferred == arch
