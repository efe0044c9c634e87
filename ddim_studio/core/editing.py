"""Editing a picture with the sampler: SDEdit and DDIM inpainting with RePaint's harmonizing.

Notation as in ``ddim.py``: ᾱ_t, a_t = √ᾱ_t, s_t = √(1 − ᾱ_t); y is the source picture in
[−1, 1], m the mask (1 = regenerate, 0 = keep).

* **Timesteps** (diffusers' img2img convention): S counts the whole schedule τ_S > … > τ_1 of
  ``make_timesteps(S, …)``; an edit of strength r runs its last n = ⌊r·S⌋ timesteps (diffusers'
  ``init_timestep = min(int(S * strength), S)``), and **t₀ = τ_n**, the first (noisiest) of them.
  With uniform spacing t₀ ≈ r·T (T = 1000, S = 50, r = 0.4: n = 20, t₀ = 380). r = 1 runs the
  full schedule; a strength with ⌊r·S⌋ = 0 runs nothing and is refused, naming the least that works.
* **Start** ``noise`` (SDEdit): x_{t₀} = a_{t₀} y + s_{t₀} z with z the seed's first draw.
  **Start** ``invert``: x_{t₀} = the DDIM inversion of y over τ_1 … τ_n (n model calls more);
  the states it passes are kept for the mask.
* **Decode** with any registered sampler (η as given where it supports η) from t₀ to 0, with the
  mask replacement as a per-step hook (``core/hooks.py``, :class:`KeepUnmasked`): after each step
  to level p, x_p ← m·x_p + (1 − m)·k_p, k_p = a_p y + s_p z_p with a **fresh** z_p at every step
  (noise start; RePaint, Lugmayr et al. 2022, eq. 8) or the inversion state at p (invert start);
  at p = clean, k = y, so kept pixels are the source exactly.
* **Harmonize** R (RePaint's resampling, :class:`Harmonize`): after a step t → p, re-noise with the
  forward kernel x_t = √(ᾱ_t/ᾱ_p) x_p + √(1 − ᾱ_t/ᾱ_p) z' and redo the step, R times (a model call
  each); only samplers whose registry entry ``supports_renoise`` can (DDIM; not a multistep solver).

Noise: the caller's ``ImageNoise`` gives z (its first draw, whatever the start) and then the
η-noise, one draw per model call of the decode, as ``sampling.generate`` does; the harmonize z'
and the kept region's z_p come from two more streams per image whose seeds are derived from the
image's seed, so a run is reproducible from its seeds.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ddim_studio.core.hooks import StepContext, StepHook
from ddim_studio.core.inversion import inversion_calls
from ddim_studio.core.models.protocol import DiffusionModel
from ddim_studio.core.names import DEFAULT_SAMPLER
from ddim_studio.core.noise import MAX_SEED, ImageNoise
from ddim_studio.core.samplers import SamplerSpec, get_sampler
from ddim_studio.core.sampling import StepResult, _last, check_eta, iter_invert
from ddim_studio.core.schedule import make_timesteps

STARTS = ("noise", "invert")
#: How far a mask's aspect ratio may differ from the picture's (relative) and still be resized.
ASPECT_TOLERANCE = 0.02


@dataclass(frozen=True)
class EditStep(StepResult):
    """One model call of an edit (a ``StepResult`` with the phase it belongs to).

    ``index``/``total`` count every model call of the run, inversion and harmonize calls included.
    ``phase`` is ``invert`` (building the start, invert start only), ``decode`` (a step toward the
    picture) or ``harmonize`` (a redo of the step just made). ``pred_x0`` is the step's predicted
    x₀ with the kept pixels already the source (m·pred_x0 + (1 − m)·y): ready for a preview.
    ``x_t`` after the last call is the edited picture.
    """

    phase: str = "decode"


@dataclass(frozen=True)
class EditCost:
    """What an edit costs, for the label next to the strength slider.

    Attributes:
        strength: r.
        steps: S, the whole schedule.
        steps_run: n = ⌊r·S⌋, the decode steps.
        t_start: t₀, the timestep the run starts from.
        inversion_calls: n for invert start, else 0.
        harmonize_calls: n·R.
        model_calls: all of them.
    """

    strength: float
    steps: int
    steps_run: int
    t_start: int
    inversion_calls: int
    harmonize_calls: int
    model_calls: int

    def label(self) -> str:
        """E.g. ``strength 0.4 · 20 of 50 steps · 60 model calls (20 inversion, 20 harmonize)``."""
        text = f"strength {self.strength:g} · {self.steps_run} of {self.steps} steps"
        extra = [
            f"{n} {what}"
            for n, what in ((self.inversion_calls, "inversion"), (self.harmonize_calls, "harmonize"))
            if n
        ]
        if extra:
            text += f" · {self.model_calls} model calls ({', '.join(extra)})"
        return text


def check_strength(strength: float) -> float:
    """Return the strength as a float if it lies in (0, 1], else raise a ValueError saying so."""
    value = float(strength)
    if not 0.0 < value <= 1.0:
        raise ValueError(
            "The strength must be more than 0 and at most 1 (how far into noise the picture goes), "
            f"got {strength}."
        )
    return value


def _check_start(start: str) -> str:
    if start not in STARTS:
        raise ValueError(f"The start must be 'noise' or 'invert', got {start!r}.")
    return start


def least_strength(steps: int) -> float:
    """The smallest strength (rounded up to 3 decimals) that runs at least one of S steps."""
    value = math.ceil(1000 / steps) / 1000
    while int(steps * value) < 1:
        value += 0.001
    return round(value, 3)


def steps_run(steps: int, strength: float) -> int:
    """n = min(⌊strength·S⌋, S), diffusers' img2img count; a ValueError in words when it is 0."""
    strength = check_strength(strength)
    n = min(int(steps * strength), steps)
    if n < 1:
        raise ValueError(
            f"Strength {strength:g} of {steps} steps runs no step at all; use a strength of at least "
            f"{least_strength(steps):g}, or more steps."
        )
    return n


def edit_timesteps(model: DiffusionModel, steps: int, strength: float, spacing: str = "uniform") -> list[int]:
    """The decreasing timesteps an edit visits: the last ⌊strength·S⌋ of the S-step schedule.

    The first element is t₀, the level the source is taken to.
    """
    schedule = model.schedule
    full = make_timesteps(steps, schedule.num_train_timesteps, spacing, schedule.steps_offset)
    return full[len(full) - steps_run(steps, strength) :]


def edit_cost(
    model: DiffusionModel,
    steps: int,
    strength: float,
    *,
    start: str = "noise",
    harmonize: int = 0,
    spacing: str = "uniform",
    refine: int = 0,
) -> EditCost:
    """Count an edit's model calls without running it (``EditCost.label()`` for the UI).

    With ``refine`` K > 0 (invert start) the inversion's count is its most: up to 2 + K calls a step.
    """
    seq = edit_timesteps(model, steps, strength, spacing)
    n = len(seq)
    inversion = inversion_calls(n, refine) if _check_start(start) == "invert" else 0
    extra = n * _check_harmonize(harmonize)
    return EditCost(float(strength), steps, n, seq[0], inversion, extra, n + inversion + extra)


def _check_harmonize(harmonize: int) -> int:
    if isinstance(harmonize, bool) or not isinstance(harmonize, int) or harmonize < 0:
        raise ValueError(f"Harmonize must be a whole number of 0 or more, got {harmonize!r}.")
    return harmonize


def mask_from_image(img: Image.Image) -> torch.Tensor:
    """A mask picture (white = regenerate, black = keep, grey = partly) as a (1, 1, H, W) float tensor."""
    grey = np.asarray(img.convert("L"), dtype=np.float32) / 255.0
    return torch.from_numpy(grey.copy())[None, None]


def fit_mask(mask: torch.Tensor, size: tuple[int, int]) -> tuple[torch.Tensor, bool]:
    """Bring a mask to the picture's (H, W); returns (mask as (N, 1, H, W) float, whether it was resized).

    Accepts (h, w), (1, h, w) or (N, 1, h, w) with values in [0, 1]. A mask of the same aspect
    ratio (within 2 %) is resized (area-averaged when shrinking, so hard edges become soft);
    another aspect ratio raises a ValueError, since stretching would move the masked region.
    """
    m = mask.detach()
    if m.ndim == 2:
        m = m[None, None]
    elif m.ndim == 3 and m.shape[0] == 1:
        m = m[None]
    if m.ndim != 4 or m.shape[1] != 1:
        raise ValueError(
            f"A mask must be one grey channel, (H, W) or (N, 1, H, W); got shape {tuple(mask.shape)}."
        )
    m = m.to(torch.float32)
    h, w = int(m.shape[2]), int(m.shape[3])
    height, width = size
    if (h, w) == (height, width):
        return m, False
    if h == 0 or w == 0 or abs((h / w) / (height / width) - 1.0) > ASPECT_TOLERANCE:
        raise ValueError(
            f"The mask is {w}×{h} but the picture is {width}×{height}: a mask must have the picture's "
            "shape (width to height) to be resized onto it."
        )
    if h >= height:
        resized = F.interpolate(m, size=(height, width), mode="area")
    else:
        resized = F.interpolate(m, size=(height, width), mode="bilinear", align_corners=False)
    return resized.clamp(0.0, 1.0), True


def would_change(mask: torch.Tensor | None, start: str, eta: float) -> bool:
    """False when the edit can only give the source back, so a UI can say so instead of running.

    That is: a mask that keeps every pixel (all zero: the final picture is the source whatever
    the start), or ``invert`` start with η = 0 and no mask (decoding the inversion reproduces the
    picture up to inversion error).
    """
    _check_start(start)
    if mask is not None and float(mask.detach().abs().max()) == 0.0:
        return False
    return not (start == "invert" and float(eta) == 0.0 and mask is None)


def _derived_seed(seed: int, salt: int) -> int:
    """A seed for an independent stream of ``seed`` (SplitMix64 finaliser of seed + salt·golden)."""
    z = (seed + salt * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return (z ^ (z >> 31)) & MAX_SEED


def derived_noise(noise: ImageNoise, salt: int) -> ImageNoise:
    """An independent stream per image, seeded from that image's seed and ``salt``."""
    return ImageNoise([_derived_seed(s, salt) for s in noise.seeds], noise.shape, noise.device, noise.dtype)


def harmonize_noise(noise: ImageNoise) -> ImageNoise:
    """The stream of the harmonize re-noising z': one per image, seeded from that image's seed."""
    return derived_noise(noise, 1)


class KeepUnmasked(StepHook):
    """Mask replacement: after each step, the kept part (m = 0) is the source at the step's level.

    Args:
        mask: (N or 1, 1, H, W) in [0, 1]; 1 = regenerate, 0 = keep, between = blend.
        source: the pictures y.
        timesteps: the decode's timesteps (to find the inversion state at each level).
        states: the inversion's states by timestep (invert start), else empty.
        noise: the kept region's fresh z_p per step (noise start).
    """

    def __init__(
        self,
        mask: torch.Tensor,
        source: torch.Tensor,
        timesteps: list[int],
        states: dict[int, torch.Tensor],
        noise: ImageNoise | None,
    ) -> None:
        self.mask, self.source, self.timesteps, self.states, self.noise = (
            mask,
            source,
            timesteps,
            states,
            noise,
        )

    def kept(self, ctx: StepContext) -> torch.Tensor:
        """k_p: the source after the last step, else its inversion state or a fresh forward noising."""
        if ctx.last:
            return self.source
        if self.states:
            return self.states[self.timesteps[ctx.index + 1]]
        assert self.noise is not None
        a = ctx.alpha_bar_prev
        return a**0.5 * self.source + (1 - a) ** 0.5 * self.noise.draw()

    def after_step(
        self, ctx: StepContext, x_prev: torch.Tensor, pred_x0: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """x_p ← m·x_p + (1 − m)·k_p; the reported x₀ shows the kept pixels as the source."""
        m = self.mask
        return m * x_prev + (1 - m) * self.kept(ctx), m * pred_x0 + (1 - m) * self.source


class Harmonize(StepHook):
    """RePaint's resampling: re-noise each step's result back to its level and redo it, R times."""

    renoises = True

    def __init__(self, times: int, noise: ImageNoise) -> None:
        self.times, self.noise = times, noise

    def redo(self, ctx: StepContext, x_prev: torch.Tensor) -> torch.Tensor | None:
        """x_t = √(ᾱ_t/ᾱ_p) x_p + √(1 − ᾱ_t/ᾱ_p) z' while this step has redos left."""
        if ctx.repeat >= self.times:
            return None
        ratio = ctx.alpha_bar_t / ctx.alpha_bar_prev
        return ratio**0.5 * x_prev + (1 - ratio) ** 0.5 * self.noise.draw()


def _check_inputs(
    model: DiffusionModel, source: torch.Tensor, mask: torch.Tensor | None, noise: ImageNoise | None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Validate and broadcast source (to the noise's batch) and mask; return them on source's device."""
    c, h, w = tuple(model.sample_shape)
    if source.ndim != 4 or tuple(source.shape[1:]) != (c, h, w):
        raise ValueError(
            f"The picture must be {w}×{h} with {c} channels for this model, got shape {tuple(source.shape)}."
        )
    if noise is not None:
        if tuple(noise.shape) != (c, h, w):
            raise ValueError(f"The noise streams draw {tuple(noise.shape)}, the model needs {(c, h, w)}.")
        if source.shape[0] == 1 and len(noise.seeds) > 1:
            source = source.expand(len(noise.seeds), -1, -1, -1)
        if len(noise.seeds) != source.shape[0]:
            raise ValueError(f"{source.shape[0]} pictures need as many seeds, got {len(noise.seeds)}.")
    if mask is None:
        return source, None
    if mask.ndim != 4 or mask.shape[1] != 1 or mask.shape[0] not in (1, source.shape[0]):
        raise ValueError(f"The mask must be (N or 1, 1, H, W), got shape {tuple(mask.shape)}.")
    if tuple(mask.shape[2:]) != (h, w):
        raise ValueError(
            f"The mask is {mask.shape[3]}×{mask.shape[2]} but the picture is {w}×{h}; "
            "resize the mask to the picture first."
        )
    m = mask.to(source.device, source.dtype)
    if not bool(torch.isfinite(m).all()) or float(m.min()) < 0.0 or float(m.max()) > 1.0:
        raise ValueError("Mask values must lie between 0 (keep) and 1 (regenerate).")
    return source, m


def _invert_start(
    model: DiffusionModel, source: torch.Tensor, seq: list[int], clip_sample: bool, total: int, refine: int
) -> Iterator[EditStep | tuple[torch.Tensor, dict[int, torch.Tensor]]]:
    """Yield the inversion's EditSteps, then (x_{t₀}, the states it passed by timestep).

    With ``refine`` K > 0 each inversion step is solved by up to K fixed-point updates
    (``core/inversion.py``); its EditStep's ``calls`` says how many model calls it made.
    """
    states: dict[int, torch.Tensor] = {}
    x = source
    for step in iter_invert(model, source, timesteps=seq, clip_sample=clip_sample, refine=refine):
        states[step.timestep] = x = step.x_t
        yield EditStep(
            step.index, total, step.timestep, step.x_t, step.pred_x0, calls=step.calls, phase="invert"
        )
    yield x, states


def iter_edit(
    model: DiffusionModel,
    source: torch.Tensor,
    *,
    strength: float,
    mask: torch.Tensor | None = None,
    start: str = "noise",
    steps: int = 50,
    eta: float = 0.0,
    spacing: str = "uniform",
    harmonize: int = 0,
    noise: ImageNoise | None = None,
    clip_sample: bool = False,
    refine: int = 0,
    sampler: str = DEFAULT_SAMPLER,
) -> Iterator[EditStep]:
    """Edit pictures: take them to t₀ and decode, regenerating where the mask says.

    Args:
        model: the network behind the DiffusionModel protocol.
        source: the pictures y, (N, C, H, W) in [−1, 1] (one picture is repeated for N seeds);
            their device and dtype are the run's.
        strength: r ∈ (0, 1]; the run decodes ⌊r·S⌋ steps from t₀ (see the module docstring).
        mask: (N or 1, 1, H, W) in [0, 1], 1 = regenerate, 0 = keep; None regenerates everything.
        start: ``noise`` (SDEdit) or ``invert`` (deterministic DDIM inversion up to t₀).
        steps: S of the whole schedule.
        eta: η ∈ [0, 1] of the decode steps (samplers that support η).
        spacing: the schedule's spacing (``schedule.make_timesteps``).
        harmonize: R ≥ 0 redo steps per step (needs a mask and a sampler that supports re-noising).
        noise: per-image streams (``ImageNoise(seeds, model.sample_shape, …)``); needed for
            ``noise`` start, η > 0 and harmonize.
        clip_sample: clip pred_x0 to [−1, 1] in every step.
        refine: K fixed-point updates per inversion step for ``invert`` start (0 = the paper's
            inversion); refined inversion steps make up to 2 + K calls each (``EditStep.calls``).
        sampler: any registered sampler (``core.samplers``); the mask replacement and harmonize
            are hooks over it.

    Yields:
        One EditStep per model call (per inversion step when refined); the last one's ``x_t`` is
        the edited picture, whose kept pixels (m = 0) equal the source exactly.
    """
    strength, eta, harmonize = check_strength(strength), check_eta(eta), _check_harmonize(harmonize)
    _check_start(start)
    source, m = _check_inputs(model, source, mask, noise)
    spec = check_edit_sampler(sampler, eta, harmonize)
    if harmonize and m is None:
        raise ValueError("Harmonize blends a regenerated region into the kept rest, so it needs a mask.")
    if noise is None and (start == "noise" or eta > 0 or harmonize):
        raise ValueError(
            "This edit is random (noise start, η above 0 or harmonize), so it needs a seed: "
            "pass noise=ImageNoise(seeds, …)."
        )
    seq = edit_timesteps(model, steps, strength, spacing)
    n = len(seq)
    total = n * (1 + harmonize) + (n if start == "invert" else 0)
    z = noise.draw() if noise is not None else None
    states: dict[int, torch.Tensor] = {}
    if start == "invert":
        for item in _invert_start(model, source, seq, clip_sample, total, refine):
            if isinstance(item, EditStep):
                yield item
            else:
                x, states = item
    else:
        assert z is not None
        level = float(model.schedule.alpha_bar[seq[0]])
        x = level**0.5 * source + (1 - level) ** 0.5 * z
    hooks: list[StepHook] = []
    if m is not None:
        kept_noise = derived_noise(noise, 2) if noise is not None and not states else None
        hooks.append(KeepUnmasked(m, source, seq, states, kept_noise))
    if harmonize and noise is not None:
        hooks.append(Harmonize(harmonize, harmonize_noise(noise)))
    run = spec.fn(model, x, timesteps=seq, eta=eta, noise=noise, clip_sample=clip_sample, hooks=hooks)
    yield from _as_edit_steps(run, total, done=n if start == "invert" else 0)


def _as_edit_steps(run: Iterator[StepResult], total: int, done: int) -> Iterator[EditStep]:
    """The sampler's steps numbered over every model call of the edit."""
    for index, step in enumerate(run, start=done):
        phase = "decode" if step.phase == "sample" else step.phase
        yield EditStep(index, total, step.timestep, step.x_t, step.pred_x0, phase=phase)


def check_edit_sampler(sampler: str, eta: float, harmonize: int) -> SamplerSpec:
    """The sampler's registry entry; a ValueError in words for a setting it cannot take."""
    spec = get_sampler(sampler)
    if eta > 0 and not spec.supports_eta:
        raise ValueError(
            f"{spec.label} is deterministic; η applies to samplers such as DDIM — set eta to 0 or "
            "choose the ddim sampler."
        )
    if harmonize and not spec.supports_renoise:
        raise ValueError(
            f"Harmonize re-noises and redoes each step, which {spec.label} does not allow (its "
            "multistep history would no longer match); set harmonize to 0 or choose the ddim sampler."
        )
    return spec


def edit(model: DiffusionModel, source: torch.Tensor, **kwargs: object) -> torch.Tensor:
    """The edited pictures (all keyword arguments of ``iter_edit``)."""
    return _last(iter_edit(model, source, **kwargs))  # type: ignore[arg-type]
