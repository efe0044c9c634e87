"""Noise schedules (betas → ᾱ) and the timestep sequences τ that DDIM walks.

Notation (DDIM paper, Song et al. 2021, which writes α_t for DDPM's ᾱ_t):

=================  ==================  ==========================================
code               paper               meaning
=================  ==================  ==========================================
``betas``          β_t                 per-step noise variance, t = 0 … T−1
``alpha_bar``      α_t (DDPM ᾱ_t)      cumulative product of (1 − β), 0-based t
``timesteps``      τ                   the S timesteps visited, strictly decreasing
``steps``          S                   length of τ
=================  ==================  ==========================================

Timesteps are 0-based as in diffusers and the official DDIM code: timestep t uses
``alpha_bar[t]``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ddim_studio.core import names

BETA_SCHEDULES = ("linear", "scaled_linear", "squaredcos_cap_v2")
#: T of a schedule read from a model's config: published models use 1000 to 4000. The bound keeps a
#: config's ``num_train_timesteps: 1e12`` from allocating (or looping over) that many betas.
MAX_TRAIN_TIMESTEPS = 100_000
SPACINGS = names.SPACINGS


class ScheduleError(ValueError):
    """A schedule or timestep request that cannot be satisfied; the message says how to fix it."""


def _cosine_betas(num_train_timesteps: int, max_beta: float = 0.999) -> np.ndarray:
    """Betas of the squaredcos_cap_v2 schedule (Nichol & Dhariwal 2021), as diffusers builds them."""

    def alpha_bar_fn(t: float) -> float:
        return math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2

    betas = []
    for i in range(num_train_timesteps):
        t1 = i / num_train_timesteps
        t2 = (i + 1) / num_train_timesteps
        betas.append(min(1 - alpha_bar_fn(t2) / alpha_bar_fn(t1), max_beta))
    return np.asarray(betas, dtype=np.float64)


def make_betas(
    beta_schedule: str = "linear",
    beta_start: float = 1e-4,
    beta_end: float = 0.02,
    num_train_timesteps: int = 1000,
) -> torch.Tensor:
    """Betas for one of ``linear``, ``scaled_linear`` or ``squaredcos_cap_v2`` (float32, like diffusers)."""
    if not 1 <= num_train_timesteps <= MAX_TRAIN_TIMESTEPS:
        raise ScheduleError(
            f"num_train_timesteps must be from 1 to {MAX_TRAIN_TIMESTEPS}, got {num_train_timesteps}."
        )
    for name, value in (("beta_start", beta_start), ("beta_end", beta_end)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
            raise ScheduleError(f"{name} must be a number from 0 to below 1, got {value!r}.")
    if beta_schedule == "linear":
        return torch.linspace(beta_start, beta_end, num_train_timesteps, dtype=torch.float32)
    if beta_schedule == "scaled_linear":
        root = torch.linspace(beta_start**0.5, beta_end**0.5, num_train_timesteps, dtype=torch.float32)
        return root**2
    if beta_schedule == "squaredcos_cap_v2":
        return torch.tensor(_cosine_betas(num_train_timesteps), dtype=torch.float32)
    raise ScheduleError(
        f"Unknown beta_schedule {beta_schedule!r}; choose one of {', '.join(BETA_SCHEDULES)}."
    )


@dataclass(frozen=True)
class NoiseSchedule:
    """The training noise schedule of a model: ᾱ per timestep and how the model is parameterised.

    Attributes:
        alpha_bar: ᾱ_t for t = 0 … T−1, float32 on the CPU (converted once per run to the
            sampler's device and dtype).
        prediction_type: what the network outputs: ``epsilon``, ``v_prediction`` or ``sample``.
        steps_offset: diffusers' offset added to ``leading`` timesteps.
        clip_sample: what the model's config asked for; reported, never applied silently.
        set_alpha_to_one: diffusers' choice for the level after the last step (and before the first
            inversion step): ᾱ = 1 (True, the DDIM paper's α₀ := 1) or ᾱ_0 of the schedule (False).
    """

    alpha_bar: torch.Tensor
    prediction_type: str = "epsilon"
    steps_offset: int = 0
    clip_sample: bool = False
    beta_schedule: str = "linear"
    set_alpha_to_one: bool = True

    @property
    def final_alpha_bar(self) -> float:
        """ᾱ of the clean end of a run: 1, or ᾱ_0 when the config sets ``set_alpha_to_one: false``."""
        return 1.0 if self.set_alpha_to_one else float(self.alpha_bar[0])

    @property
    def num_train_timesteps(self) -> int:
        """T, the number of training timesteps."""
        return int(self.alpha_bar.shape[0])

    @classmethod
    def from_betas(cls, betas: torch.Tensor, **kwargs: Any) -> NoiseSchedule:
        """Build from betas: ᾱ is the float32 cumulative product of (1 − β).

        float32, as in diffusers and the official DDIM code, so that samples match theirs to the bit
        pattern of the schedule rather than drifting by the schedule's own round-off.
        """
        if betas.ndim != 1 or not 1 <= betas.shape[0] <= MAX_TRAIN_TIMESTEPS:
            raise ScheduleError(
                f"betas must be a list of 1 to {MAX_TRAIN_TIMESTEPS} numbers, got shape {list(betas.shape)}."
            )
        check_betas(betas)
        alpha_bar = torch.cumprod(1.0 - betas.to(torch.float32), dim=0)
        if not bool(alpha_bar[-1] > 0):
            raise ScheduleError(
                "The schedule's ᾱ reaches 0 (its noise level is too high to be represented); "
                "use fewer training timesteps or smaller betas."
            )
        return cls(alpha_bar=alpha_bar, **kwargs)

    @classmethod
    def linear(cls, num_train_timesteps: int = 1000, **kwargs: Any) -> NoiseSchedule:
        """The DDPM paper's schedule: linear β from 1e-4 to 0.02."""
        return cls.from_betas(make_betas("linear", 1e-4, 0.02, num_train_timesteps), **kwargs)

    @classmethod
    def from_diffusers_config(cls, config: Mapping[str, Any]) -> NoiseSchedule:
        """Build from a diffusers ``scheduler_config.json`` mapping (missing keys: diffusers' defaults).

        The legacy ``GaussianDDPMScheduler`` configs of early ``google/ddpm-*`` revisions name T
        ``timesteps``; it is read when ``num_train_timesteps`` is absent.
        """
        if config.get("trained_betas") is not None:
            trained = config["trained_betas"]
            if not isinstance(trained, list) or not all(
                isinstance(b, (int, float)) and not isinstance(b, bool) for b in trained
            ):
                raise ScheduleError("trained_betas must be a list of numbers.")
            betas = torch.tensor(trained, dtype=torch.float64)
        else:
            betas = make_betas(
                str(config.get("beta_schedule", "linear")),
                float(config.get("beta_start", 1e-4)),
                float(config.get("beta_end", 0.02)),
                int(config.get("num_train_timesteps", config.get("timesteps", 1000))),  # legacy key
            )
        prediction_type = str(config.get("prediction_type", "epsilon"))
        check_prediction_type(prediction_type)
        return cls.from_betas(
            betas,
            prediction_type=prediction_type,
            steps_offset=_steps_offset(config.get("steps_offset", 0), betas.shape[0]),
            clip_sample=bool(config.get("clip_sample", False)),
            beta_schedule=str(config.get("beta_schedule", "linear")),
            set_alpha_to_one=bool(config.get("set_alpha_to_one", True)),
        )

    @classmethod
    def from_ddim_config(cls, diffusion: Mapping[str, Any]) -> NoiseSchedule:
        """Build from the original DDIM config's ``diffusion`` section (or a flat mapping with its keys)."""
        try:
            betas = make_betas(
                str(diffusion["beta_schedule"]),
                float(diffusion["beta_start"]),
                float(diffusion["beta_end"]),
                int(diffusion["num_diffusion_timesteps"]),
            )
        except KeyError as exc:
            raise ScheduleError(
                f"The DDIM config lacks {exc.args[0]!r}; it needs beta_schedule, beta_start, "
                "beta_end and num_diffusion_timesteps."
            ) from None
        return cls.from_betas(betas, prediction_type="epsilon", beta_schedule=str(diffusion["beta_schedule"]))

    def to_diffusers_config(self) -> dict[str, Any]:
        """The fields of a diffusers ``scheduler_config.json`` that describe this schedule."""
        return {
            "_class_name": "DDIMScheduler",
            "num_train_timesteps": self.num_train_timesteps,
            "beta_schedule": self.beta_schedule,
            "beta_start": 0.0001,
            "beta_end": 0.02,
            "prediction_type": self.prediction_type,
            "clip_sample": False,
            "steps_offset": self.steps_offset,
            "set_alpha_to_one": self.set_alpha_to_one,
            "timestep_spacing": "leading",
        }


PREDICTION_TYPES = ("epsilon", "v_prediction", "sample")


def check_betas(betas: torch.Tensor) -> None:
    """Raise a ScheduleError unless every β is finite and in (0, 1) (then ᾱ strictly decreases).

    Checked in float64 before the float32 cast, so 1e300 is not mistaken for ``inf`` or a β of 1 − 1e-9
    for 1.
    """
    values = betas.detach().to("cpu", torch.float64)
    bad = ~(torch.isfinite(values) & (values > 0) & (values < 1))
    if bool(bad.any()):
        index = int(bad.nonzero()[0, 0])
        raise ScheduleError(
            f"Every beta of a noise schedule must lie strictly between 0 and 1; beta at timestep {index} "
            f"is {float(values[index]):g}."
        )


def _steps_offset(value: Any, num_train_timesteps: int) -> int:
    """diffusers' ``steps_offset``: an integer from 0 to T − 1 (``1e30`` or ``"1"`` are refused)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < num_train_timesteps:
        raise ScheduleError(
            f"steps_offset must be an integer from 0 to {num_train_timesteps - 1}, got {value!r}."
        )
    return value


def check_prediction_type(prediction_type: str) -> None:
    """Raise a ScheduleError unless ``prediction_type`` is one the engine samples."""
    if prediction_type not in PREDICTION_TYPES:
        raise ScheduleError(
            f"Unknown prediction_type {prediction_type!r}; the engine samples {', '.join(PREDICTION_TYPES)}."
        )


def _distinct_fill(official: list[int], steps: int, num_train_timesteps: int) -> list[int]:
    """Make an increasing list of exactly ``steps`` distinct timesteps closest to ``official``.

    Rule: walk the official (non-decreasing) list and bump every value that is not above its
    predecessor to predecessor + 1; then, if the end overshoots T − 1, walk back from the end
    pulling values down to successor − 1. Values that were already distinct and in range are kept,
    so where the official formula gives S distinct steps it is returned unchanged.
    """
    seq = list(official[:steps])
    for i in range(1, len(seq)):
        if seq[i] <= seq[i - 1]:
            seq[i] = seq[i - 1] + 1
    upper = num_train_timesteps - 1
    for i in range(len(seq) - 1, -1, -1):
        limit = upper if i == len(seq) - 1 else seq[i + 1] - 1
        if seq[i] > limit:
            seq[i] = limit
    return seq


def _uniform(steps: int, num_train_timesteps: int) -> list[int]:
    """The official code's ``range(0, T, T // S)``, cut to its first S values when it gives more.

    ``range(0, T, T // S)`` yields more than S values whenever S does not divide T (31 for S = 30,
    T = 1000). Keeping its first S values keeps the official stride and every value official;
    only the noisiest surplus steps are dropped.
    """
    skip = num_train_timesteps // steps
    return list(range(0, num_train_timesteps, skip))[:steps]


def _quadratic(steps: int, num_train_timesteps: int) -> list[int]:
    """The official code's ``int(x) for x in linspace(0, sqrt(0.8 T), S)²``, de-duplicated."""
    official = [int(x) for x in (np.linspace(0, np.sqrt(num_train_timesteps * 0.8), steps) ** 2)]
    return _distinct_fill(official, steps, num_train_timesteps)


def _diffusers(spacing: str, steps: int, num_train_timesteps: int, steps_offset: int) -> list[int]:
    """Timesteps exactly as diffusers' ``DDIMScheduler.set_timesteps`` builds them, increasing."""
    if spacing == "linspace":
        seq = np.linspace(0, num_train_timesteps - 1, steps).round()[::-1].copy().astype(np.int64)
    elif spacing == "leading":
        ratio = num_train_timesteps // steps
        seq = (np.arange(0, steps) * ratio).round()[::-1].copy().astype(np.int64) + steps_offset
    else:
        ratio_f = num_train_timesteps / steps
        seq = np.round(np.arange(num_train_timesteps, 0, -ratio_f)).astype(np.int64) - 1
    # trailing's float arange can overshoot by one value (−1 for S = 103): keep diffusers' first S
    return [int(t) for t in seq[:steps][::-1]]


def make_timesteps(
    steps: int,
    num_train_timesteps: int = 1000,
    spacing: str = "uniform",
    steps_offset: int = 0,
) -> list[int]:
    """The S timesteps τ that sampling visits, strictly decreasing (the first is the noisiest).

    Args:
        steps: S, how many model calls sampling makes (1 ≤ S ≤ T).
        num_train_timesteps: T of the model's training schedule.
        spacing: ``uniform`` or ``quadratic`` (the official DDIM code) or ``leading``,
            ``trailing``, ``linspace`` (diffusers' ``DDIMScheduler``, identical for the same
            ``steps_offset``; where diffusers' float arithmetic yields S + 1 values, as trailing
            does for S = 103, its first S are kept and the stray −1 dropped).
        steps_offset: diffusers' offset for ``leading`` spacing; ignored by the others.

    Returns:
        A list of S distinct ints in [0, T), strictly decreasing.

    Raises:
        ScheduleError: S outside [1, T], an unknown spacing, or a spacing that cannot give S
            distinct steps (quadratic needs S ≤ T).
    """
    if not isinstance(steps, (int, np.integer)) or isinstance(steps, bool):
        raise ScheduleError(f"steps must be an integer, got {steps!r}.")
    if not 1 <= steps <= num_train_timesteps:
        raise ScheduleError(
            f"steps must be between 1 and the model's {num_train_timesteps} training timesteps, "
            f"got {steps}; choose a smaller number of steps."
        )
    if spacing == "uniform":
        seq = _uniform(int(steps), num_train_timesteps)
    elif spacing == "quadratic":
        seq = _quadratic(int(steps), num_train_timesteps)
    elif spacing in ("leading", "trailing", "linspace"):
        seq = _diffusers(spacing, int(steps), num_train_timesteps, steps_offset)
    else:
        raise ScheduleError(f"Unknown spacing {spacing!r}; choose one of {', '.join(SPACINGS)}.")
    if len(set(seq)) != steps or min(seq) < 0 or max(seq) >= num_train_timesteps:
        raise ScheduleError(
            f"The {spacing!r} spacing cannot give {steps} distinct timesteps out of "
            f"{num_train_timesteps}{' with steps_offset ' + str(steps_offset) if steps_offset else ''}; "
            "choose fewer steps or another spacing."
        )
    return sorted(seq, reverse=True)
