"""Restoration in the null space (DDNM: Wang, Yu & Zhang, ICLR 2023): upscale, colourise, inpaint.

An observation y = A x₀ of a picture x₀ is restored at the cost of one sampling run. At every step
the predicted x₀ is corrected before the update (:class:`NullSpace`, a ``StepHook``, so it runs
over every registered sampler)::

    x̂₀' = A†y + (I − A†A) x̂₀         (the range of A† from y, the null space from the model)

Degradations, each a linear A with its pseudo-inverse A† (A A† = I):

* ``upscale`` by N ∈ {2, 4, 8}: A = N×N average pooling, A† = nearest upsampling; y is the
  model's size / N.
* ``colorize``: A = the channel mean (R + G + B)/3, A† copies the grey into every channel.
* ``inpaint``: A = the keep-mask 1 − m, A† the same; the correction is (1 − m)·y + m·x̂₀, which for
  a soft mask (values between 0 and 1) regenerates a pixel in proportion to m.
* combinations (``upscale+colorize``: a small grey picture): A = A₂A₁, A† = A₁†A₂†, applied in the
  order colorize → upscale → inpaint (a mask lies on the observed, small picture).

**η and the noise.** DDNM's reference code (``wyhuai/DDNM``, ``functions/svd_ddnm.py``, the
simplified ``ddnm_diffusion``) steps with the network's own ε̂ and splits the noise as
x_p = √ᾱ_p x̂₀' + c1 z + c2 ε̂, c1 = η√(1 − ᾱ_p), c2 = √(1 − η²)√(1 − ᾱ_p). That is DDIM's eq. (12)
with σ = η√(1 − ᾱ_p) instead of σ_t(η), and with ε̂ *not* recomputed from the corrected x̂₀'.
The hook says so with ``StepHook.ddnm_noise`` (``noise_rule="ddnm"``, the default), which DDIM
reads; ``noise_rule="ddim"`` instead lets DDIM recompute ε̂ from x_t and x̂₀' and use its own σ_t(η)
(the DDIM ODE through the corrected point). Either way η = 0 draws no noise. DPM-Solver++ takes
the corrected data prediction into its update and history; it draws no noise, so the rule does
not apply to it.

**The end.** The clean level of a run is ᾱ = 1 or ᾱ₀ < 1 (``set_alpha_to_one: false``); in the
second case the last step leaves a √(1 − ᾱ₀) trace of ε̂ in x₀. The last state is therefore made
consistent once more, alternating the correction with clipping to [−1, 1] (projections onto two
convex sets that meet at A†y), so the saved picture is in range and A x = y up to rounding, and an
inpainting's kept pixels are the source bit for bit.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace

import torch
import torch.nn.functional as F

from ddim_studio.core.hooks import StepContext, StepHook
from ddim_studio.core.masks import composite, feathered
from ddim_studio.core.models.protocol import DiffusionModel
from ddim_studio.core.noise import ImageNoise
from ddim_studio.core.samplers import get_sampler
from ddim_studio.core.sampling import StepResult, check_eta, check_latents

TASKS = ("upscale", "colorize", "inpaint")
FACTORS = (2, 4, 8)
NOISE_RULES = ("ddnm", "ddim")
INPAINT_METHODS = ("ddnm", "replace")
#: At most this many clip/correct rounds make the last state consistent and in range.
FINAL_ROUNDS = 100


class Degradation:
    """A linear degradation A with its pseudo-inverse A† (A A† = I)."""

    name = ""

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        """A x."""
        raise NotImplementedError

    def pinv(self, y: torch.Tensor) -> torch.Tensor:
        """A† y."""
        raise NotImplementedError

    def observed_shape(self, shape: tuple[int, int, int]) -> tuple[int, int, int]:
        """The (C, H, W) of A x for x of ``shape``."""
        return shape

    def observe(self, picture: torch.Tensor) -> torch.Tensor:
        """y from a picture of the observed size (3 channels): the grey of a colourise, else itself."""
        return picture

    def project(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """A†y + (I − A†A) x."""
        return x + self.pinv(y - self.apply(x))


class Upscale(Degradation):
    """A = N×N average pooling, A† = nearest upsampling by N."""

    def __init__(self, factor: int) -> None:
        if factor not in FACTORS:
            raise ValueError(f"The upscale factor must be 2, 4 or 8, got {factor!r}.")
        self.factor = int(factor)
        self.name = f"upscale ×{factor}"

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x, self.factor)

    def pinv(self, y: torch.Tensor) -> torch.Tensor:
        n = self.factor
        return y.repeat_interleave(n, dim=-2).repeat_interleave(n, dim=-1)

    def observed_shape(self, shape: tuple[int, int, int]) -> tuple[int, int, int]:
        c, h, w = shape
        if h % self.factor or w % self.factor:
            raise ValueError(f"A {w}×{h} picture cannot be upscaled ×{self.factor} exactly.")
        return c, h // self.factor, w // self.factor


class Colorize(Degradation):
    """A = the channel mean, A† = the grey copied into every channel."""

    name = "colorize"

    def __init__(self, channels: int = 3) -> None:
        self.channels = channels

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=1, keepdim=True)

    def pinv(self, y: torch.Tensor) -> torch.Tensor:
        return y.expand(-1, self.channels, -1, -1)

    def observed_shape(self, shape: tuple[int, int, int]) -> tuple[int, int, int]:
        return 1, shape[1], shape[2]

    def observe(self, picture: torch.Tensor) -> torch.Tensor:
        return picture.mean(dim=1, keepdim=True) if picture.shape[1] != 1 else picture


class Inpaint(Degradation):
    """A = A† = the keep-mask 1 − m (m: 1 = regenerate, 0 = keep, between = partly)."""

    name = "inpaint"

    def __init__(self, mask: torch.Tensor) -> None:
        if mask.ndim != 4 or mask.shape[1] != 1:
            raise ValueError(f"The mask must be (N or 1, 1, H, W), got shape {tuple(mask.shape)}.")
        if not bool(torch.isfinite(mask).all()) or float(mask.min()) < 0 or float(mask.max()) > 1:
            raise ValueError("Mask values must lie between 0 (keep) and 1 (regenerate).")
        self.mask = mask

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        return (1 - self.mask.to(x)) * x

    def pinv(self, y: torch.Tensor) -> torch.Tensor:
        return (1 - self.mask.to(y)) * y

    def observed_shape(self, shape: tuple[int, int, int]) -> tuple[int, int, int]:
        if tuple(self.mask.shape[2:]) != shape[1:]:
            h, w = shape[1:]
            raise ValueError(
                f"The mask is {self.mask.shape[3]}×{self.mask.shape[2]} but the picture is {w}×{h}."
            )
        return shape

    def project(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """(1 − m)·y + m·x: the range/null split for a hard mask, proportional for a soft one."""
        m = self.mask.to(x)
        return (1 - m) * y + m * x


class Composed(Degradation):
    """A = A_k ⋯ A_1 (``parts`` in the order they act), A† = A_1† ⋯ A_k†."""

    def __init__(self, parts: Sequence[Degradation]) -> None:
        self.parts = list(parts)
        self.name = "+".join(p.name for p in self.parts)

    def apply(self, x: torch.Tensor) -> torch.Tensor:
        for part in self.parts:
            x = part.apply(x)
        return x

    def pinv(self, y: torch.Tensor) -> torch.Tensor:
        for part in reversed(self.parts):
            y = part.pinv(y)
        return y

    def observed_shape(self, shape: tuple[int, int, int]) -> tuple[int, int, int]:
        for part in self.parts:
            shape = part.observed_shape(shape)
        return shape

    def observe(self, picture: torch.Tensor) -> torch.Tensor:
        for part in self.parts:
            picture = part.observe(picture)
        return picture


def parse_task(task: str | Sequence[str]) -> list[str]:
    """``"upscale+colorize"`` or a list → the tasks in the order they act (colorize, upscale, inpaint)."""
    names = task.split("+") if isinstance(task, str) else list(task)
    names = [
        n.strip().lower().replace("colourise", "colorize").replace("colorise", "colorize") for n in names
    ]
    unknown = [n for n in names if n not in TASKS]
    if unknown or not names or len(set(names)) != len(names):
        raise ValueError(
            f"A task is upscale, colorize or inpaint, or a combination such as upscale+colorize; "
            f"got {task!r}."
        )
    order = ("colorize", "upscale", "inpaint")
    return sorted(names, key=order.index)


def make_degradation(
    task: str | Sequence[str], *, factor: int = 4, mask: torch.Tensor | None = None, channels: int = 3
) -> Degradation:
    """The degradation of a task (``parse_task``); inpaint needs ``mask`` at the observed size."""
    parts: list[Degradation] = []
    for name in parse_task(task):
        if name == "upscale":
            parts.append(Upscale(factor))
        elif name == "colorize":
            parts.append(Colorize(channels))
        else:
            if mask is None:
                raise ValueError("Inpainting needs a mask: white where the picture is to be filled.")
            parts.append(Inpaint(mask))
    return parts[0] if len(parts) == 1 else Composed(parts)


def needed_size(model: DiffusionModel, degradation: Degradation) -> tuple[int, int]:
    """The (width, height) an input picture must have for this model and degradation."""
    _, h, w = degradation.observed_shape(model.sample_shape)
    return w, h


def consistency_error(degradation: Degradation, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per picture, the largest |A x − y| on the [0, 1] pixel scale (half the [−1, 1] difference).

    y is compared as A A† y, so an inpainting's y may be the whole picture (its hole is not observed).
    """
    diff = (degradation.apply(x) - degradation.apply(degradation.pinv(y.to(x)))).abs() / 2
    return diff.reshape(diff.shape[0], -1).amax(dim=1)


def make_consistent(degradation: Degradation, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """A picture in [−1, 1] with A x = y: the correction and clipping, alternated until both hold."""
    for _ in range(FINAL_ROUNDS):
        x = degradation.project(x, y).clamp(-1.0, 1.0)
        if float(consistency_error(degradation, x, y).max()) < 1e-5:
            break
    return x


class NullSpace(StepHook):
    """DDNM's correction x̂₀' = A†y + (I − A†A) x̂₀ before every update, over any sampler.

    Args:
        degradation: A and A†.
        y: the observation, (N or 1, *observed_shape).
        noise_rule: ``ddnm`` (DDIM keeps ε̂ and splits the noise as DDNM does) or ``ddim``.
    """

    def __init__(self, degradation: Degradation, y: torch.Tensor, noise_rule: str = "ddnm") -> None:
        if noise_rule not in NOISE_RULES:
            raise ValueError(f"The noise rule must be 'ddnm' or 'ddim', got {noise_rule!r}.")
        self.degradation, self.y = degradation, y
        self.ddnm_noise = noise_rule == "ddnm"

    def correct_x0(self, ctx: StepContext, x_t: torch.Tensor, pred_x0: torch.Tensor) -> torch.Tensor:
        """A†y + (I − A†A) pred_x0."""
        return self.degradation.project(pred_x0, self.y.to(pred_x0))

    def after_step(
        self, ctx: StepContext, x_prev: torch.Tensor, pred_x0: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """After the last step, the picture made consistent and in range (see the module docstring)."""
        if not ctx.last:
            return x_prev, pred_x0
        final = make_consistent(self.degradation, x_prev, self.y.to(x_prev))
        return final, final


def check_observation(model: DiffusionModel, degradation: Degradation, y: torch.Tensor) -> None:
    """A ValueError naming the size needed when ``y`` is not (N, *observed_shape)."""
    expected = degradation.observed_shape(model.sample_shape)
    if y.ndim != 4 or tuple(y.shape[1:]) != expected:
        w, h = expected[2], expected[1]
        got = f"{y.shape[-1]}×{y.shape[-2]}" if y.ndim >= 2 else str(tuple(y.shape))
        raise ValueError(
            f"{degradation.name.capitalize()} needs a {w}×{h} picture for this model, got {got}."
        )


def iter_restore(
    model: DiffusionModel,
    y: torch.Tensor,
    *,
    task: str | Sequence[str],
    factor: int = 4,
    mask: torch.Tensor | None = None,
    steps: int = 50,
    eta: float = 0.0,
    sampler: str = "ddim",
    noise: ImageNoise,
    clip_sample: bool = False,
    spacing: str | None = None,
    noise_rule: str = "ddnm",
    method: str = "ddnm",
    feather: int = 0,
) -> Iterator[StepResult]:
    """Restore pictures from their observation y: S model calls, one StepResult each.

    Args:
        model: the network behind the DiffusionModel protocol.
        y: the observed pictures, (N or 1, C, h, w) in [−1, 1] at the observed size (the model's
            size / N for upscale); a colour picture given to colorize is taken as its channel mean.
        task: ``upscale``, ``colorize``, ``inpaint`` or a ``+`` combination (``parse_task``).
        factor: N for upscale.
        mask: (N or 1, 1, h, w) in [0, 1], 1 = fill, at the observed size (inpaint).
        steps: S, the model calls.
        eta: η (samplers that support it; see the module docstring for how it splits the noise).
        sampler: any registered sampler.
        noise: the per-image streams; x_T is their first draw, then the η-noise.
        clip_sample: clip the network's pred_x0 to [−1, 1] before the correction.
        spacing: the timestep spacing; the sampler's default when None.
        noise_rule: ``ddnm`` (default) or ``ddim``: how DDIM steps from the corrected x̂₀.
        method: for ``inpaint`` alone, ``ddnm`` or ``replace`` (the Edit mode's mask replacement
            at strength 1, noise start: the same S calls).
        feather: for ``inpaint`` alone, f pixels: the ring around the mask is regenerated and the
            last picture composited from y with the linear ramp (``core.masks.feathered``).

    Yields:
        One StepResult per model call; ``pred_x0`` is the corrected x̂₀', and the last ``x_t`` the
        restored pictures, in [−1, 1] and consistent with y.
    """
    check_eta(eta)
    spec = get_sampler(sampler)
    if eta > 0 and not spec.supports_eta:
        raise ValueError(f"{spec.label} is deterministic; set eta to 0 or choose the ddim sampler.")
    if method not in INPAINT_METHODS:
        raise ValueError(f"The inpainting method must be 'ddnm' or 'replace', got {method!r}.")
    c, _, _ = tuple(model.sample_shape)
    blend = None
    if feather and mask is not None and parse_task(task) == ["inpaint"]:
        mask, blend = feathered(mask, feather)
    degradation = make_degradation(task, factor=factor, mask=mask, channels=c)
    y = degradation.observe(y)
    check_observation(model, degradation, y)
    if y.shape[0] == 1 and len(noise.seeds) > 1:
        y = y.expand(len(noise.seeds), -1, -1, -1)
    if y.shape[0] != len(noise.seeds):
        raise ValueError(f"{y.shape[0]} pictures need as many seeds, got {len(noise.seeds)}.")
    if method == "replace" and isinstance(degradation, Inpaint):
        run = _replace_inpaint(model, y, degradation, steps, eta, sampler, noise, clip_sample, spacing)
    else:
        x_T = noise.draw()
        check_latents(model, x_T, "x_T")
        hook = NullSpace(degradation, y.to(x_T), noise_rule)
        run = spec.fn(
            model, x_T, steps=steps, eta=eta, spacing=spacing or spec.default_spacing, noise=noise,
            clip_sample=clip_sample, hooks=[hook],
        )  # fmt: skip
    for step in run:
        if blend is not None and step.index == step.total - 1:
            step = replace(step, x_t=composite(step.x_t, y, blend))
        yield step


def _replace_inpaint(
    model: DiffusionModel, y: torch.Tensor, degradation: Inpaint, steps: int, eta: float, sampler: str,
    noise: ImageNoise, clip_sample: bool, spacing: str | None,
) -> Iterator[StepResult]:  # fmt: skip
    """The Edit mode's inpainting (mask replacement after each step) at strength 1, as StepResults."""
    from ddim_studio.core.editing import iter_edit

    run = iter_edit(
        model, y, strength=1.0, mask=degradation.mask.to(y), start="noise", steps=steps, eta=eta,
        noise=noise, clip_sample=clip_sample, sampler=sampler,
        spacing=spacing or get_sampler(sampler).default_spacing,
    )  # fmt: skip
    for step in run:
        x = step.x_t if step.index < step.total - 1 else make_consistent(degradation, step.x_t, y)
        yield StepResult(step.index, step.total, step.timestep, x, step.pred_x0)


def restore(model: DiffusionModel, y: torch.Tensor, **kwargs: object) -> torch.Tensor:
    """The restored pictures (all keyword arguments of ``iter_restore``)."""
    last = None
    for last in iter_restore(model, y, **kwargs):  # type: ignore[arg-type]  # noqa: B007
        pass
    if last is None:
        raise ValueError("The run had no steps.")
    return last.x_t
