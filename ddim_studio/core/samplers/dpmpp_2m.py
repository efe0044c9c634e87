"""DPM-Solver++(2M): the second-order multistep solver of the DDIM ODE, data prediction.

Lu et al., "DPM-Solver++: Fast Solver for Guided Sampling of Diffusion Probabilistic Models"
(2022), Algorithm 2. DDIM with η = 0 is the first-order solver of the same ODE (DPM-Solver++
paper, eq. 8 with the data predictor; DDIM paper section 4.3), so both map one x_T to one picture
and converge to the same one as S grows; this solver gets there in fewer model calls.

Notation:

=====================  ==============  ================================================
code                   paper           meaning
=====================  ==============  ================================================
``alpha_bar``          —               ᾱ_t of DDPM (the DDIM paper's α_t)
``alpha``              α_t             √ᾱ_t, the signal scale
``sigma``              σ_t             √(1 − ᾱ_t), the noise scale
``lam``                λ_t             log(α_t / σ_t), the half log-SNR
``h``                  h_i             λ_{t_i} − λ_{t_{i−1}}, the step in λ
``pred_x0``            x_θ(x_t, t)     the data prediction ("predicted x₀")
``prev_x0``            x_θ at t_{i−2}  the data prediction of the previous model call
``ratio``              r_i             h_{i−1} / h_i
=====================  ==============  ================================================

A step from s = t_{i−1} to t = t_i (eq. 8 solved exactly for the linear part, the data
prediction extrapolated linearly in λ):

* first order (eq. 9, = DDIM η = 0):  x_t = (σ_t/σ_s) x_s + α_t (1 − e^{−h}) x_θ(x_s, s)
* second order (Algorithm 2):         D = (1 + 1/(2r)) x_θ(x_s, s) − 1/(2r) x_θ(x_{s'}, s'),
                                      x_t = (σ_t/σ_s) x_s + α_t (1 − e^{−h}) D

with α_t (1 − e^{−h}) = α_t − α_s σ_t / σ_s, so the last step down to ᾱ = 1 (σ = 0, λ = ∞)
needs no logarithm and lands on x_θ exactly. The first step (no previous call) is first order. The
last one is first order when it lands on ᾱ = 1, as diffusers'
``DPMSolverMultistepScheduler(algorithm_type="dpmsolver++", solver_order=2, lower_order_final=True,
final_sigmas_type="zero")``, whose results these match. With ``set_alpha_to_one: false`` the run
ends at ᾱ_0 < 1 instead; that is diffusers' ``final_sigmas_type="sigma_min"``, whose last step is
second order once the run has 15 steps or more (``lower_order_final`` applies below 15), and this
solver does the same.

A repeated timestep (h = 0) is an identity step, and the history skips it, so the result equals
that of the list without the repeat (diffusers divides by h = 0 there). All coefficients are
Python floats computed before the loop; a step creates no host tensor and calls no ``.item()``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch

from ddim_studio.core.hooks import StepHook, after_step, check_hooks, correct_x0
from ddim_studio.core.models.denoiser import Denoiser
from ddim_studio.core.models.protocol import DiffusionModel
from ddim_studio.core.noise import ImageNoise
from ddim_studio.core.sampling import (
    StepResult,
    _levels,
    check_eta,
    check_latents,
    resolve_timesteps,
    step_contexts,
)

#: diffusers' ``lower_order_final`` makes the last step first order only in runs shorter than this.
LOWER_ORDER_FINAL_BELOW = 15

SAMPLER_INFO = dict(
    name="dpmpp-2m",
    label="DPM-Solver++(2M)",
    supports_eta=False,
    description=(
        "Second-order multistep solver of the same ODE as DDIM with η = 0: the same picture "
        "from the same x_T, at DDIM-50 quality in fewer steps."
    ),
)


@dataclass(frozen=True)
class Coefficients:
    """x_t = a · x_s + b · pred_x0 − c · prev_x0 for one step (c = 0 at first order)."""

    a: float
    b: float
    c: float


def _lam(alpha_bar: float) -> float:
    """λ = log(α/σ) = ½ log(ᾱ / (1 − ᾱ)); +∞ at ᾱ = 1."""
    return math.inf if alpha_bar >= 1.0 else 0.5 * math.log(alpha_bar / (1.0 - alpha_bar))


def step_coefficients(levels: Sequence[float]) -> list[Coefficients]:
    """The coefficients of every step of a run over ᾱ levels ``levels`` (the last one 1).

    Args:
        levels: ᾱ at each timestep of the run followed by the clean level (``_levels``): 1, or
            ᾱ_0 for a schedule with ``set_alpha_to_one: false``.

    Returns:
        One ``Coefficients`` per model call, ``len(levels) − 1`` in all.
    """
    coefficients = []
    # the last step is first order when it lands on x₀ (ᾱ = 1, diffusers' final sigma "zero"), or in
    # a short run (lower_order_final); ending at ᾱ_0 < 1 ("sigma_min") it is second order otherwise
    final_first_order = levels[-1] >= 1.0 or len(levels) - 1 < LOWER_ORDER_FINAL_BELOW
    last_lam: float | None = None  # λ of the last model call that moved x (the multistep history)
    for i in range(len(levels) - 1):
        s_bar, t_bar = levels[i], levels[i + 1]
        # 1. α, σ at both ends; the exponential integrator's linear part σ_t/σ_s (eq. 8)
        alpha_s, sigma_s = math.sqrt(s_bar), math.sqrt(1.0 - s_bar)
        alpha_t, sigma_t = math.sqrt(t_bar), math.sqrt(max(0.0, 1.0 - t_bar))
        a = sigma_t / sigma_s
        # 2. α_t (1 − e^{−h}) = α_t − α_s σ_t / σ_s, the weight of the data prediction (eq. 9)
        b = alpha_t - alpha_s * a
        lam_s, lam_t = _lam(s_bar), _lam(t_bar)
        h = lam_t - lam_s
        last_step = i == len(levels) - 2 and final_first_order
        if h == 0.0:  # a repeated timestep: identity, and the history stays as it was
            coefficients.append(Coefficients(1.0, 0.0, 0.0))
            continue
        if last_lam is None or last_step:  # 3a. first order: first step, last step (see above)
            coefficients.append(Coefficients(a, b, 0.0))
        else:  # 3b. second order, Algorithm 2: D = (1 + 1/(2r)) x_θ(s) − 1/(2r) x_θ(s'), r = h'/h
            half_inv_ratio = 0.5 * h / (lam_s - last_lam)
            coefficients.append(Coefficients(a, b * (1.0 + half_inv_ratio), b * half_inv_ratio))
        last_lam = lam_s
    return coefficients


def check_dpmpp_eta(eta: float) -> None:
    """Raise a ValueError unless η is 0: the solver is deterministic."""
    if check_eta(eta) > 0:
        raise ValueError(
            "DPM-Solver++ is deterministic; η applies to DDIM only — set eta to 0 or choose the ddim sampler."
        )


def iter_sample_dpmpp_2m(
    model: DiffusionModel,
    x_T: torch.Tensor,
    *,
    steps: int | None = 50,
    eta: float = 0.0,
    spacing: str = "uniform",
    timesteps: Sequence[int] | None = None,
    noise: ImageNoise | None = None,
    clip_sample: bool = False,
    hooks: Sequence[StepHook] = (),
) -> Iterator[StepResult]:
    """Run DPM-Solver++(2M) from x_T down to x₀, yielding one StepResult per model call.

    The arguments are those of ``sampling.iter_sample``, so either can drive a run.

    Args:
        model: the network behind the DiffusionModel protocol (ε-, v- or x₀-prediction).
        x_T: starting latents (N, C, H, W); their device and dtype are the run's.
        steps: S, the number of model calls; ignored when ``timesteps`` is given.
        eta: must be 0 (accepted so callers can pass DDIM's arguments unchanged).
        spacing: how τ is chosen (see ``schedule.make_timesteps``).
        timesteps: an explicit non-increasing list (a repeated timestep is an identity step).
        noise: unused (the solver draws no noise); accepted for the same reason as ``eta``.
        clip_sample: clip pred_x0 to [−1, 1] at every step, before it enters the update.
        hooks: per-step changes (``core/hooks.py``): a corrected data prediction enters the update
            and the history; x_t may be replaced after the update. Hooks that redo steps are
            refused (the multistep history cannot be re-noised).

    Raises:
        ValueError: η > 0, latents of the wrong shape, a bad timestep list or a redoing hook.
    """
    del noise
    check_dpmpp_eta(eta)
    check_latents(model, x_T, "x_T")
    seq = resolve_timesteps(model, steps, spacing, timesteps)
    hooks = check_hooks(hooks, str(SAMPLER_INFO["label"]), supports_renoise=False)
    levels = _levels(model, seq)
    coefficients = step_coefficients(levels)
    denoiser = Denoiser(model, clip_sample=clip_sample)
    x = x_T
    prev_x0: torch.Tensor | None = None
    for ctx in step_contexts(levels, seq):
        k = coefficients[ctx.index]
        with torch.inference_mode():
            # 1. the data prediction x_θ(x_s, s), as the hooks correct it
            pred_x0 = correct_x0(hooks, ctx, x, denoiser(x, ctx.timestep, ctx.alpha_bar_t).pred_x0)
            # 2. x_t = (σ_t/σ_s) x_s + α_t(1 − e^{−h}) D (eq. 9 / Algorithm 2)
            if k.b != 0.0:  # 0 only for a repeated timestep: an identity step
                x = k.a * x + k.b * pred_x0
                if k.c != 0.0 and prev_x0 is not None:
                    x = x - k.c * prev_x0
                prev_x0 = pred_x0
            x, shown = after_step(hooks, ctx, x, pred_x0)  # 3. the hooks' x_t
        yield StepResult(ctx.index, ctx.total, ctx.timestep, x, shown)


def sample_dpmpp_2m(model: DiffusionModel, x_T: torch.Tensor, **kwargs: object) -> torch.Tensor:
    """Decode x_T to images x₀ in [−1, 1] (all keyword arguments of ``iter_sample_dpmpp_2m``)."""
    last = None
    for step in iter_sample_dpmpp_2m(model, x_T, **kwargs):  # type: ignore[arg-type]
        last = step
    if last is None:
        raise ValueError("The run had no steps.")
    return last.x_t
