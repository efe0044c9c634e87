"""Hub ids: which files are asked for, and what an offline machine is told."""

from __future__ import annotations

import pytest

from ddim_studio.core.models import ModelLoadError, hub_allow_patterns, load_model, looks_like_hub_id


def test_allow_patterns_fetch_only_configs_and_safetensors() -> None:
    patterns = hub_allow_patterns()
    for needed in (
        "config.json",
        "diffusion_pytorch_model.safetensors",
        "scheduler_config.json",
        "unet/config.json",
        "unet/diffusion_pytorch_model.safetensors",
        "scheduler/scheduler_config.json",
    ):
        assert needed in patterns
    assert not any(p.endswith((".bin", ".ckpt", ".pth", ".pt")) for p in patterns)
    assert not any("*" in p for p in patterns)  # no text encoder / VAE weights by accident


def test_allow_pickle_adds_bin_weights() -> None:
    patterns = hub_allow_patterns(allow_pickle=True)
    assert "diffusion_pytorch_model.bin" in patterns and "unet/diffusion_pytorch_model.bin" in patterns
    assert set(hub_allow_patterns()) < set(patterns)


@pytest.mark.parametrize(
    ("source", "is_hub"),
    [
        ("google/ddpm-cifar10-32", True),
        ("fusing/ddim-lsun-bedroom", True),
        ("runs/model.ckpt", False),
        ("runs/ema.safetensors", False),
        ("/abs/folder", False),
        ("./rel/folder", False),
        ("a/b/c", False),
        ("single", False),
    ],
)
def test_looks_like_hub_id(source: str, is_hub: bool) -> None:
    assert looks_like_hub_id(source) is is_hub


@pytest.mark.timeout(120)  # a hang guard: offline, nothing is fetched or retried
def test_offline_hub_id_says_how_to_open_a_local_copy(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)  # so that the id cannot be an existing relative path
    with pytest.raises(ModelLoadError, match="Could not reach the Hugging Face hub") as info:
        load_model("ddim-studio-tests/not-a-cached-repo")
    message = str(info.value)
    assert "could not reach the hugging face hub for 'ddim-studio-tests/not-a-cached-repo'" in message.lower()
    assert "--model PATH" in message


def test_missing_path_is_not_sent_to_the_hub(tmp_path) -> None:
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_model(str(tmp_path / "nothing" / "model.ckpt"))
