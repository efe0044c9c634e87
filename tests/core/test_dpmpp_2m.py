"""DPM-Solver++(2M) against diffusers' multistep scheduler and against exact ODE solutions.

diffusers' ``DPMSolverMultistepScheduler(algorithm_type="dpmsolver++", solver_order=2,
lower_order_final=True, final_sigmas_type="zero")``, run over the same timestep list, gives the
same x₀ to float32 round-off for ε-, v- and x₀-prediction over all five spacings. The studio
differs on purpose in one place: a repeated timestep is an identity step (diffusers divides by
h = 0 there and returns NaN), see ``test_repeated_timestep_is_identity``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch
from diffusers import DPMSolverMultistepScheduler

from ddim_studio.core.models.oracles import GaussianOracle
from ddim_studio.core.noise import ImageNoise
from ddim_studio.core.samplers.dpmpp_2m import (
    SAMPLER_INFO,
    iter_sample_dpmpp_2m,
    sample_dpmpp_2m,
    step_coefficients,
)
from ddim_studio.core.sampling import sample
from ddim_studio.core.schedule import SPACINGS, NoiseSchedule, make_timesteps
from tests.helpers.models import UNetModel, tiny_unet

SEEDS = [3, 11]


def _config(prediction_type: str) -> dict:
    return {
        "num_train_timesteps": 1000,
        "beta_schedule": "linear",
        "beta_start": 1e-4,
        "beta_end": 0.02,
        "prediction_type": prediction_type,
    }


def _model(prediction_type: str) -> UNetModel:
    config = {**_config(prediction_type), "clip_sample": False, "set_alpha_to_one": True}
    return UNetModel(tiny_unet(), NoiseSchedule.from_diffusers_config(config))


def _diffusers(model: UNetModel, x_T: torch.Tensor, seq: list[int], prediction_type: str) -> torch.Tensor:
    sched = DPMSolverMultistepScheduler(
        **_config(prediction_type),
        algorithm_type="dpmsolver++",
        solver_order=2,
        lower_order_final=True,
        final_sigmas_type="zero",
    )
    sched.set_timesteps(timesteps=seq)
    x = x_T
    with torch.no_grad():
        for t in sched.timesteps:
            x = sched.step(model.unet(x, t).sample, t, x).prev_sample
    return x


def _x_T(model: UNetModel) -> torch.Tensor:
    return ImageNoise(SEEDS, model.sample_shape).draw()


CASES = [(spacing, steps) for spacing in SPACINGS for steps in (1, 2, 7, 20)]


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction", "sample"])
@pytest.mark.parametrize(("spacing", "steps"), CASES)
def test_matches_diffusers(prediction_type: str, spacing: str, steps: int) -> None:
    model = _model(prediction_type)
    x_T = _x_T(model)
    seq = make_timesteps(steps, 1000, spacing)
    expected = _diffusers(model, x_T, seq, prediction_type)
    ours = sample_dpmpp_2m(model, x_T, timesteps=seq)
    torch.testing.assert_close(ours, expected, rtol=1e-4, atol=1e-4)
    assert torch.equal(ours, sample_dpmpp_2m(model, x_T, steps=steps, spacing=spacing))


def test_matches_diffusers_irregular_list() -> None:
    """A hand-made list with uneven gaps, down to timestep 0."""
    model = _model("epsilon")
    x_T = _x_T(model)
    seq = [999, 951, 700, 690, 400, 120, 37, 5, 0]
    torch.testing.assert_close(
        sample_dpmpp_2m(model, x_T, timesteps=seq),
        _diffusers(model, x_T, seq, "epsilon"),
        rtol=1e-4,
        atol=1e-4,
    )


def test_repeated_timestep_is_identity() -> None:
    """On purpose unlike diffusers (NaN from h = 0): a repeat changes nothing, as in DDIM at η = 0."""
    model = _model("epsilon")
    x_T = _x_T(model)
    plain = sample_dpmpp_2m(model, x_T, timesteps=[999, 700, 400, 100])
    repeated = sample_dpmpp_2m(model, x_T, timesteps=[999, 999, 700, 400, 400, 400, 100, 100])
    torch.testing.assert_close(repeated, plain, rtol=1e-6, atol=1e-6)
    assert torch.isnan(_diffusers(model, x_T, [999, 700, 700, 100], "epsilon")).any()


def test_yields_one_step_result_per_call_with_pred_x0() -> None:
    model = _model("epsilon")
    results = list(iter_sample_dpmpp_2m(model, _x_T(model), steps=6, spacing="leading"))
    assert [r.index for r in results] == list(range(6))
    assert [r.timestep for r in results] == make_timesteps(6, 1000, "leading")
    assert all(r.total == 6 for r in results)
    assert torch.equal(results[-1].x_t, results[-1].pred_x0)  # the last step lands on x_θ
    assert not torch.equal(results[2].pred_x0, results[3].pred_x0)


def test_first_and_last_steps_are_first_order() -> None:
    levels = [0.01, 0.2, 0.6, 0.9, 1.0]
    coefficients = step_coefficients(levels)
    assert coefficients[0].c == 0.0 and coefficients[-1].c == 0.0
    assert all(k.c != 0.0 for k in coefficients[1:-1])
    assert coefficients[-1].a == 0.0 and coefficients[-1].b == 1.0


@pytest.mark.parametrize("eta", [0.5, 1.0])
def test_eta_refused(eta: float) -> None:
    model = _model("epsilon")
    with pytest.raises(ValueError, match="DPM-Solver\\+\\+ is deterministic; η applies to DDIM only"):
        next(iter_sample_dpmpp_2m(model, _x_T(model), steps=5, eta=eta))
    assert SAMPLER_INFO["name"] == "dpmpp-2m" and SAMPLER_INFO["supports_eta"] is False


def test_wrong_shape_refused() -> None:
    model = _model("epsilon")
    with pytest.raises(ValueError, match="x_T must have shape"):
        next(iter_sample_dpmpp_2m(model, torch.zeros(1, 3, 4, 4), steps=5))


# --- exact oracles: Gaussian data, whose ODE solution is known in closed form ---------------------

MU, S_DATA = 0.3, 0.5


def _oracle() -> GaussianOracle:
    return GaussianOracle(MU, S_DATA, (1, 4, 4), NoiseSchedule.linear())


def _x_T_64() -> torch.Tensor:
    return torch.randn(4, 1, 4, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


def _exact(oracle: GaussianOracle, x_T: torch.Tensor, t_first: int) -> torch.Tensor:
    """The probability-flow ODE from (x_T, τ_S) to ᾱ = 1 for N(μ, s²) data, in closed form.

    x_t − √ᾱ μ stays proportional to √(ᾱ s² + 1 − ᾱ), so x₀ = μ + s (x_T − √ᾱ_T μ) / √(ᾱ_T s² + 1 − ᾱ_T).
    """
    a = float(oracle.schedule.alpha_bar[t_first])
    return MU + S_DATA * (x_T - math.sqrt(a) * MU) / math.sqrt(a * S_DATA**2 + 1 - a)


def _error(fn: Callable[..., torch.Tensor], steps: int, spacing: str) -> float:
    """RMS distance of ``fn``'s x₀ from the exact ODE solution (float64 throughout)."""
    oracle, x_T = _oracle(), _x_T_64()
    seq = make_timesteps(steps, 1000, spacing)
    exact = _exact(oracle, x_T, seq[0])
    return float((fn(oracle, x_T, timesteps=seq) - exact).pow(2).mean().sqrt())


def test_closed_form_is_the_ode_solution() -> None:
    """Both solvers at S = 1000 land on the closed form; DPM-Solver++ far closer (second order)."""
    assert _error(sample, 1000, "uniform") < 3e-3
    assert _error(sample_dpmpp_2m, 1000, "uniform") < 2e-4


@pytest.mark.parametrize("spacing", ["quadratic", "trailing"])
def test_oracle_closer_than_ddim_at_ten_steps(spacing: str) -> None:
    assert _error(sample_dpmpp_2m, 10, spacing) < 0.8 * _error(sample, 10, spacing)


def test_oracle_second_order_convergence() -> None:
    """Halving the step size cuts DPM-Solver++'s error by ≥ 2^1.7; DDIM's only by about 2."""
    steps = [10, 20, 40, 80]
    errors = [_error(sample_dpmpp_2m, s, "quadratic") for s in steps]
    slopes = [math.log(errors[i] / errors[i + 1]) / math.log(2) for i in range(3)]
    assert min(slopes) >= 1.7, (errors, slopes)
    ddim = [_error(sample, s, "quadratic") for s in steps]
    assert 0.8 < math.log(ddim[0] / ddim[-1]) / math.log(8) < 1.2


def test_oracle_uniform_spacing_overshoots_at_ten_steps() -> None:
    """Documented weakness (diffusers' too): uniform spacing's step τ = 100 → 0 is ~4.7× longer in λ
    than the one before, so the linear extrapolation of x_θ overshoots and S = 10 is worse than DDIM;
    from S = 80 on it is better, and the gap closes at second order."""
    assert _error(sample_dpmpp_2m, 10, "uniform") > _error(sample, 10, "uniform")
    assert _error(sample_dpmpp_2m, 80, "uniform") < 0.75 * _error(sample, 80, "uniform")
