"""Sampling and inversion as generators of typed steps; plain functions wrap them.

A caller streams previews by reading ``StepResult.pred_x0`` and cancels by no longer iterating
(k-diffusion reports ``denoised`` through a callback; here each step is a frozen dataclass).
Device and dtype come from the input latents; the sequence's ᾱ values are read once per run as
Python floats and the timestep tensors are made before the loop, so a step creates no host
tensor and makes no ``.item()`` call.

Inversion convention: decoding over τ calls the model at τ_S, …, τ_1; encoding calls it at
τ_1, …, τ_S, and its step i is the inverse of decode step τ_i → τ_{i−1} with ε_θ(x_{τ_i}, τ_i)
approximated by ε_θ(x_{τ_{i−1}}, τ_i) (the known point, the same timestep). The first step starts
from x₀ at ᾱ = 1. diffusers' ``DDIMInverseScheduler`` (with ``set_alpha_to_one=True``) makes the
same choice for ε-models. With ``refine = K > 0`` each inversion step then solves the decode
step's equation for x_{τ_i} (``core/inversion.py``); those steps do synchronise with the device
(per-image stopping and Anderson's tiny least-squares problems are decided on the host).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from itertools import pairwise

import torch

from ddim_studio.core.ddim import ddim_inverse_step, ddim_update, eps_from_x0
from ddim_studio.core.hooks import (
    StepContext,
    StepHook,
    after_step,
    check_hooks,
    correct_x0,
    corrects_x0,
    ddnm_noise,
    redo,
)
from ddim_studio.core.inversion import RefineOptions, refine_inverse_step
from ddim_studio.core.models.denoiser import Denoiser
from ddim_studio.core.models.protocol import DiffusionModel
from ddim_studio.core.noise import ImageNoise
from ddim_studio.core.schedule import make_timesteps


@dataclass(frozen=True)
class StepResult:
    """One step of a sampling or inversion run.

    Attributes:
        index: 0-based step number.
        total: number of steps in the run (S).
        timestep: the timestep the model was called at in this step.
        x_t: the latent after this step (x₀ after the last sampling step, x_T after the last
            inversion step).
        pred_x0: the predicted x₀ of this step.
        calls: network calls this step made (batched: each call evaluates the images of the batch
            still being refined); 1 for every step except refined inversion steps.
        phase: ``sample`` (a step toward the picture), ``harmonize`` (a hook's redo of the step
            just made) or ``invert``.
    """

    index: int
    total: int
    timestep: int
    x_t: torch.Tensor
    pred_x0: torch.Tensor
    calls: int = 1
    phase: str = "sample"


def check_eta(eta: float) -> float:
    """Return η if it lies in [0, 1], else raise a ValueError that says so."""
    if not 0.0 <= float(eta) <= 1.0:
        raise ValueError(f"eta must lie between 0 (deterministic DDIM) and 1 (DDPM), got {eta}.")
    return float(eta)


def check_latents(model: DiffusionModel, x: torch.Tensor, what: str) -> None:
    """Raise a ValueError unless ``x`` is an (N, C, H, W) batch of the model's sample shape."""
    expected = tuple(model.sample_shape)
    if x.ndim != 4 or tuple(x.shape[1:]) != expected:
        c, h, w = expected
        raise ValueError(
            f"{what} must have shape (N, {c}, {h}, {w}) for this model, got {tuple(x.shape)}; "
            f"resize images to {h}×{w} (imaging.fit_to_model does it)."
        )


def resolve_timesteps(
    model: DiffusionModel, steps: int | None, spacing: str, timesteps: Sequence[int] | None
) -> list[int]:
    """The decreasing timestep list of a run: ``timesteps`` as given, else built from steps and spacing."""
    schedule = model.schedule
    if timesteps is not None:
        seq = [int(t) for t in timesteps]
        if not seq or any(b > a for a, b in pairwise(seq)):
            raise ValueError("timesteps must be a non-empty, non-increasing sequence (noisiest first).")
        if seq[-1] < 0 or seq[0] >= schedule.num_train_timesteps:
            raise ValueError(f"timesteps must lie in [0, {schedule.num_train_timesteps}).")
        return seq
    if steps is None:
        raise ValueError("Give either steps or an explicit timesteps list.")
    return make_timesteps(steps, schedule.num_train_timesteps, spacing, schedule.steps_offset)


def _levels(model: DiffusionModel, seq: list[int]) -> list[float]:
    """ᾱ at each timestep of ``seq`` followed by the clean level (1, or ᾱ_0; see
    ``NoiseSchedule.final_alpha_bar``), as Python floats.

    Floats read once from the CPU schedule: the step arithmetic then multiplies tensors by
    scalars, creating no tensor and forcing no device synchronisation per step.
    """
    alpha_bar = model.schedule.alpha_bar
    return [float(alpha_bar[t]) for t in seq] + [model.schedule.final_alpha_bar]


def _timestep_batches(seq: list[int], like: torch.Tensor) -> list[torch.Tensor]:
    """One (N,) long tensor per step on the latents' device, made before the loop starts."""
    t_all = torch.tensor(seq, dtype=torch.long).to(like.device)
    return [t_all[i].expand(like.shape[0]) for i in range(len(seq))]


def step_contexts(levels: list[float], seq: list[int]) -> list[StepContext]:
    """The StepContext of every step of a run over ``seq`` (``levels`` from ``_levels``)."""
    n = len(seq)
    return [StepContext(i, n, t, levels[i], levels[i + 1], i == n - 1) for i, t in enumerate(seq)]


def iter_sample(
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
    """Run DDIM from x_T down to x₀, yielding one StepResult per model call.

    Args:
        model: the network behind the DiffusionModel protocol.
        x_T: starting latents (N, C, H, W); their device and dtype are the run's.
        steps: S; ignored when ``timesteps`` is given.
        eta: η ∈ [0, 1]; with η > 0, ``noise`` supplies each step's per-image z.
        spacing: how τ is chosen (see ``schedule.make_timesteps``).
        timesteps: an explicit non-increasing list (a repeated timestep is an identity step at η = 0).
        noise: the per-image noise streams that drew x_T (``noise.initial_noise``).
        clip_sample: clip pred_x0 to [−1, 1] at every step.
        hooks: per-step changes (``core/hooks.py``): a corrected pred_x0 makes the step use
            the noise recomputed from it, x_{t−1} may be replaced after the update, and a redo
            takes the step again from a re-noised state (one more model call, phase ``harmonize``).
            A hook with ``ddnm_noise`` (DDNM) keeps the network's pred_eps instead and makes σ
            = η·√(1 − ᾱ_{t−1}) (DDNM's split of the step's noise, ``core/restore.py``).
    """
    eta = check_eta(eta)
    check_latents(model, x_T, "x_T")
    seq = resolve_timesteps(model, steps, spacing, timesteps)
    if eta > 0 and noise is None:
        raise ValueError(
            "Sampling with eta > 0 needs the images' noise streams: pass noise=ImageNoise(seeds, …)."
        )
    hooks = check_hooks(hooks, "DDIM", supports_renoise=True)
    corrected, keep_eps = corrects_x0(hooks), ddnm_noise(hooks)
    denoiser = Denoiser(model, clip_sample=clip_sample)
    x = x_T
    for ctx in step_contexts(_levels(model, seq), seq):
        x_t = x
        while True:
            z = noise.draw() if eta > 0 and noise is not None else None
            with torch.inference_mode():
                pred = denoiser(x_t, ctx.timestep, ctx.alpha_bar_t)
                pred_x0, pred_eps = pred.pred_x0, pred.pred_eps
                if corrected:  # 1. the hooks' pred_x0, and the noise that goes with it (if changed)
                    corrected_x0 = correct_x0(hooks, ctx, x_t, pred_x0)
                    if corrected_x0 is not pred_x0 and not keep_eps:
                        pred_eps = eps_from_x0(x_t, corrected_x0, ctx.alpha_bar_t)
                    pred_x0 = corrected_x0
                # 2. eq. (12): x_{t−1} = √ᾱ_{t−1} pred_x0 + √(1 − ᾱ_{t−1} − σ²) pred_eps + σ z
                if keep_eps:
                    x = ddnm_update(pred_x0, pred_eps, ctx.alpha_bar_prev, eta, z)
                else:
                    x = ddim_update(pred_x0, pred_eps, ctx.alpha_bar_t, ctx.alpha_bar_prev, eta=eta, noise=z)
                x, shown = after_step(hooks, ctx, x, pred_x0)  # 3. the hooks' x_{t−1}
            phase = "sample" if ctx.repeat == 0 else "harmonize"
            yield StepResult(ctx.index, ctx.total, ctx.timestep, x, shown, phase=phase)
            with torch.inference_mode():
                again = redo(hooks, ctx, x)  # 4. a hook may take the step again
            if again is None:
                break
            x_t, ctx = again, replace(ctx, repeat=ctx.repeat + 1)


def ddnm_update(
    pred_x0: torch.Tensor, pred_eps: torch.Tensor, alpha_bar_prev: float, eta: float, z: torch.Tensor | None
) -> torch.Tensor:
    """DDNM's step (``svd_ddnm.py``): √ᾱ_p x̂₀ + c1 z + c2 ε̂, c1 = η√(1 − ᾱ_p), c2 = √(1 − η²)√(1 − ᾱ_p).

    It is eq. (12) with σ = η√(1 − ᾱ_p) in place of σ_t(η): the total variance stays 1 − ᾱ_p, and
    η = 1 re-noises the corrected x̂₀ with fresh noise only.
    """
    s = (1.0 - alpha_bar_prev) ** 0.5
    x_prev = alpha_bar_prev**0.5 * pred_x0 + s * (1.0 - eta * eta) ** 0.5 * pred_eps
    return x_prev if z is None or eta == 0 else x_prev + eta * s * z


def iter_invert(
    model: DiffusionModel,
    x_0: torch.Tensor,
    *,
    steps: int | None = 50,
    spacing: str = "uniform",
    timesteps: Sequence[int] | None = None,
    clip_sample: bool = False,
    refine: int = 0,
    tol: float = 0.0,
    acceleration: str = "anderson",
) -> Iterator[StepResult]:
    """Encode images x₀ into their latents x_T by running the DDIM ODE backwards.

    Uses the same τ as ``iter_sample`` with the same arguments, visited in increasing order, so
    decoding the result with those arguments reconstructs x₀ (error falling as S grows).

    Args:
        model: the network behind the DiffusionModel protocol.
        x_0: images (N, C, H, W) in [−1, 1]; their device and dtype are the run's.
        steps, spacing, timesteps, clip_sample: as in ``iter_sample``.
        refine: K, the most fixed-point updates per step that make the decode step reproduce
            its input exactly (``core/inversion.py``); 0 is the paper's plain inversion. A step
            then costs at most 2 + K calls (``StepResult.calls``), and each image keeps its best
            iterate, so its step never decodes worse than the plain step.
        tol: an image stops refining once its decode residual's RMS is at most this; 0 (the
            default) makes all K updates, keeping each image's best iterate. (A fixed 1e-5 stopped
            S = 100 runs after the same few updates whatever K was: issue 26.)
        acceleration: ``anderson`` (default, measured best), ``fixed`` or ``damped``.
    """
    check_latents(model, x_0, "x_0")
    options = RefineOptions.make(refine, tol, acceleration)
    seq = resolve_timesteps(model, steps, spacing, timesteps)
    up = seq[::-1]
    levels = _levels(model, up)  # ᾱ(τ_1), …, ᾱ(τ_S), 1
    t_batches = _timestep_batches(up, x_0)
    prediction_type = model.schedule.prediction_type
    x = x_0
    for i, t in enumerate(up):
        current = levels[-1] if i == 0 else levels[i - 1]
        calls = 1
        with torch.inference_mode():
            output = model(x, t_batches[i])
            x_next, pred_x0 = ddim_inverse_step(
                x,
                output.to(x.dtype),
                current,
                levels[i],
                alpha_bar_model=levels[i],
                prediction_type=prediction_type,
                clip_sample=clip_sample,
            )
            if options.iterations > 0:
                x_next, pred_x0, more, _ = refine_inverse_step(
                    model,
                    t_batches[i],
                    x,
                    x_next,
                    levels[i],
                    current,
                    options=options,
                    prediction_type=prediction_type,
                    clip_sample=clip_sample,
                )
                calls += more
        x = x_next
        yield StepResult(i, len(up), t, x, pred_x0, calls=calls, phase="invert")


def _last(results: Iterator[StepResult]) -> torch.Tensor:
    last = None
    for step in results:
        last = step
    if last is None:
        raise ValueError("The run had no steps.")
    return last.x_t


def sample(model: DiffusionModel, x_T: torch.Tensor, **kwargs: object) -> torch.Tensor:
    """Decode x_T to images x₀ in [−1, 1] (all keyword arguments of ``iter_sample``)."""
    return _last(iter_sample(model, x_T, **kwargs))  # type: ignore[arg-type]


def invert(model: DiffusionModel, x_0: torch.Tensor, **kwargs: object) -> torch.Tensor:
    """Encode images x₀ to latents x_T (all keyword arguments of ``iter_invert``)."""
    return _last(iter_invert(model, x_0, **kwargs))  # type: ignore[arg-type]


def reconstruct(
    model: DiffusionModel,
    x_0: torch.Tensor,
    *,
    steps: int = 50,
    spacing: str = "uniform",
    clip_sample: bool = False,
    refine: int = 0,
    tol: float = 0.0,
    acceleration: str = "anderson",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Encode (refined with ``refine`` updates per step, see ``iter_invert``) then decode with η = 0.

    Returns (x_T, reconstruction).
    """
    x_T = invert(
        model,
        x_0,
        steps=steps,
        spacing=spacing,
        clip_sample=clip_sample,
        refine=refine,
        tol=tol,
        acceleration=acceleration,
    )
    return x_T, sample(model, x_T, steps=steps, spacing=spacing, eta=0.0, clip_sample=clip_sample)


def generate(
    model: DiffusionModel,
    seeds: Sequence[int],
    *,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    **kwargs: object,
) -> Iterator[StepResult]:
    """Sample one image per seed: x_T and the η-noise come from each seed's own generator."""
    from ddim_studio.core.noise import initial_noise

    x_T, stream = initial_noise(seeds, tuple(model.sample_shape), device, dtype)
    return iter_sample(model, x_T, noise=stream, **kwargs)  # type: ignore[arg-type]
