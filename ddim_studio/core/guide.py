"""Guide by a picture: ILVR (Choi et al., "ILVR: Conditioning Method for Denoising Diffusion
Probabilistic Models", ICCV 2021) as one per-step hook over every registered sampler.

φ_N = up(down(·, N)) keeps what survives shrinking a picture N times. After each step that lands
on level p (ᾱ_p; a_p = √ᾱ_p, s_p = √(1 − ᾱ_p)):

    x_p ← x_p − φ_N(x_p) + φ_N(y_p),      y_p = a_p y + s_p z_p   (y itself after the last step)

so the coarse structure of the result follows the reference y while the model invents the details.
z_p is a fresh draw per step from a stream seeded from the image's seed (``derived_noise``), so a
run is reproducible from its seed. A large N keeps only the layout; N = 1 copies y (φ_1 is the
identity and the swap sets x_p = y_p exactly).

**The resize** follows the reference code's ``resizer.py`` (``jychoi118/ilvr_adm``, after Assaf
Shocher's ``resizer``): separable cubic kernel (a = −0.5), antialiased when shrinking (the kernel
stretched by N, i.e. N·4 taps wide, weights normalised), reflected at the borders (the edge pixel
repeated), plain cubic when enlarging. Differences, none of which changes a weight beyond float
rounding: the weights are computed in torch (float64) and applied as one dense (H × H) and one
(W × W) matrix P = U·D per axis instead of a gather per pass; N must divide the picture's height
and width (the reference asserts a power of two for its square pictures, and an uneven N would
need its centre-shift rule).

**Until.** The reference conditions steps while their timestep i > ``range_t``. Here ``until`` is
a fraction F ∈ [0, 1) of the diffusion time T: a step is conditioned while its timestep t ≥ F·T
(with uniform spacing, about the first (1 − F) of the run's steps); below that the model runs
free. F = 0 conditions every step, the last included. The reference noises y to the level of the
step's *start* (``q_sample(ref, t)``); here y_p is at the level the step *lands on*, as the
paper's equation writes it (x_{t−1} and y_{t−1}).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from functools import lru_cache

import torch

from ddim_studio.core.editing import derived_noise
from ddim_studio.core.hooks import StepContext, StepHook
from ddim_studio.core.models.protocol import DiffusionModel
from ddim_studio.core.names import DEFAULT_SAMPLER
from ddim_studio.core.noise import ImageNoise
from ddim_studio.core.samplers import get_sampler
from ddim_studio.core.sampling import StepResult, _last, check_eta

#: The salt of the reference noise stream (editing uses 1 for harmonize, 2 for kept-region noise).
GUIDE_NOISE_SALT = 3
#: Kernel width (taps at scale 1) of the cubic kernel.
CUBIC_WIDTH = 4.0


def cubic(x: torch.Tensor) -> torch.Tensor:
    """Keys' cubic kernel with a = −0.5 (the reference's ``cubic``)."""
    ax = x.abs()
    ax2, ax3 = ax**2, ax**3
    near = (1.5 * ax3 - 2.5 * ax2 + 1) * (ax <= 1)
    far = (-0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2) * ((ax > 1) & (ax <= 2))
    return near + far


def resize_matrix(in_length: int, out_length: int) -> torch.Tensor:
    """The (out_length × in_length) float64 matrix of a 1-D cubic resize, antialiased when shrinking.

    Output pixel j (1-based) sits at input coordinate j/s + (1 − 1/s)/2 (pixel centres map to
    pixel centres, borders to borders); its weights are the cubic kernel at the distances to the
    input pixels within reach — stretched to 4/s taps when s < 1 — normalised to sum to 1, with
    out-of-range pixels reflected back (the reference's mirror index).
    """
    scale = out_length / in_length
    antialias = scale < 1
    width = CUBIC_WIDTH / scale if antialias else CUBIC_WIDTH
    out = torch.arange(1, out_length + 1, dtype=torch.float64)
    match = (out - (out_length - in_length * scale) / 2) / scale + 0.5 * (1 - 1 / scale)
    left = torch.floor(match - width / 2)
    taps = int(math.ceil(width)) + 2
    fov = left[:, None] + torch.arange(taps, dtype=torch.float64)[None, :] - 1
    dist = match[:, None] - fov - 1
    weights = scale * cubic(scale * dist) if antialias else cubic(dist)
    total = weights.sum(dim=1, keepdim=True)
    weights = weights / torch.where(total == 0, torch.ones_like(total), total)
    mirror = torch.cat([torch.arange(in_length), torch.arange(in_length - 1, -1, -1)])
    index = mirror[torch.remainder(fov.long(), 2 * in_length)]
    matrix = torch.zeros(out_length, in_length, dtype=torch.float64)
    matrix.scatter_add_(1, index, weights)
    return matrix


@lru_cache(maxsize=32)
def _low_pass_matrix(length: int, factor: int) -> torch.Tensor:
    """P = U·D for one axis: shrink ``length`` by ``factor``, then enlarge back (float64)."""
    small = length // factor
    return resize_matrix(small, length) @ resize_matrix(length, small)


def check_factor(factor: int, size: tuple[int, int]) -> int:
    """N if it is a whole number ≥ 1 that divides the picture's height and width, else a ValueError."""
    height, width = size
    if isinstance(factor, bool) or not isinstance(factor, int) or factor < 1:
        raise ValueError(f"The factor must be a whole number of 1 or more, got {factor!r}.")
    if height % factor or width % factor:
        raise ValueError(
            f"The factor must divide the picture's {width}×{height} size; choose one of "
            f"{', '.join(str(n) for n in valid_factors(size))}."
        )
    return factor


def valid_factors(size: tuple[int, int]) -> list[int]:
    """The factors N that divide both the height and the width, smallest first."""
    height, width = size
    return [n for n in range(1, min(height, width) + 1) if height % n == 0 and width % n == 0]


def low_pass(x: torch.Tensor, factor: int) -> torch.Tensor:
    """φ_N(x) = up(down(x, N)) of (…, H, W) pictures; N = 1 returns ``x`` itself."""
    height, width = int(x.shape[-2]), int(x.shape[-1])
    check_factor(factor, (height, width))
    if factor == 1:
        return x
    rows = _low_pass_matrix(height, factor).to(x.device, x.dtype)
    cols = _low_pass_matrix(width, factor).to(x.device, x.dtype)
    return torch.einsum("ih,...hw,jw->...ij", rows, x, cols)


def downsample(x: torch.Tensor, factor: int) -> torch.Tensor:
    """down(x, N): the (…, H/N, W/N) antialiased cubic shrink (what φ_N keeps, at its own size)."""
    height, width = int(x.shape[-2]), int(x.shape[-1])
    check_factor(factor, (height, width))
    if factor == 1:
        return x
    rows = resize_matrix(height, height // factor).to(x.device, x.dtype)
    cols = resize_matrix(width, width // factor).to(x.device, x.dtype)
    return torch.einsum("ih,...hw,jw->...ij", rows, x, cols)


def check_until(until: float) -> float:
    """F if it lies in [0, 1), else a ValueError in words."""
    value = float(until)
    if not 0.0 <= value < 1.0:
        raise ValueError(
            f"'Until' is the fraction of the run left unguided at the end: from 0 (guide every step) "
            f"up to, not including, 1; got {until}."
        )
    return value


class ILVR(StepHook):
    """The low-pass swap after each step while the step's timestep t ≥ ``threshold``.

    Args:
        reference: y, (N or 1, C, H, W) in [−1, 1].
        factor: N (divides H and W).
        threshold: the least timestep that is conditioned (F·T).
        noise: the stream of the fresh z_p, one draw per conditioned step before the last.
    """

    def __init__(self, reference: torch.Tensor, factor: int, threshold: float, noise: ImageNoise) -> None:
        self.reference, self.factor, self.threshold, self.noise = reference, factor, threshold, noise
        self.reference_low = low_pass(reference, factor)

    def active(self, ctx: StepContext) -> bool:
        """Whether the step is conditioned."""
        return ctx.timestep >= self.threshold

    def after_step(
        self, ctx: StepContext, x_prev: torch.Tensor, pred_x0: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """x_p − φ_N(x_p) + φ_N(y_p); the reported x₀ gets y's low frequencies too."""
        if not self.active(ctx):
            return x_prev, pred_x0
        if ctx.last:
            y_low = self.reference_low
        else:
            a = ctx.alpha_bar_prev
            y_low = low_pass(a**0.5 * self.reference + (1 - a) ** 0.5 * self.noise.draw(), self.factor)
        x_prev = x_prev - low_pass(x_prev, self.factor) + y_low
        shown = pred_x0 - low_pass(pred_x0, self.factor) + self.reference_low
        return x_prev, shown


def _check_reference(model: DiffusionModel, reference: torch.Tensor, noise: ImageNoise) -> torch.Tensor:
    """The reference broadcast to the seeds' batch; a ValueError in words for a wrong shape."""
    c, h, w = tuple(model.sample_shape)
    if reference.ndim != 4 or tuple(reference.shape[1:]) != (c, h, w):
        raise ValueError(
            f"The reference must be {w}×{h} with {c} channels for this model, got shape "
            f"{tuple(reference.shape)}."
        )
    if tuple(noise.shape) != (c, h, w):
        raise ValueError(f"The noise streams draw {tuple(noise.shape)}, the model needs {(c, h, w)}.")
    n = len(noise.seeds)
    if reference.shape[0] == 1 and n > 1:
        reference = reference.expand(n, -1, -1, -1)
    if reference.shape[0] != n:
        raise ValueError(f"{reference.shape[0]} references need as many seeds, got {n}.")
    if not bool(torch.isfinite(reference).all()):
        raise ValueError("The reference picture has values that are not numbers.")
    return reference


def iter_guide(
    model: DiffusionModel,
    reference: torch.Tensor,
    *,
    factor: int,
    until: float = 0.0,
    steps: int = 50,
    eta: float = 0.0,
    sampler: str = DEFAULT_SAMPLER,
    noise: ImageNoise,
    spacing: str | None = None,
    clip_sample: bool = False,
) -> Iterator[StepResult]:
    """Sample new pictures whose N-times low-pass follows ``reference`` (ILVR).

    Args:
        model: the network behind the DiffusionModel protocol.
        reference: y, (1 or N, C, H, W) in [−1, 1] on the run's device and dtype.
        factor: N; divides the picture's height and width.
        until: F ∈ [0, 1); steps whose timestep is below F·T run free.
        steps: S.
        eta: η (samplers that support it).
        sampler: any registered sampler.
        noise: one stream per picture; its first draw is x_T, then the sampler's η-noise. The
            reference's z_p come from a stream derived from each picture's seed.
        spacing: the timestep spacing; None takes the sampler's default.
        clip_sample: clip pred_x0 to [−1, 1] in every step.

    Yields:
        One StepResult per model call; the last one's ``x_t`` is the guided picture.
    """
    eta = check_eta(eta)
    spec = get_sampler(sampler)
    if eta > 0 and not spec.supports_eta:
        raise ValueError(f"{spec.label} is deterministic; set eta to 0 or choose the ddim sampler.")
    reference = _check_reference(model, reference, noise)
    c, h, w = tuple(model.sample_shape)
    factor = check_factor(factor, (h, w))
    threshold = check_until(until) * model.schedule.num_train_timesteps
    hook = ILVR(reference, factor, threshold, derived_noise(noise, GUIDE_NOISE_SALT))
    x_T = noise.draw()
    yield from spec.fn(
        model, x_T, steps=steps, eta=eta, spacing=spacing or spec.default_spacing, noise=noise,
        clip_sample=clip_sample, hooks=[hook],
    )  # fmt: skip


def guide(model: DiffusionModel, reference: torch.Tensor, **kwargs: object) -> torch.Tensor:
    """The guided pictures (all keyword arguments of ``iter_guide``)."""
    return _last(iter_guide(model, reference, **kwargs))  # type: ignore[arg-type]
