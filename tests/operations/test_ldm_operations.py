"""Every operation on a tiny latent diffusion model: encode, interpolate, edit (the pictures cross
the autoencoder; the samplers run on latents)."""

from __future__ import annotations

import pytest
import torch

from ddim_studio.core.models import load_model
from ddim_studio.core.models.latent import autoencoder_of, feather_weights
from ddim_studio.operations.edit import edit_images
from ddim_studio.operations.encode import encode_images
from ddim_studio.operations.interpolation import Endpoint, interpolate
from ddim_studio.operations.metrics import reconstruction_error
from ddim_studio.operations.run import run_to_end
from ddim_studio.operations.sample import sample_seeds
from tests.helpers.ldm import photo, save_ldm_folder, trained_autoencoder


@pytest.fixture(scope="module", params=["vq", "kl"])
def ldm(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    ae = trained_autoencoder(request.param)  # its round trip is a meaningful floor
    folder = save_ldm_folder(tmp_path_factory.mktemp(request.param) / "ldm", request.param, ae=ae)
    return load_model(folder)[0]


def test_encode_reports_the_autoencoder_floor_and_the_whole_error(ldm) -> None:  # type: ignore[no-untyped-def]
    x = photo()
    plain = run_to_end(encode_images(ldm, x, steps=10))
    ae = autoencoder_of(ldm)
    direct = ae.decode(ae.encode(x))
    mse, psnr = reconstruction_error(x, direct)
    assert plain.floor_mse == pytest.approx(mse) and plain.floor_psnr == pytest.approx(psnr)
    assert torch.equal(plain.floor, direct)
    assert plain.x_T.shape == (1, *ldm.sample_shape)  # x_T in latent space
    assert plain.mse[0] >= plain.floor_mse[0]
    refined = run_to_end(encode_images(ldm, x, steps=10, refine=4))
    assert refined.floor_mse == plain.floor_mse
    assert refined.floor_mse[0] <= refined.mse[0] < plain.mse[0]


def test_interpolate_slerps_latents_and_the_ends_reproduce(ldm) -> None:  # type: ignore[no-untyped-def]
    g = torch.Generator().manual_seed(0)
    a, b = (torch.randn(*ldm.sample_shape, generator=g) for _ in range(2))
    out = run_to_end(interpolate(ldm, Endpoint(a), Endpoint(b), frames=3, method="slerp", steps=5))
    assert out.images.shape == (3, 3, 16, 16) and out.latents.shape == (3, *ldm.sample_shape)
    assert torch.equal(out.latents[0], a) and torch.equal(out.latents[-1], b)
    ends = run_to_end(sample_seeds(ldm, [0], steps=5))  # a seed's picture is its x_T's end frame
    again = run_to_end(interpolate(ldm, Endpoint(ends.x_T[0]), Endpoint(b), frames=2, steps=5))
    assert (again.images[0] - ends.images[0]).abs().max() <= 1 / 255  # batch-size round-off only


def test_interpolate_encodes_picture_ends(ldm) -> None:  # type: ignore[no-untyped-def]
    x = photo()[0]
    out = run_to_end(interpolate(ldm, Endpoint(x, True), Endpoint(x.flip(-1), True), frames=3, steps=5))
    assert out.latents.shape == (3, *ldm.sample_shape) and out.images.shape == (3, 3, 16, 16)


def test_masked_edit_keeps_pixels_beyond_the_feather_bit_exact(ldm) -> None:  # type: ignore[no-untyped-def]
    source = photo()
    mask = torch.zeros(1, 1, 16, 16)
    mask[..., 2:6, 3:7] = 1.0
    out = run_to_end(edit_images(ldm, source, [1, 2], strength=0.6, mask=mask, steps=8))
    feather = feather_weights(mask, max(2, autoencoder_of(ldm).factor))
    kept = (feather == 0).expand(2, 3, -1, -1)
    assert kept.sum() > 0.5 * kept.numel()
    assert torch.equal(out.images[kept], source.expand(2, -1, -1, -1)[kept])
    inside = (mask > 0).expand(2, 3, -1, -1)
    assert (out.images[inside] - source.expand(2, -1, -1, -1)[inside]).abs().max() > 0.05  # regenerated
    assert not torch.equal(out.images[0], out.images[1])  # the seeds differ


def test_sdedit_on_the_encoded_painted_picture(ldm) -> None:  # type: ignore[no-untyped-def]
    painted = photo().clone()
    painted[..., 4:12, 4:12] = torch.tensor([1.0, -1.0, -1.0]).view(1, 3, 1, 1)  # a red square
    out = run_to_end(edit_images(ldm, painted, [3], strength=0.5, steps=8))
    assert out.images.shape == (1, 3, 16, 16) and torch.isfinite(out.images).all()
    assert out.mask is None and torch.equal(out.sources, painted)
    assert (out.images - painted).abs().mean() > 0.01


def test_feathered_masked_edit_keeps_far_pixels_bit_exact(ldm) -> None:  # type: ignore[no-untyped-def]
    source = photo()
    mask = torch.zeros(1, 1, 16, 16)
    mask[..., 5:8, 5:8] = 1.0
    out = run_to_end(edit_images(ldm, source, [1], strength=0.6, mask=mask, steps=6, feather=2))
    reach = 2 + max(2, autoencoder_of(ldm).factor)  # the user's feather, then the latent seam
    far = (feather_weights(mask, reach) == 0).expand(1, 3, -1, -1)
    assert far.sum() > 0.3 * far.numel()
    assert torch.equal(out.images[far], source[far]) and out.feather == 2


def test_restore_refuses_a_latent_model_in_words(ldm) -> None:  # type: ignore[no-untyped-def]
    from ddim_studio.operations.restore import restore_images

    with pytest.raises(ValueError, match="pixel-space models; this is a latent diffusion model"):
        restore_images(ldm, photo(), [0], task="denoise")
