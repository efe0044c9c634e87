"""One DDIM step and one inverse step: pure tensor functions (DDIM paper, eq. 12 and 16).

Notation (the paper writes α_t for DDPM's ᾱ_t):

==================  ==============  ===================================================
code                paper           meaning
==================  ==============  ===================================================
``x_t``             x_t             the latent at timestep t
``alpha_bar_t``     α_t             ᾱ at the current timestep
``alpha_bar_prev``  α_{t−1}         ᾱ at the next, less noisy timestep (1 after the last)
``alpha_bar_next``  α_{t+1}         ᾱ at the next, noisier timestep (inversion)
``output``          —               the network's raw prediction (ε, v or x₀)
``pred_eps``        ε_θ(x_t, t)     predicted noise
``pred_x0``         f_θ(x_t)        "predicted x₀", eq. (9)/(12)
``eta``             η               interpolates DDIM (0) and DDPM (1), eq. (16)
``sigma``           σ_t(η)          standard deviation of the added noise
==================  ==============  ===================================================

ᾱ arguments are Python floats (the samplers read them from the CPU schedule once per run) or
0-d tensors on the latent's device; either way a step forces no host–device synchronisation.
"""

from __future__ import annotations

import torch

from ddim_studio.core.schedule import check_prediction_type

Scalar = torch.Tensor | float


def _sqrt(value: Scalar) -> Scalar:
    return value.sqrt() if isinstance(value, torch.Tensor) else value**0.5


def split_output(
    output: torch.Tensor, x_t: torch.Tensor, alpha_bar_t: Scalar, prediction_type: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Turn a network output into (pred_eps, pred_x0) at noise level ``alpha_bar_t``.

    ``epsilon``: eq. (12)'s x₀ = (x_t − √(1−α_t) ε) / √α_t. ``v_prediction``: v = √α ε − √(1−α) x₀,
    so x₀ = √α x_t − √(1−α) v and ε = √α v + √(1−α) x_t. ``sample``: ε = (x_t − √α x₀) / √(1−α).
    """
    sqrt_a = _sqrt(alpha_bar_t)
    sqrt_1ma = _sqrt(1 - alpha_bar_t)
    if prediction_type == "epsilon":
        return output, (x_t - sqrt_1ma * output) / sqrt_a
    if prediction_type == "v_prediction":
        return sqrt_a * output + sqrt_1ma * x_t, sqrt_a * x_t - sqrt_1ma * output
    if prediction_type == "sample":
        return (x_t - sqrt_a * output) / sqrt_1ma, output
    check_prediction_type(prediction_type)
    raise AssertionError("unreachable")


def sigma(alpha_bar_t: Scalar, alpha_bar_prev: Scalar, eta: float) -> Scalar:
    """σ_t(η) = η · √((1 − α_prev) / (1 − α_t)) · √(1 − α_t / α_prev), eq. (16).

    η = 1 gives DDPM's posterior standard deviation, η = 0 the deterministic DDIM.
    """
    return eta * _sqrt((1 - alpha_bar_prev) / (1 - alpha_bar_t)) * _sqrt(1 - alpha_bar_t / alpha_bar_prev)


def ddim_step(
    x_t: torch.Tensor,
    output: torch.Tensor,
    alpha_bar_t: Scalar,
    alpha_bar_prev: Scalar,
    *,
    eta: float = 0.0,
    noise: torch.Tensor | None = None,
    prediction_type: str = "epsilon",
    clip_sample: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One generative step x_t → x_prev, eq. (12); returns (x_prev, pred_x0).

    Args:
        x_t: the current latent.
        output: the network's prediction at (x_t, t) in ``prediction_type``.
        alpha_bar_t: ᾱ at t.
        alpha_bar_prev: ᾱ at the next timestep of the sequence, 1 after the last.
        eta: η ∈ [0, 1]; with η > 0, ``noise`` (z ~ N(0, I), shaped like x_t) is required.
        noise: the standard normal z of this step.
        prediction_type: ``epsilon``, ``v_prediction`` or ``sample``.
        clip_sample: clip pred_x0 to [−1, 1] (breaks exact inversion; off by default).
    """
    # 1. predicted noise and predicted x0, eq. (12) first term
    pred_eps, pred_x0 = split_output(output, x_t, alpha_bar_t, prediction_type)
    if clip_sample:
        pred_x0 = pred_x0.clamp(-1.0, 1.0)
    return ddim_update(pred_x0, pred_eps, alpha_bar_t, alpha_bar_prev, eta=eta, noise=noise), pred_x0


def ddim_update(
    pred_x0: torch.Tensor,
    pred_eps: torch.Tensor,
    alpha_bar_t: Scalar,
    alpha_bar_prev: Scalar,
    *,
    eta: float = 0.0,
    noise: torch.Tensor | None = None,
) -> torch.Tensor:
    """x_{t−1} from the step's (pred_x0, pred_eps), eq. (12) with σ_t(η) of eq. (16)."""
    # 2. σ_t(η), eq. (16)
    sigma_t = sigma(alpha_bar_t, alpha_bar_prev, eta) if eta > 0 else 0.0
    # 3. "direction pointing to x_t", eq. (12) second term
    direction = _sqrt(1 - alpha_bar_prev - sigma_t**2) * pred_eps
    # 4. x_{t−1} = √α_{t−1} x0 + direction + σ_t z, eq. (12)
    x_prev = _sqrt(alpha_bar_prev) * pred_x0 + direction
    if eta > 0:
        if noise is None:
            raise ValueError(
                "ddim_step with eta > 0 needs `noise` (a standard normal tensor shaped like x_t)."
            )
        x_prev = x_prev + sigma_t * noise
    return x_prev


def eps_from_x0(x_t: torch.Tensor, pred_x0: torch.Tensor, alpha_bar_t: Scalar) -> torch.Tensor:
    """The noise ε that takes ``pred_x0`` to ``x_t`` at level ᾱ_t: (x_t − √ᾱ_t x₀) / √(1 − ᾱ_t)."""
    return (x_t - _sqrt(alpha_bar_t) * pred_x0) / _sqrt(1 - alpha_bar_t)


def ddim_inverse_step(
    x_t: torch.Tensor,
    output: torch.Tensor,
    alpha_bar_t: Scalar,
    alpha_bar_next: Scalar,
    *,
    alpha_bar_model: Scalar | None = None,
    prediction_type: str = "epsilon",
    clip_sample: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One inversion step x_t → x_next (eq. 12 with σ = 0, run backwards, section 4.3).

    x_next = √α_next · pred_x0 + √(1 − α_next) · pred_eps, with pred_x0 = (x_t − √(1−α_t) pred_eps) / √α_t:
    an Euler step of the DDIM ODE from σ̄_t to σ̄_next. ``output`` is the network's prediction made
    at the timestep of noise level ``alpha_bar_model`` (by default ``alpha_bar_t``); it is read as
    a noise estimate at that level, then x₀ follows from the current level ``alpha_bar_t``.
    Returns (x_next, pred_x0).
    """
    level = alpha_bar_t if alpha_bar_model is None else alpha_bar_model
    # 1. the network's noise estimate, read at the level the network was asked about
    pred_eps, _ = split_output(output, x_t, level, prediction_type)
    # 2. predicted x0 from the current level
    pred_x0 = (x_t - _sqrt(1 - alpha_bar_t) * pred_eps) / _sqrt(alpha_bar_t)
    if clip_sample:
        pred_x0 = pred_x0.clamp(-1.0, 1.0)
    # 3. move along the same direction to the noisier level
    x_next = _sqrt(alpha_bar_next) * pred_x0 + _sqrt(1 - alpha_bar_next) * pred_eps
    return x_next, pred_x0
