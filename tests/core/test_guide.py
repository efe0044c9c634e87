"""ILVR guidance (core/guide.py): the resize matches the reference code's, the swap is exact with
an oracle, and on the shipped model the low frequencies follow the reference while details vary."""

from __future__ import annotations

import pytest
import torch

from ddim_studio.core.guide import (
    ILVR,
    check_factor,
    check_until,
    downsample,
    guide,
    iter_guide,
    low_pass,
    resize_matrix,
    valid_factors,
)
from ddim_studio.core.hooks import StepContext
from ddim_studio.core.models import load_model
from ddim_studio.core.models.oracles import FiniteSetOracle, GaussianOracle
from ddim_studio.core.noise import ImageNoise, initial_noise
from ddim_studio.core.samplers import sampler_names
from ddim_studio.core.sampling import sample
from ddim_studio.core.scenes import make_scenes, to_model_range
from ddim_studio.core.schedule import NoiseSchedule

# The reference code's resizer (jychoi118/ilvr_adm resizer.py) applied to unit vectors: 8 -> 4
# (antialiased cubic) and 4 -> 8 (cubic); exact dyadic numbers, copied from running it.
REFERENCE_DOWN_8_4 = [
    [0.546875, 0.3984375, 0.1015625, -0.03515625, -0.01171875, 0.0, 0.0, 0.0],
    [-0.046875, 0.11328125, 0.43359375, 0.43359375, 0.11328125, -0.03515625, -0.01171875, 0.0],
    [0.0, -0.01171875, -0.03515625, 0.11328125, 0.43359375, 0.43359375, 0.11328125, -0.046875],
    [0.0, 0.0, 0.0, -0.01171875, -0.03515625, 0.1015625, 0.3984375, 0.546875],
]
REFERENCE_UP_4_8 = [
    [1.09375, -0.09375, 0.0, 0.0],
    [0.796875, 0.2265625, -0.0234375, 0.0],
    [0.203125, 0.8671875, -0.0703125, 0.0],
    [-0.0703125, 0.8671875, 0.2265625, -0.0234375],
    [-0.0234375, 0.2265625, 0.8671875, -0.0703125],
    [0.0, -0.0703125, 0.8671875, 0.203125],
    [0.0, -0.0234375, 0.2265625, 0.796875],
    [0.0, 0.0, -0.09375, 1.09375],
]


def _schedule() -> NoiseSchedule:
    return NoiseSchedule.linear()


def test_resize_weights_are_the_reference_codes() -> None:
    down = resize_matrix(8, 4)
    up = resize_matrix(4, 8)
    assert torch.allclose(down, torch.tensor(REFERENCE_DOWN_8_4, dtype=torch.float64), atol=1e-7)
    assert torch.allclose(up, torch.tensor(REFERENCE_UP_4_8, dtype=torch.float64), atol=1e-7)


@pytest.mark.parametrize("factor", [2, 4, 8, 16, 32])
def test_low_pass_keeps_constants_and_removes_fine_detail(factor: int) -> None:
    flat = torch.full((1, 3, 32, 32), 0.3)
    assert torch.allclose(low_pass(flat, factor), flat, atol=1e-6)
    checker = ((torch.arange(32)[:, None] + torch.arange(32)[None, :]) % 2).float() * 2 - 1
    fine = checker.expand(1, 3, 32, 32)
    kept = low_pass(fine, factor).abs()
    assert float(kept.max()) < 0.1  # the finest pattern does not survive (a trace at the borders)
    assert float(kept[..., 4:-4, 4:-4].max()) < 0.01
    assert downsample(flat, factor).shape == (1, 3, 32 // factor, 32 // factor)


def test_factor_one_is_the_identity_and_bad_factors_are_refused() -> None:
    x = torch.randn(2, 3, 32, 32)
    assert low_pass(x, 1) is x
    assert valid_factors((32, 32)) == [1, 2, 4, 8, 16, 32]
    assert check_factor(8, (32, 32)) == 8
    for bad in (0, 3, -2, True, 2.0):
        with pytest.raises(ValueError, match="factor"):
            check_factor(bad, (32, 32))  # type: ignore[arg-type]
    for bad in (-0.1, 1.0, 2.0):
        with pytest.raises(ValueError, match="Until"):
            check_until(bad)


@pytest.mark.parametrize("sampler", sampler_names())
def test_factor_one_gives_the_reference_back_exactly(sampler: str) -> None:
    """N = 1, every step conditioned: x_p = y_p after each step, and y itself after the last."""
    data = torch.randn(3, 3, 8, 8).clamp(-1, 1)
    model = FiniteSetOracle(data, _schedule())
    reference = torch.rand(1, 3, 8, 8) * 2 - 1  # not in the oracle's set
    out = guide(model, reference, factor=1, steps=10, sampler=sampler, noise=ImageNoise([4, 5], (3, 8, 8)))
    assert torch.equal(out, reference.expand(2, -1, -1, -1))


@pytest.mark.parametrize("sampler", sampler_names())
def test_the_oracle_then_finishes_on_the_reference(sampler: str) -> None:
    """N = 1 until F = 0.25: from t = 250 on the run is free; the finite-set oracle then converges
    on the set's member that the guided state sits on — the reference."""
    data = torch.rand(4, 3, 8, 8) * 2 - 1
    model = FiniteSetOracle(data, _schedule())
    free = sample(model, initial_noise([0, 1], (3, 8, 8))[0], steps=20)
    landed = [(free - data[k : k + 1]).abs().amax(dim=(1, 2, 3)).min() for k in range(4)]
    k = int(torch.stack(landed).argmax())  # a member the unguided samples do not land on
    assert float(landed[k]) > 0.1
    out = guide(
        model,
        data[k : k + 1],
        factor=1,
        until=0.25,
        steps=20,
        sampler=sampler,
        noise=ImageNoise([0, 1], (3, 8, 8)),
    )
    assert float((out - data[k : k + 1]).abs().max()) < 1e-3


def test_ddim_with_eta_keeps_the_low_frequencies() -> None:
    model = GaussianOracle(0.0, 0.5, (3, 16, 16), _schedule())
    reference = torch.rand(1, 3, 16, 16) * 2 - 1
    out = guide(model, reference, factor=4, steps=10, eta=1.0, noise=ImageNoise([0, 1, 2], (3, 16, 16)))
    free = sample(
        model,
        initial_noise([0, 1, 2], (3, 16, 16))[0],
        steps=10,
        eta=1.0,
        noise=ImageNoise([0, 1, 2], (3, 16, 16)),
    )
    error = (low_pass(out, 4) - low_pass(reference, 4)).pow(2).mean()
    free_error = (low_pass(free, 4) - low_pass(reference, 4)).pow(2).mean()
    assert float(error) * 100 < float(free_error)


def test_until_leaves_late_steps_free_and_the_run_is_reproducible() -> None:
    hook = ILVR(torch.zeros(1, 3, 8, 8), 2, threshold=300.0, noise=ImageNoise([0], (3, 8, 8)))
    assert hook.active(StepContext(0, 10, 300, 0.5, 0.6, False))
    assert not hook.active(StepContext(0, 10, 299, 0.5, 0.6, False))
    model = GaussianOracle(0.0, 0.5, (3, 8, 8), _schedule())
    ref = torch.rand(1, 3, 8, 8)
    a = guide(model, ref, factor=2, until=0.3, steps=8, eta=0.5, noise=ImageNoise([9], (3, 8, 8)))
    b = guide(model, ref, factor=2, until=0.3, steps=8, eta=0.5, noise=ImageNoise([9], (3, 8, 8)))
    assert torch.equal(a, b)
    with pytest.raises(ValueError, match="references need as many seeds"):
        list(iter_guide(model, ref.expand(2, -1, -1, -1), factor=2, noise=ImageNoise([1, 2, 3], (3, 8, 8))))


@pytest.fixture(scope="module")
def shapes_runs() -> dict[str, torch.Tensor]:
    """Guided (N = 4 and 16) and unguided samples of the shipped model for one drawn scene."""
    model, _ = load_model()
    reference = torch.from_numpy(to_model_range(make_scenes(1, seed=777)))
    seeds = list(range(4))
    runs = {"reference": reference}
    for n in (4, 16):
        runs[f"N{n}"] = guide(
            model, reference, factor=n, until=0.1, steps=12, noise=ImageNoise(seeds, (3, 32, 32))
        )
    runs["free"] = sample(model, initial_noise(seeds, (3, 32, 32))[0], steps=12)
    return runs


def _low_error(x: torch.Tensor, reference: torch.Tensor, n: int) -> float:
    return float((low_pass(x, n) - low_pass(reference, n)).pow(2).mean())


def test_guided_low_frequencies_follow_the_reference(shapes_runs: dict[str, torch.Tensor]) -> None:
    ref = shapes_runs["reference"]
    for n in (4, 16):
        guided, free = _low_error(shapes_runs[f"N{n}"], ref, n), _low_error(shapes_runs["free"], ref, n)
        assert guided * 20 < free, (n, guided, free)


def test_results_vary_at_large_factors_and_approach_the_reference_as_it_falls(
    shapes_runs: dict[str, torch.Tensor],
) -> None:
    ref = shapes_runs["reference"]

    def diversity(x: torch.Tensor) -> float:
        return float((x - x.mean(dim=0, keepdim=True)).pow(2).mean())

    def distance(x: torch.Tensor) -> float:
        return float((x - ref).pow(2).mean())

    coarse, fine = shapes_runs["N16"], shapes_runs["N4"]
    assert diversity(coarse) > 0.005  # different pictures
    assert diversity(coarse) > 3 * diversity(fine)
    assert distance(fine) * 3 < distance(coarse)
    assert distance(coarse) < distance(shapes_runs["free"])
