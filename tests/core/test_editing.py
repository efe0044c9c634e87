"""SDEdit and DDIM inpainting: exact-oracle checks of the method, then the shipped model."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from ddim_studio.core.editing import (
    EditStep,
    edit,
    edit_cost,
    edit_timesteps,
    fit_mask,
    iter_edit,
    mask_from_image,
    would_change,
)
from ddim_studio.core.imaging import tensor_to_uint8
from ddim_studio.core.inversion import inversion_calls
from ddim_studio.core.models import FiniteSetOracle, GaussianOracle, load_model
from ddim_studio.core.noise import ImageNoise
from ddim_studio.core.scenes import make_scenes, to_model_range
from ddim_studio.core.schedule import NoiseSchedule

SCHEDULE = NoiseSchedule.linear()
SHAPE = (3, 8, 8)


def _data(k: int = 6, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(k, *SHAPE, generator=g, dtype=torch.float64) * 2 - 1).to(torch.float32)


def _noise(seeds: list[int], shape: tuple[int, int, int] = SHAPE) -> ImageNoise:
    return ImageNoise(seeds, shape)


def _right_half(shape: tuple[int, int, int] = SHAPE) -> torch.Tensor:
    mask = torch.zeros(1, 1, shape[1], shape[2])
    mask[..., shape[2] // 2 :] = 1.0
    return mask


# ---------------------------------------------------------------- exact oracle


def test_sdedit_from_a_perturbed_data_point_lands_on_it() -> None:
    data = _data()
    oracle = FiniteSetOracle(data, SCHEDULE)
    g = torch.Generator().manual_seed(1)
    guide = data[2:3] + 0.1 * torch.randn(1, *SHAPE, generator=g)
    out = edit(oracle, guide, strength=0.5, steps=50, noise=_noise([0, 1, 2]))
    assert out.shape == (3, *SHAPE)
    assert float((out - data[2]).abs().max()) < 1e-3
    assert float((guide - data[2]).abs().max()) > 0.2  # the perturbation was visible


@pytest.mark.parametrize(("start", "harmonize"), [("noise", 3), ("invert", 0)])
def test_inpainting_half_a_data_point_completes_it(start: str, harmonize: int) -> None:
    """Keeping half of y_4 leaves y_4 the only datum the posterior can collapse onto."""
    data = _data()
    oracle = FiniteSetOracle(data, SCHEDULE)
    mask = _right_half()
    g = torch.Generator().manual_seed(3)
    source = data[4:5] * (1 - mask) + mask * torch.rand(1, *SHAPE, generator=g)  # right half garbage
    seeds = list(range(8))
    out = edit(oracle, source, strength=1.0, mask=mask, start=start, steps=50, harmonize=harmonize,
               noise=_noise(seeds))  # fmt: skip
    assert float((out - data[4]).abs().max()) < 1e-3, start
    assert float((source - data[4]).abs().max()) > 0.3


def _repaint_reference(
    oracle: FiniteSetOracle, y: torch.Tensor, mask: torch.Tensor, seed: int, fresh: bool, steps: int = 50
) -> torch.Tensor:
    """Textbook DDIM (η = 0) inpainting by replacement, written from RePaint's eq. 8 (no studio code).

    ``fresh``: the kept part is q(x_p | y) with a new z at every step (RePaint); otherwise one z
    drawn at the start is reused at every level (what the studio did before issue 26).
    """
    g = torch.Generator().manual_seed(seed)
    alpha_bar = SCHEDULE.alpha_bar.double()
    seq = list(range(1000 - 1000 // steps, -1, -(1000 // steps)))
    x = torch.randn(y.shape, generator=g, dtype=torch.float64).float()
    z_fixed = torch.randn(y.shape, generator=g, dtype=torch.float64).float()
    for i, t in enumerate(seq):
        a_t = float(alpha_bar[t])
        a_p = float(alpha_bar[seq[i + 1]]) if i + 1 < len(seq) else 1.0
        eps = oracle(x, torch.full((y.shape[0],), t, dtype=torch.long))
        x0 = (x - (1 - a_t) ** 0.5 * eps) / a_t**0.5
        x = a_p**0.5 * x0 + (1 - a_p) ** 0.5 * eps
        z = torch.randn(y.shape, generator=g, dtype=torch.float64).float() if fresh else z_fixed
        kept = a_p**0.5 * y + (1 - a_p) ** 0.5 * z
        x = mask * x + (1 - mask) * kept
    return x


def test_fresh_noise_in_the_kept_part_completes_more_often_than_a_fixed_one() -> None:
    """Issue 26: RePaint draws the kept region's noise afresh each step; reusing one z commits to the
    wrong datum more often. Measured over 64 seeds on the exact finite-set oracle (half of y_4 kept)."""
    data = _data()
    oracle = FiniteSetOracle(data, SCHEDULE)
    mask = _right_half()
    source = data[4:5] * (1 - mask)

    def completed(out: torch.Tensor) -> int:
        return int(((out - data[4]).abs().amax(dim=(1, 2, 3)) < 1e-3).sum())

    seeds = list(range(64))
    studio = {h: completed(edit(oracle, source, strength=1.0, mask=mask, steps=50, harmonize=h,
                                noise=_noise(seeds))) for h in (0, 1, 3)}  # fmt: skip
    fresh = sum(completed(_repaint_reference(oracle, source, mask, s, fresh=True)) for s in seeds)
    fixed = sum(completed(_repaint_reference(oracle, source, mask, s, fresh=False)) for s in seeds)
    assert fixed < fresh, (fixed, fresh)  # the cause: a reused z loses completions
    assert studio[0] >= fresh - 4, (studio, fresh)  # the studio now behaves like fresh-noise RePaint
    assert studio[3] >= studio[0] and studio[3] >= 60, studio  # and harmonize helps on top


@pytest.mark.parametrize(("start", "eta", "harmonize"), [("noise", 0.0, 0), ("invert", 0.7, 2)])
def test_kept_pixels_are_the_source_exactly(start: str, eta: float, harmonize: int) -> None:
    oracle = FiniteSetOracle(_data(), SCHEDULE)
    source = _data(2, seed=9)
    mask = torch.zeros(2, 1, 8, 8)
    mask[0, :, 2:6, 2:6] = 1.0
    mask[1, :, :, :3] = 0.6  # soft: partly kept
    steps = list(
        iter_edit(oracle, source, strength=0.6, mask=mask, start=start, steps=20, eta=eta,
                  harmonize=harmonize, noise=_noise([1, 2]))
    )  # fmt: skip
    out = steps[-1].x_t
    keep = (mask == 0).expand_as(source)
    assert torch.equal(out[keep], source[keep])
    assert not torch.equal(out, source)
    assert all(torch.equal(s.pred_x0[keep], source[keep]) for s in steps if s.phase != "invert")


def test_small_strength_with_invert_start_is_the_identity_within_inversion_error() -> None:
    """A smooth exact ε* (Gaussian data), so the inversion error is the only error; it vanishes as r → 0."""
    oracle = GaussianOracle(0.1, 0.5, SHAPE, SCHEDULE)
    source = _data(2, seed=7)
    errors = [
        float((edit(oracle, source, strength=r, start="invert", steps=50) - source).abs().max())
        for r in (0.02, 0.1, 0.3)
    ]
    assert errors[0] < 1e-5 and errors[1] < 1e-2 and errors[0] < errors[1] < errors[2] < 0.1, errors
    far = edit(oracle, source, strength=0.1, steps=50, noise=_noise([0, 1]))
    assert float((far - source).abs().max()) > 0.3  # noise start does not give it back
    data = _data()
    finite = FiniteSetOracle(data, SCHEDULE)  # and data points come back exactly from the finite ε*
    back = edit(finite, data[:2], strength=0.5, start="invert", steps=50)
    assert float((back - data[:2]).abs().max()) < 1e-5


def test_timesteps_follow_the_img2img_convention() -> None:
    oracle = FiniteSetOracle(_data(), SCHEDULE)
    seq = edit_timesteps(oracle, 50, 0.4)
    assert len(seq) == 20 and seq[0] == 380 and seq[-1] == 0
    assert edit_timesteps(oracle, 50, 1.0) == list(range(980, -1, -20))
    assert len(edit_timesteps(oracle, 50, 0.02)) == 1
    assert len(edit_timesteps(oracle, 30, 0.35)) == 10  # ⌊10.5⌋, as diffusers' img2img
    with pytest.raises(ValueError, match=r"runs no step at all; use a strength of at least 0\.02\b"):
        edit_timesteps(oracle, 50, 0.001)
    cost = edit_cost(oracle, 50, 0.4)
    assert cost.label() == "strength 0.4 · 20 of 50 steps" and cost.model_calls == 20
    cost = edit_cost(oracle, 50, 0.4, start="invert", harmonize=2)
    assert (cost.model_calls, cost.t_start) == (80, 380)
    assert cost.label().endswith("80 model calls (20 inversion, 40 harmonize)")


def test_harmonize_makes_the_stated_model_calls() -> None:
    oracle = FiniteSetOracle(_data(), SCHEDULE)
    calls: list[int] = []

    def counted(x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        calls.append(1)
        return oracle(x_t, t)

    counted.schedule = SCHEDULE  # type: ignore[attr-defined]
    counted.sample_shape = SHAPE  # type: ignore[attr-defined]
    run = list(
        iter_edit(counted, _data(1, 3), strength=0.3, mask=_right_half(), start="invert", steps=20,  # type: ignore[arg-type]
                  harmonize=3, noise=_noise([4]))
    )  # fmt: skip
    expected = edit_cost(oracle, 20, 0.3, start="invert", harmonize=3).model_calls
    assert len(calls) == len(run) == expected == 6 + 6 * 4
    assert [s.index for s in run] == list(range(expected)) and {s.total for s in run} == {expected}
    phases = [s.phase for s in run]
    assert phases[:6] == ["invert"] * 6 and phases[6:10] == ["decode"] + ["harmonize"] * 3
    assert all(isinstance(s, EditStep) for s in run)


def test_bad_input_gets_clear_errors() -> None:
    oracle = FiniteSetOracle(_data(), SCHEDULE)
    source, noise = _data(1), _noise([0])
    for strength in (0.0, -0.1, 1.5):
        with pytest.raises(ValueError, match="strength must be more than 0 and at most 1"):
            list(iter_edit(oracle, source, strength=strength, noise=noise))
    with pytest.raises(ValueError, match="resize the mask to the picture first"):
        list(iter_edit(oracle, source, strength=0.5, mask=torch.ones(1, 1, 4, 4), noise=noise))
    with pytest.raises(ValueError, match="between 0 \\(keep\\) and 1"):
        list(iter_edit(oracle, source, strength=0.5, mask=2 * _right_half(), noise=noise))
    with pytest.raises(ValueError, match="needs a mask"):
        list(iter_edit(oracle, source, strength=0.5, harmonize=1, noise=noise))
    with pytest.raises(ValueError, match="needs a seed"):
        list(iter_edit(oracle, source, strength=0.5))
    with pytest.raises(ValueError, match="'noise' or 'invert'"):
        list(iter_edit(oracle, source, strength=0.5, start="latent", noise=noise))
    with pytest.raises(ValueError, match="shape \\(width to height\\)"):
        fit_mask(torch.ones(16, 32), (8, 8))


def test_fit_mask_resizes_the_same_aspect_and_says_so() -> None:
    big = torch.zeros(64, 64)
    big[:, 32:] = 1.0
    mask, resized = fit_mask(big, (8, 8))
    assert resized and mask.shape == (1, 1, 8, 8)
    assert torch.equal(mask, _right_half())
    same, resized = fit_mask(_right_half(), (8, 8))
    assert not resized and torch.equal(same, _right_half())
    small, resized = fit_mask(torch.ones(1, 4, 4), (8, 8))
    assert resized and torch.equal(small, torch.ones(1, 1, 8, 8))


def test_a_mask_picture_becomes_a_mask() -> None:
    picture = Image.new("RGB", (64, 64), "black")
    picture.paste((255, 255, 255), (32, 0, 64, 64))
    mask, resized = fit_mask(mask_from_image(picture), (8, 8))
    assert resized and torch.equal(mask, _right_half())
    grey = mask_from_image(Image.new("L", (4, 4), 128))
    assert grey.shape == (1, 1, 4, 4) and abs(float(grey.max()) - 128 / 255) < 1e-6


def test_would_change() -> None:
    black = torch.zeros(1, 1, 8, 8)
    assert not would_change(black, "invert", 0.0)
    assert not would_change(black, "noise", 0.5)  # every pixel is kept whatever the start
    assert not would_change(None, "invert", 0.0)  # decoding the inversion gives the picture back
    assert would_change(None, "invert", 0.3)
    assert would_change(None, "noise", 0.0)
    assert would_change(_right_half(), "invert", 0.0)


# ---------------------------------------------------------------- the shipped model


@pytest.fixture(scope="module")
def shipped() -> tuple[object, torch.Tensor]:
    model, _ = load_model()
    scenes = torch.from_numpy(to_model_range(make_scenes(3, seed=10_000)))
    painted = scenes.clone()
    painted[:, 0, 10:14, 4:28] = 1.0  # a red bar across each held-out scene
    painted[:, 1:, 10:14, 4:28] = -1.0
    return model, painted


def test_shipped_kept_pixels_equal_the_source_after_saving(shipped: tuple[object, torch.Tensor]) -> None:
    model, source = shipped
    hard = torch.zeros(1, 1, 32, 32)
    hard[..., 8:20, 6:26] = 1.0
    soft = torch.nn.functional.avg_pool2d(hard, 3, stride=1, padding=1)  # a soft 1-px edge
    out = edit(model, source, strength=0.8, mask=soft, steps=20, noise=ImageNoise([3, 4, 5], (3, 32, 32)))
    grown = torch.nn.functional.max_pool2d(hard, 5, stride=1, padding=2)  # within 2 px of the mask
    far = (grown[0, 0] == 0).numpy()
    saved, original = tensor_to_uint8(out).astype(int), tensor_to_uint8(source).astype(int)
    assert np.abs(saved[:, far] - original[:, far]).max() <= 1
    inside = (hard[0, 0] == 1).numpy()
    assert np.abs(saved[:, inside] - original[:, inside]).mean() > 5  # the masked bar was redrawn


def test_shipped_change_grows_with_strength_and_seeds_repeat(shipped: tuple[object, torch.Tensor]) -> None:
    model, source = shipped
    changes = []
    for strength in (0.2, 0.5, 0.8):
        out = edit(model, source, strength=strength, steps=20, noise=ImageNoise([0, 1, 2], (3, 32, 32)))
        changes.append(float((out - source).abs().mean()))
    assert changes[0] < changes[1] < changes[2], changes
    kwargs = {"strength": 0.3, "mask": _right_half((3, 32, 32)), "steps": 10, "eta": 0.5, "harmonize": 1}
    first = edit(model, source[:2], noise=ImageNoise([7, 8], (3, 32, 32)), **kwargs)
    again = edit(model, source[:2], noise=ImageNoise([7, 8], (3, 32, 32)), **kwargs)
    other = edit(model, source[:2], noise=ImageNoise([9, 10], (3, 32, 32)), **kwargs)
    assert np.array_equal(tensor_to_uint8(first), tensor_to_uint8(again))
    assert not np.array_equal(tensor_to_uint8(first), tensor_to_uint8(other))


def test_shipped_invert_start_refined_gives_the_picture_back_closer(
    shipped: tuple[object, torch.Tensor],
) -> None:
    """η = 0, no mask, invert start: the edit is encode → decode; refinement shrinks its error."""
    model, source = shipped
    errors, calls = [], []
    for refine in (0, 3):
        steps = list(iter_edit(model, source, strength=0.4, start="invert", steps=20, refine=refine))
        errors.append(float(((steps[-1].x_t - source) ** 2).mean()))
        calls.append(sum(s.calls for s in steps if s.phase == "invert"))
    assert errors[1] < errors[0] / 2, errors
    assert calls[0] == 8 and 8 < calls[1] <= inversion_calls(8, 3), calls  # 0.4 · 20 = 8 inversion steps
    assert edit_cost(model, 20, 0.4, start="invert", refine=3).inversion_calls == inversion_calls(8, 3)


def _diffusers_ddim_tail(
    model: GaussianOracle, x_start: torch.Tensor, steps: int, strength: float
) -> torch.Tensor:
    """The reference: diffusers' DDIMScheduler (trailing) over the last ⌊r·S⌋ timesteps from x_{t₀}."""
    from diffusers import DDIMScheduler

    sched = DDIMScheduler(num_train_timesteps=1000, beta_schedule="linear", clip_sample=False,
                          set_alpha_to_one=True, timestep_spacing="trailing")  # fmt: skip
    sched.set_timesteps(steps)
    x = x_start
    for t in sched.timesteps[steps - int(steps * strength) :]:
        eps = model(x, torch.full((x.shape[0],), int(t), dtype=torch.long))
        x = sched.step(eps, int(t), x).prev_sample
    return x


def test_dpmpp_2m_edits_keep_pixels_and_reach_ddims_picture_in_fewer_steps() -> None:
    """DPM-Solver++(2M) decodes an edit from the same x_{t₀}: kept pixels exact, and at 20 steps it lies
    closer than DDIM at 20 to the edit's exact ODE solution — diffusers' DDIM at 500 steps from the same
    x_{t₀}. The Gaussian oracle's ε is per pixel, so the regenerated half does not see the kept one."""
    model = GaussianOracle(0.2, 0.5, SHAPE, SCHEDULE)
    source = torch.linspace(-1, 1, math.prod(SHAPE), dtype=torch.float64).reshape(1, *SHAPE)
    mask = _right_half().to(torch.float64)
    half = SHAPE[2] // 2

    def run(sampler: str, steps: int) -> torch.Tensor:
        noise = ImageNoise([5], SHAPE, dtype=torch.float64)
        kw = {"strength": 0.6, "steps": steps, "spacing": "trailing", "noise": noise, "sampler": sampler}
        return edit(model, source, mask=mask, **kw)

    z = ImageNoise([5], SHAPE, dtype=torch.float64).draw()  # the edit's first draw: x_{t₀} = a y + s z
    level = float(SCHEDULE.alpha_bar[edit_timesteps(model, 500, 0.6, "trailing")[0]])
    exact = _diffusers_ddim_tail(model, level**0.5 * source + (1 - level) ** 0.5 * z, 500, 0.6)[..., half:]
    fast, slow = run("dpmpp-2m", 20), run("ddim", 20)
    assert torch.equal(fast[..., :half], source[..., :half])  # the kept (left) half is the source exactly
    assert torch.equal(slow[..., :half], source[..., :half])
    fast, slow = fast[..., half:], slow[..., half:]
    assert (fast - exact).abs().max() < 0.5 * (slow - exact).abs().max()  # measured: 0.05 against 0.17
    with pytest.raises(ValueError, match="deterministic"):
        run_eta = {"strength": 0.6, "steps": 10, "eta": 0.5, "sampler": "dpmpp-2m"}
        edit(model, source, noise=ImageNoise([5], SHAPE, dtype=torch.float64), **run_eta)
    with pytest.raises(ValueError, match="multistep history"):
        edit(model, source, mask=mask, harmonize=1, noise=ImageNoise([5], SHAPE, dtype=torch.float64),
             strength=0.6, steps=10, sampler="dpmpp-2m")  # fmt: skip
