"""Per-step hooks run over every registered sampler (issue 20): no copies of a sampling loop."""

from __future__ import annotations

import pytest
import torch

from ddim_studio.core.editing import edit
from ddim_studio.core.hooks import StepContext, StepHook
from ddim_studio.core.models import FiniteSetOracle
from ddim_studio.core.noise import ImageNoise
from ddim_studio.core.samplers import (
    SamplerSpec,
    get_sampler,
    register_sampler,
    sampler_names,
    unregister_sampler,
)
from ddim_studio.core.sampling import iter_sample
from ddim_studio.core.schedule import NoiseSchedule

SCHEDULE = NoiseSchedule.linear()
SHAPE = (3, 8, 8)


def _data(k: int = 5) -> torch.Tensor:
    return torch.rand(k, *SHAPE, generator=torch.Generator().manual_seed(0)) * 2 - 1


def _run(name: str, hooks: list[StepHook], steps: int = 12) -> list:
    model = FiniteSetOracle(_data(), SCHEDULE)
    x_T = ImageNoise([1, 2], SHAPE).draw()
    return list(get_sampler(name).fn(model, x_T, steps=steps, spacing="trailing", hooks=hooks))


class Recorder(StepHook):
    """Changes nothing; records what it is called with."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, StepContext]] = []

    def correct_x0(self, ctx: StepContext, x_t: torch.Tensor, pred_x0: torch.Tensor) -> torch.Tensor:
        self.seen.append(("x0", ctx))
        return pred_x0

    def after_step(self, ctx: StepContext, x_prev: torch.Tensor, pred_x0: torch.Tensor):
        self.seen.append(("after", ctx))
        return x_prev, pred_x0


class Target(StepHook):
    """Replaces the predicted x₀ with a fixed picture (the limit of a perfect correction)."""

    def __init__(self, y: torch.Tensor) -> None:
        self.y = y

    def correct_x0(self, ctx: StepContext, x_t: torch.Tensor, pred_x0: torch.Tensor) -> torch.Tensor:
        return self.y.expand_as(pred_x0)


@pytest.mark.parametrize("name", sampler_names())
def test_a_hook_that_changes_nothing_changes_nothing_and_sees_every_step(name: str) -> None:
    plain, recorder = _run(name, []), Recorder()
    hooked = _run(name, [recorder])
    assert all(
        torch.equal(a.x_t, b.x_t) and torch.equal(a.pred_x0, b.pred_x0)
        for a, b in zip(plain, hooked, strict=True)
    )
    contexts = [ctx for kind, ctx in recorder.seen if kind == "after"]
    assert [c.index for c in contexts] == list(range(12))
    assert [c.last for c in contexts] == [False] * 11 + [True]
    assert contexts[-1].alpha_bar_prev == 1.0 and all(c.alpha_bar_prev > c.alpha_bar_t for c in contexts)


@pytest.mark.parametrize("name", sampler_names())
def test_a_corrected_x0_reaches_the_result_in_every_sampler(name: str) -> None:
    y = _data(1) * 0.3
    out = _run(name, [Target(y)])[-1].x_t
    torch.testing.assert_close(out, y.expand_as(out), rtol=0, atol=1e-5)
    assert float((_run(name, [])[-1].x_t - y).abs().max()) > 0.1  # without it the run lands elsewhere


@pytest.mark.parametrize("name", sampler_names())
def test_mask_replacement_is_one_hook_over_every_sampler(name: str) -> None:
    data = _data()
    model = FiniteSetOracle(data, SCHEDULE)
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., 4:] = 1.0
    out = edit(
        model, data[1:2], strength=0.7, mask=mask, steps=20, sampler=name, noise=ImageNoise([3], SHAPE)
    )
    assert torch.equal(out[..., :4], data[1:2, :, :, :4])
    assert not torch.equal(out, data[1:2])


def test_a_sampler_that_cannot_redo_refuses_a_redoing_hook_in_words() -> None:
    class Again(StepHook):
        renoises = True

    with pytest.raises(ValueError, match="cannot re-noise and redo a step"):
        _run("dpmpp-2m", [Again()])
    with pytest.raises(TypeError, match="must be a StepHook"):
        _run("ddim", [object()])  # type: ignore[list-item]


def test_a_redo_takes_the_step_again_from_the_hooks_state() -> None:
    class Twice(StepHook):
        renoises = True

        def redo(self, ctx: StepContext, x_prev: torch.Tensor) -> torch.Tensor | None:
            return None if ctx.repeat >= 1 else x_prev * 0 + 0.5

    steps = _run("ddim", [Twice()], steps=4)
    assert [(s.index, s.phase) for s in steps] == [(i, p) for i in range(4) for p in ("sample", "harmonize")]


def test_a_throwaway_sampler_edits_like_any_other() -> None:
    """Registered in one line, it can run an edit (the mask hook and all) with no change to editing."""
    register_sampler(SamplerSpec("throwaway", "Throwaway", iter_sample, True, "DDIM under another name."))
    try:
        data = _data()
        model = FiniteSetOracle(data, SCHEDULE)
        kw = {"strength": 0.5, "steps": 10, "noise": ImageNoise([4], SHAPE)}
        ours = edit(model, data[:1], sampler="throwaway", **kw)
        kw["noise"] = ImageNoise([4], SHAPE)
        assert torch.equal(ours, edit(model, data[:1], sampler="ddim", **kw))
    finally:
        unregister_sampler("throwaway")
