"""Refined DDIM inversion: exact on the Gaussian oracle, never worse than plain, calls counted."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from ddim_studio.core.ddim import ddim_inverse_step, ddim_step
from ddim_studio.core.inversion import RefineOptions, inversion_calls, refine_inverse_step
from ddim_studio.core.models import FiniteSetOracle, GaussianOracle, load_model
from ddim_studio.core.noise import initial_noise
from ddim_studio.core.sampling import invert, iter_invert, reconstruct, sample
from ddim_studio.core.scenes import make_scenes, to_model_range
from ddim_studio.core.schedule import NoiseSchedule

SCHEDULE = NoiseSchedule.linear()


class Reparameterised:
    """An ε-oracle whose output is re-expressed as v or x₀ (the same model, another output kind)."""

    def __init__(self, oracle: GaussianOracle | FiniteSetOracle, prediction_type: str) -> None:
        self.oracle, self.sample_shape = oracle, oracle.sample_shape
        self.schedule = replace(oracle.schedule, prediction_type=prediction_type)

    def __call__(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        eps = self.oracle(x_t, t)
        a = self.schedule.alpha_bar.to(torch.float64)[t].reshape(-1, 1, 1, 1).to(x_t.dtype)
        x0 = (x_t - (1 - a).sqrt() * eps) / a.sqrt()
        if self.schedule.prediction_type == "v_prediction":
            return a.sqrt() * eps - (1 - a).sqrt() * x0
        return x0 if self.schedule.prediction_type == "sample" else eps


class Counting:
    """Counts batched calls and images evaluated."""

    def __init__(self, model: object) -> None:
        self.model, self.calls, self.images = model, 0, 0
        self.schedule, self.sample_shape = model.schedule, model.sample_shape  # type: ignore[attr-defined]

    def __call__(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        self.images += x_t.shape[0]
        return self.model(x_t, t)  # type: ignore[operator]


def rel_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).flatten(1).norm(dim=1).max() / b.flatten(1).norm(dim=1).min())


def finite_oracle() -> FiniteSetOracle:
    data = torch.from_numpy(to_model_range(make_scenes(6, seed=3)))[:, :1, :8, :8]
    return FiniteSetOracle(data, SCHEDULE)


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction", "sample"])
@pytest.mark.parametrize("steps", [10, 50])
def test_refined_inversion_of_a_decode_recovers_x_T(prediction_type: str, steps: int) -> None:
    model = Reparameterised(GaussianOracle(0.1, 0.2, (1, 8, 8), SCHEDULE), prediction_type)
    x_T, _ = initial_noise(range(6), model.sample_shape, dtype=torch.float64)
    x0 = sample(model, x_T, steps=steps)
    plain = invert(model, x0, steps=steps)
    refined = invert(model, x0, steps=steps, refine=8, tol=1e-13)
    assert rel_error(plain, x_T) > 0.1  # plain inversion is far off: the test has teeth
    assert rel_error(refined, x_T) <= 1e-5


@pytest.mark.parametrize("acceleration", ["anderson", "fixed", "damped"])
@pytest.mark.parametrize("steps", [2, 3, 5, 10, 50])
def test_refinement_never_decodes_worse_than_plain(acceleration: str, steps: int) -> None:
    """Pictures the Gaussian model would not make exactly (scenes), encoded and decoded again."""
    model = GaussianOracle(0.1, 0.2, (1, 8, 8), SCHEDULE)
    x0 = torch.from_numpy(to_model_range(make_scenes(8, seed=3)))[:, :1, :8, :8].double()
    plain = ((sample(model, invert(model, x0, steps=steps), steps=steps) - x0) ** 2).flatten(1).mean(1)
    for k in (1, 2, 4):
        x_hat = invert(model, x0, steps=steps, refine=k, tol=0.0, acceleration=acceleration)
        refined = ((sample(model, x_hat, steps=steps) - x0) ** 2).flatten(1).mean(1)
        assert bool((refined < plain).all()), (k, refined, plain)


def test_each_refined_step_keeps_the_best_iterate_where_iteration_oscillates() -> None:
    """The stop rule's guarantee, step by step, on the finite-set ε* (strongly non-linear)."""
    model = finite_oracle()
    torch.manual_seed(0)
    x_prev = torch.randn(8, *model.sample_shape, dtype=torch.float64) * 0.3
    x_prev[:4] += model.data[:4]
    a_prev, a_t, t = 1.0, float(SCHEDULE.alpha_bar[300]), torch.full((8,), 300)

    def residual(x: torch.Tensor) -> torch.Tensor:
        decoded, _ = ddim_step(x, model(x, t), a_t, a_prev)
        return (x_prev - decoded).flatten(1).pow(2).mean(1).sqrt()

    plain, _ = ddim_inverse_step(x_prev, model(x_prev, t), a_prev, a_t, alpha_bar_model=a_t)
    x, history = plain, []
    for _ in range(6):  # plain fixed-point iteration x ← x + (a_t / a_p) r(x), by hand
        history.append(residual(x))
        decoded, _ = ddim_step(x, model(x, t), a_t, a_prev)
        x = x + (a_t / a_prev) ** 0.5 * (x_prev - decoded)
    history_t = torch.stack(history, dim=1)
    assert bool((history_t[:, 1:] > history_t[:, :-1]).any())  # the residual goes up somewhere
    options = RefineOptions.make(5, 0.0, "fixed")
    refined, _, calls, rms = refine_inverse_step(
        model, t, x_prev, plain, a_t, a_prev, options=options, prediction_type="epsilon"
    )
    assert calls == 6
    torch.testing.assert_close(rms, residual(refined))
    torch.testing.assert_close(rms, history_t.min(dim=1).values)  # the best iterate, per image
    for acceleration in ("anderson", "damped"):
        options = RefineOptions.make(3, 0.0, acceleration)
        refined, _, _, rms = refine_inverse_step(
            model, t, x_prev, plain, a_t, a_prev, options=options, prediction_type="epsilon"
        )
        assert bool((residual(refined) <= residual(plain)).all())


def test_calls_are_counted_per_step() -> None:
    model = Counting(GaussianOracle(0.1, 0.2, (1, 8, 8), SCHEDULE))
    x0 = torch.randn(4, 1, 8, 8, dtype=torch.float64) * 0.2
    steps = list(iter_invert(model, x0, steps=10, refine=3, tol=0.0, acceleration="fixed"))
    assert [s.calls for s in steps] == [5] * 10
    assert model.calls == 50 == inversion_calls(10, 3) and model.images == 4 * 50
    model.calls = 0
    plain = list(iter_invert(model, x0, steps=10))
    assert [s.calls for s in plain] == [1] * 10 and model.calls == 10 == inversion_calls(10, 0)
    model.calls = 0
    loose = list(iter_invert(model, x0, steps=10, refine=3, tol=1e9))  # every plain step is good enough
    assert [s.calls for s in loose] == [2] * 10 and model.calls == 20


def test_converged_images_stop_while_others_iterate() -> None:
    """Anderson solves the affine Gaussian step at once; fixed-point iteration needs every update."""
    model = Counting(GaussianOracle(0.1, 0.2, (1, 8, 8), SCHEDULE))
    x0 = torch.randn(4, 1, 8, 8, dtype=torch.float64) * 0.2
    steps = list(iter_invert(model, x0, steps=10, refine=6, tol=1e-12))
    assert all(s.calls < 8 for s in steps) and sum(s.calls for s in steps) == model.calls
    assert model.images <= 4 * model.calls


def test_bad_refine_settings_are_refused_in_words() -> None:
    model = GaussianOracle(0.0, 1.0, (1, 4, 4), SCHEDULE)
    x0 = torch.zeros(1, 1, 4, 4)
    with pytest.raises(ValueError, match="whole number of iterations"):
        next(iter_invert(model, x0, steps=5, refine=-1))
    with pytest.raises(ValueError, match="tolerance"):
        next(iter_invert(model, x0, steps=5, refine=2, tol=float("nan")))
    with pytest.raises(ValueError, match="anderson"):
        next(iter_invert(model, x0, steps=5, refine=2, acceleration="magic"))


@pytest.mark.parametrize("steps", [3, 10])
def test_shipped_model_refined_reconstruction_beats_plain(steps: int) -> None:
    model, _ = load_model()
    x0 = torch.from_numpy(to_model_range(make_scenes(4, 10_000)))
    _, plain = reconstruct(model, x0, steps=steps)
    plain_mse = ((plain - x0) ** 2).flatten(1).mean(1)
    for k in (1, 2):
        counter = Counting(model)
        _, refined = reconstruct(counter, x0, steps=steps, refine=k)  # type: ignore[arg-type]
        refined_mse = ((refined - x0) ** 2).flatten(1).mean(1)
        assert bool((refined_mse < plain_mse).all()), (k, refined_mse, plain_mse)
        assert counter.calls <= inversion_calls(steps, k) + steps
    assert float(refined_mse.mean()) < float(plain_mse.mean()) / 5  # K = 2
