"""Per-step hooks: how an editing method changes a sampler's state without copying its loop.

k-diffusion passes a ``callback`` per step that only observes; diffusers leaves the loop to the
caller, so each pipeline (inpainting, img2img) re-states the loop around ``scheduler.step``. Here
the sampler owns its loop and its state (DPM-Solver++'s multistep history, DDIM's η-noise) and
calls the hooks at the two places an editing method needs:

* :meth:`StepHook.correct_x0` — the predicted x₀ *before* the update (DDNM's null-space
  correction ``A†y + (I − A†A) pred_x0``); the update then uses the corrected value.
* :meth:`StepHook.after_step` — x_{t−1} *after* the update (mask replacement, ILVR's low-pass
  swap); it also returns the pred_x0 to report, so previews can show the kept pixels.
* :meth:`StepHook.redo` — a re-noised x_t to take the same step again (RePaint's harmonizing);
  only samplers whose registry entry says ``supports_renoise`` accept a hook that may redo.

Why hooks rather than a caller-owned loop: every mode then runs the same registered samplers (a
new sampler reaches Edit, restoration and guidance with no change there), the sampler's history
stays private, and corrections compose (a mask and a low-pass swap are two hooks in one list).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class StepContext:
    """Where a step is.

    Attributes:
        index: 0-based step of the run (redo steps keep their step's index).
        total: S, the run's steps.
        timestep: t, the timestep the model is called at.
        alpha_bar_t: ᾱ at t.
        alpha_bar_prev: ᾱ of the level the step lands on (the clean level after the last step).
        last: whether this step lands on x₀.
        repeat: 0 for the step itself, r for its r-th redo.
    """

    index: int
    total: int
    timestep: int
    alpha_bar_t: float
    alpha_bar_prev: float
    last: bool
    repeat: int = 0


class StepHook:
    """A change to every step of a sampler; each method's default changes nothing."""

    #: True when :meth:`redo` may return a state (needs a sampler that ``supports_renoise``).
    renoises: bool = False
    #: True for DDNM's noise handling in DDIM: with a corrected pred_x0 the update keeps the
    #: network's own pred_eps (instead of recomputing it from x_t) and draws σ = η·√(1 − ᾱ_prev)
    #: (DDNM's c1/c2 split, ``core/restore.py``). Samplers that draw no noise ignore it.
    ddnm_noise: bool = False

    def correct_x0(self, ctx: StepContext, x_t: torch.Tensor, pred_x0: torch.Tensor) -> torch.Tensor:
        """The predicted x₀ the update will use (before the update)."""
        return pred_x0

    def after_step(
        self, ctx: StepContext, x_prev: torch.Tensor, pred_x0: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(x_{t−1}, the pred_x0 to report) after the update."""
        return x_prev, pred_x0

    def redo(self, ctx: StepContext, x_prev: torch.Tensor) -> torch.Tensor | None:
        """A re-noised x_t to take this step again from, or None to go on."""
        return None


def corrects_x0(hooks: Sequence[StepHook]) -> bool:
    """Whether any hook overrides :meth:`StepHook.correct_x0` (the update must then use its result)."""
    return any(type(h).correct_x0 is not StepHook.correct_x0 for h in hooks)


def ddnm_noise(hooks: Sequence[StepHook]) -> bool:
    """Whether any hook asks for DDNM's noise handling (:attr:`StepHook.ddnm_noise`)."""
    return any(h.ddnm_noise for h in hooks)


def correct_x0(
    hooks: Sequence[StepHook], ctx: StepContext, x_t: torch.Tensor, pred_x0: torch.Tensor
) -> torch.Tensor:
    """Every hook's correction of pred_x0, in order."""
    for hook in hooks:
        pred_x0 = hook.correct_x0(ctx, x_t, pred_x0)
    return pred_x0


def after_step(
    hooks: Sequence[StepHook], ctx: StepContext, x_prev: torch.Tensor, pred_x0: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Every hook's change of x_{t−1} (and of the reported pred_x0), in order."""
    for hook in hooks:
        x_prev, pred_x0 = hook.after_step(ctx, x_prev, pred_x0)
    return x_prev, pred_x0


def redo(hooks: Sequence[StepHook], ctx: StepContext, x_prev: torch.Tensor) -> torch.Tensor | None:
    """The first re-noised state a hook asks for, or None."""
    for hook in hooks:
        if hook.renoises:
            state = hook.redo(ctx, x_prev)
            if state is not None:
                return state
    return None


def check_hooks(hooks: Sequence[StepHook], sampler_label: str, supports_renoise: bool) -> list[StepHook]:
    """The hooks as a list; a ValueError in words when one redoes steps the sampler cannot redo."""
    hooks = list(hooks)
    for hook in hooks:
        if not isinstance(hook, StepHook):
            raise TypeError(f"A sampler hook must be a StepHook, got {type(hook).__name__}.")
        if hook.renoises and not supports_renoise:
            raise ValueError(
                f"{sampler_label} cannot re-noise and redo a step (its multistep history would be "
                "wrong); set harmonize to 0 or choose a sampler that can, such as DDIM."
            )
    return hooks
