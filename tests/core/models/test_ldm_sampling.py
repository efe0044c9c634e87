"""Latent diffusion models sample as diffusers' own components do (VQ and KL, ε and v)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from diffusers import AutoencoderKL, DDIMScheduler, LDMPipeline, UNet2DModel, VQModel

from ddim_studio.core.models import load_model
from ddim_studio.core.models.latent import SD_SCALE, autoencoder_of, choose_scale, latent_mask, picture_shape
from ddim_studio.core.models.protocol import ModelLoadError
from ddim_studio.operations.run import run_to_end
from ddim_studio.operations.sample import decode_latents, sample_seeds
from tests.helpers.ldm import save_ldm_folder

STEPS = 6


def reference_loop(folder: Path, x_T: torch.Tensor, *, quantize: bool = True) -> torch.Tensor:
    """diffusers' components, our own loop: DDIMScheduler over the same timesteps, then decode."""
    unet = UNet2DModel.from_pretrained(folder / "unet").eval()
    cls = VQModel if (folder / "vqvae" / "config.json").read_text().find("VQModel") >= 0 else AutoencoderKL
    ae = cls.from_pretrained(folder / "vqvae").eval()
    scheduler = DDIMScheduler.from_pretrained(folder / "scheduler")
    scheduler.set_timesteps(STEPS)
    x = x_T.clone()
    with torch.no_grad():
        for t in scheduler.timesteps:
            x = scheduler.step(unet(x, t).sample, t, x, eta=0.0).prev_sample
        if cls is VQModel:
            return ae.decode(x, force_not_quantize=not quantize).sample
        return ae.decode(x).sample


@pytest.mark.parametrize(
    ("kind", "prediction"),
    [("vq", "epsilon"), ("vq", "v_prediction"), ("kl", "epsilon"), ("kl", "v_prediction")],
)
def test_sampling_equals_diffusers_components(tmp_path: Path, kind: str, prediction: str) -> None:
    folder = save_ldm_folder(tmp_path / "ldm", kind, prediction_type=prediction)
    model, info = load_model(folder)
    assert info.space == "latent" and info.autoencoder == kind and info.latent_scale == 1.0
    assert picture_shape(model) == (3, 16, 16) and model.sample_shape[1:] == (8, 8)
    x_T = torch.randn(2, *model.sample_shape, generator=torch.Generator().manual_seed(3))
    out = run_to_end(decode_latents(model, x_T, steps=STEPS, spacing="leading"))
    expected = reference_loop(folder, x_T)
    assert out.images.shape == (2, 3, 16, 16)
    assert torch.equal(out.x_T, x_T)  # x_T stays in latent space
    assert (out.images - expected).abs().max() <= 1 / 255
    assert expected.std() > 0.05  # a real picture, not a constant both sides agree on


def test_unquantized_decode_differs_and_matches(tmp_path: Path) -> None:
    folder = save_ldm_folder(tmp_path / "ldm", "vq")
    model, _ = load_model(folder)
    x_T = torch.randn(1, *model.sample_shape, generator=torch.Generator().manual_seed(5))
    plain = run_to_end(decode_latents(model, x_T, steps=STEPS, spacing="leading", quantize=False)).images
    snapped = run_to_end(decode_latents(model, x_T, steps=STEPS, spacing="leading")).images
    assert (plain - reference_loop(folder, x_T, quantize=False)).abs().max() <= 1 / 255
    assert (plain - snapped).abs().max() > 1e-3  # the codebook snap changes the picture


def test_equals_ldm_pipeline_with_its_scale_set(tmp_path: Path) -> None:
    folder = save_ldm_folder(tmp_path / "ldm", "vq")
    model, _ = load_model(folder)
    pipe = LDMPipeline.from_pretrained(folder)
    pipe.set_progress_bar_config(disable=True)
    assert pipe.vqvae.config.scaling_factor == 1.0  # the scale set right (issue 6725)
    ours = run_to_end(sample_seeds(model, [11], steps=STEPS, spacing="leading")).images
    theirs = pipe(
        generator=torch.Generator().manual_seed(11), num_inference_steps=STEPS, output_type="np"
    ).images
    ours01 = (ours / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1).numpy()
    assert abs(ours01 - theirs).max() <= 1 / 255


def test_old_pipeline_name_and_missing_scale(tmp_path: Path) -> None:
    folder = save_ldm_folder(
        tmp_path / "ldm", "vq", scaling_factor=None, pipeline="LatentDiffusionUncondPipeline"
    )
    model, info = load_model(folder)
    assert info.latent_scale == 1.0 and "no scaling_factor" in info.latent_scale_reason
    assert autoencoder_of(model).scale.value == 1.0


def test_scale_rules() -> None:
    assert choose_scale("vq", config_value=SD_SCALE).value == 1.0  # copied in by mistake
    assert choose_scale("vq", config_value=0.5).value == 0.5
    assert choose_scale("kl", config_value=SD_SCALE).value == SD_SCALE
    assert choose_scale("kl", config_value=0.3, checkpoint_value=0.2).value == 0.2
    chosen = choose_scale("kl", config_value=0.3, checkpoint_value=0.2, override=0.7)
    assert chosen.value == 0.7 and "by hand" in chosen.reason
    with pytest.raises(ModelLoadError, match="positive"):
        choose_scale("kl", override=-1.0)


def test_latent_scale_override_changes_the_pictures(tmp_path: Path) -> None:
    folder = save_ldm_folder(tmp_path / "ldm", "kl")
    model, _ = load_model(folder)
    scaled, info = load_model(folder, latent_scale=0.5)
    assert info.latent_scale == 0.5 and "by hand" in info.latent_scale_reason
    x = torch.randn(1, *model.sample_shape, generator=torch.Generator().manual_seed(2))
    a = autoencoder_of(model).decode(x)
    b = autoencoder_of(scaled).decode(x * 0.5)  # same latent once the scale is taken out
    assert (a - b).abs().max() < 1e-5


def test_latent_mask_marks_a_cell_when_any_pixel_is_masked() -> None:
    mask = torch.zeros(1, 1, 16, 16)
    mask[..., 5, 9] = 1.0  # one pixel: cell (2, 4) of the 8 × 8 grid
    cells = latent_mask(mask, (8, 8))
    assert cells.shape == (1, 1, 8, 8) and cells.sum() == 1 and cells[0, 0, 2, 4] == 1


def test_hostile_autoencoder_configs_fail_in_one_line(tmp_path: Path) -> None:
    import json

    folder = save_ldm_folder(tmp_path / "ldm", "vq")
    path = folder / "vqvae" / "config.json"
    good = json.loads(path.read_text())
    for patch, words in (
        ({"layers_per_block": 10_000}, "layers_per_block"),
        ({"num_vq_embeddings": 10**12}, "num_vq_embeddings"),
        ({"_class_name": "UNet2DModel"}, "VQModel or an AutoencoderKL"),
        ({"latent_channels": 5, "vq_embed_dim": 5}, "do not belong together"),
    ):
        path.write_text(json.dumps({**good, **patch}))
        with pytest.raises(ModelLoadError, match=words) as err:
            load_model(folder)
        assert "\n" not in str(err.value)
    path.write_text(json.dumps(good))
    weights = folder / "vqvae" / "diffusion_pytorch_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:5000])  # truncated
    with pytest.raises(ModelLoadError, match=r"\w") as err:  # any one-line message (checked below)
        load_model(folder)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(("kind", "prediction"), [("vq", "eps"), ("kl", "v")])
def test_compvis_checkpoint_samples_as_its_diffusers_twin(tmp_path: Path, kind: str, prediction: str) -> None:
    from tests.helpers.ldm import tiny_autoencoder, tiny_ldm_unet
    from tests.helpers.ldm_compvis import write_compvis

    diffusers_prediction = {"eps": "epsilon", "v": "v_prediction"}[prediction]
    twin = save_ldm_folder(tmp_path / "twin", kind, prediction_type=diffusers_prediction)
    unet, ae = tiny_ldm_unet(3 if kind == "vq" else 4, 0), tiny_autoencoder(kind, 1)
    ckpt, yaml_path = write_compvis(tmp_path / "compvis", unet, ae, kind, prediction=prediction)
    original, info = load_model(ckpt, config=yaml_path)
    reference, _ = load_model(twin)
    assert info.family == "ldm-original" and info.space == "latent" and info.autoencoder == kind
    assert any("EMA" in note for note in info.notes)
    assert info.latent_scale == 1.0 and info.prediction_type == diffusers_prediction
    if kind == "kl":
        assert "checkpoint's scale_factor" in info.latent_scale_reason  # the buffer beat the YAML's 0.5
    a = run_to_end(sample_seeds(original, [4, 5], steps=STEPS, spacing="leading")).images
    b = run_to_end(sample_seeds(reference, [4, 5], steps=STEPS, spacing="leading")).images
    assert (a - b).abs().max() <= 1 / 255 and b.std() > 0.05


def test_compvis_checkpoint_hostile(tmp_path: Path) -> None:
    import yaml

    from tests.helpers.ldm import tiny_autoencoder, tiny_ldm_unet
    from tests.helpers.ldm_compvis import write_compvis

    ckpt, yaml_path = write_compvis(tmp_path / "c", tiny_ldm_unet(3), tiny_autoencoder("vq"), "vq")
    good = yaml.safe_load(yaml_path.read_text())
    unet_params = good["model"]["params"]["unet_config"]["params"]
    for change, words in (
        ({"model_channels": 10**9}, "model_channels"),
        ({"num_res_blocks": 2}, "belong"),
        ({"channel_mult": [1] * 50}, "channel_mult"),
    ):
        bad = yaml.safe_load(yaml_path.read_text())
        bad["model"]["params"]["unet_config"]["params"] = {**unet_params, **change}
        yaml_path.write_text(yaml.safe_dump(bad))
        with pytest.raises(ModelLoadError, match=words) as err:
            load_model(ckpt, config=yaml_path)
        assert "\n" not in str(err.value)
    yaml_path.write_text(yaml.safe_dump(good))
    ckpt.write_bytes(ckpt.read_bytes()[:20000])  # truncated
    with pytest.raises(ModelLoadError, match=r"\w") as err:  # any one-line message (checked below)
        load_model(ckpt, config=yaml_path)
    assert "\n" not in str(err.value)


def test_compvis_checkpoint_without_its_yaml_says_so(tmp_path: Path) -> None:
    from tests.helpers.ldm import tiny_autoencoder, tiny_ldm_unet
    from tests.helpers.ldm_compvis import write_compvis

    ckpt, _ = write_compvis(tmp_path / "c", tiny_ldm_unet(3), tiny_autoencoder("vq"), "vq")
    with pytest.raises(ModelLoadError, match="latent diffusion .* YAML config"):
        load_model(ckpt)


def test_hub_id_of_an_ldm_pipeline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ddim_studio.core.models import hub_allow_patterns, loader

    assert "vqvae/config.json" in hub_allow_patterns()
    assert "vqvae/diffusion_pytorch_model.safetensors" in hub_allow_patterns()
    folder = save_ldm_folder(tmp_path / "snapshot", "kl")
    monkeypatch.setattr(loader, "download_from_hub", lambda repo_id, allow_pickle=False: folder)
    model, info = load_model("someone/ldm-tiny", latent_scale=0.25)
    assert info.source == "someone/ldm-tiny" and info.space == "latent" and info.autoencoder == "kl"
    assert autoencoder_of(model).scale.value == 0.25


def test_a_wrapper_keeping_the_model_as_inner_keeps_the_autoencoder(tmp_path: Path) -> None:
    model, _ = load_model(save_ldm_folder(tmp_path / "ldm", "vq"))

    class Wrapper:  # as a backend wrapper (autocast, another runtime) holds a model
        def __init__(self, inner: object) -> None:
            self.inner = inner

    assert autoencoder_of(Wrapper(Wrapper(model))) is model.autoencoder
    assert autoencoder_of(Wrapper(object())) is None


def test_latents_that_would_decode_to_huge_pictures_are_refused(tmp_path: Path) -> None:
    import json

    folder = save_ldm_folder(tmp_path / "ldm", "vq")
    path = folder / "unet" / "config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "sample_size": 4000}))
    with pytest.raises(ModelLoadError, match="decode to pictures of 8000×8000") as err:
        load_model(folder)
    assert "\n" not in str(err.value)


def test_a_latent_model_on_openvino_stays_latent_and_samples_as_on_torch(tmp_path: Path) -> None:
    """The backend wraps the UNet; the wrapped model keeps its autoencoder, so pictures are decoded."""
    pytest.importorskip("openvino")
    from ddim_studio.core.models.backends import apply_backend

    folder = save_ldm_folder(tmp_path / "ldm", "vq")
    model, info = load_model(folder)
    fast, report = apply_backend(
        model, info, backend="openvino", precision="exact", batch=2, cache_dir=tmp_path / "ov"
    )
    assert report.backend == "openvino" and fast is not model
    assert autoencoder_of(fast) is autoencoder_of(model) and picture_shape(fast) == (3, 16, 16)
    x_T = torch.randn(2, *model.sample_shape, generator=torch.Generator().manual_seed(3))
    ours = run_to_end(decode_latents(fast, x_T, steps=STEPS, spacing="leading")).images
    torch_out = run_to_end(decode_latents(model, x_T, steps=STEPS, spacing="leading")).images
    assert ours.shape == (2, 3, 16, 16) and (ours - torch_out).abs().max() <= 2 / 255
