"""The sampler registry: every way of running the reverse process from x_T to x₀, by name.

A sampler is a function with the signature of :func:`ddim_studio.core.sampling.iter_sample`::

    fn(model, x_T, *, steps=50, eta=0.0, spacing="uniform", timesteps=None, noise=None,
       clip_sample=False, hooks=()) -> Iterator[StepResult]

It calls the model through ``core.models.denoiser.Denoiser`` (never converting the network's
output itself) and the per-step ``hooks`` (``core/hooks.py``) at their places, so editing methods
(mask replacement, harmonize, restoration, guidance) run over every sampler. Its registry entry
declares what it can do: η (``supports_eta``) and re-noising a step to redo it (``supports_renoise``).

To add one, write one module in this package (e.g. ``dpmpp_2m.py``) and add one
:func:`register_sampler` line at the bottom of this file. Operations, the command line
(``--sampler NAME``), every mode's sampler list, the Samplers paper view and the saved parameters
read the registry.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import torch

from ddim_studio.core.hooks import StepHook
from ddim_studio.core.models.protocol import DiffusionModel
from ddim_studio.core.names import DEFAULT_SAMPLER
from ddim_studio.core.noise import ImageNoise
from ddim_studio.core.sampling import StepResult, iter_sample

__all__ = ["DEFAULT_SAMPLER", "SamplerFn", "SamplerSpec", "get_sampler", "register_sampler", "sampler_names"]


class SamplerFn(Protocol):
    """The call signature of a sampler (that of ``core.sampling.iter_sample``)."""

    def __call__(
        self,
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
    ) -> Iterator[StepResult]: ...


@dataclass(frozen=True)
class SamplerSpec:
    """One registered sampler.

    Attributes:
        name: the identifier used on the command line, in jobs and in saved parameters.
        label: the name shown to people (the Generate panel's list).
        fn: the step generator (see :class:`SamplerFn`).
        supports_eta: whether η > 0 is meaningful; samplers without it refuse η > 0.
        description: one sentence for help texts.
        default_spacing: the timestep spacing used when a person names none (the command line
            without ``--spacing``; the window while its spacing is still the default).
        supports_renoise: whether a step can be re-noised and taken again (RePaint's harmonize);
            False for multistep solvers, whose history would no longer match.
        short_label: a short name for small captions (the Samplers view's cells); the label's
            part before any parenthesis by default.
    """

    name: str
    label: str
    fn: SamplerFn
    supports_eta: bool
    description: str
    default_spacing: str = "uniform"
    supports_renoise: bool = True
    short_label: str = ""

    def caption(self) -> str:
        """The short name for small captions."""
        return self.short_label or self.label.split("(")[0].strip() or self.label


_REGISTRY: dict[str, SamplerSpec] = {}


def register_sampler(spec: SamplerSpec) -> SamplerSpec:
    """Add ``spec`` to the registry (replacing one of the same name) and return it."""
    if not spec.name or not spec.name.replace("_", "").replace("-", "").isalnum():
        raise ValueError(f"A sampler name must be letters, digits, '-' or '_', got {spec.name!r}.")
    _REGISTRY[spec.name] = spec
    return spec


def unregister_sampler(name: str) -> None:
    """Remove a sampler (tests register throwaway ones); unknown names are ignored."""
    _REGISTRY.pop(name, None)


def get_sampler(name: str) -> SamplerSpec:
    """The sampler called ``name``; ValueError listing the known names otherwise."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"Unknown sampler {name!r}; choose one of: {', '.join(sampler_names())}.") from None


def sampler_names() -> list[str]:
    """The registered sampler names, in registration order."""
    return list(_REGISTRY)


# Built-in samplers: one import (where needed) and one registration each.
register_sampler(
    SamplerSpec(
        name="ddim",
        label="DDIM",
        fn=iter_sample,
        supports_eta=True,
        description="DDIM (Song et al. 2021): deterministic at η = 0, DDPM-like at η = 1.",
    )
)

from ddim_studio.core.samplers.dpmpp_2m import SAMPLER_INFO as _DPMPP_2M  # noqa: E402
from ddim_studio.core.samplers.dpmpp_2m import iter_sample_dpmpp_2m  # noqa: E402

# Trailing spacing: DPM-Solver++ is much better with it than with uniform at S <= 20 (README,
# "Quality per model call"), since its last step then starts next to the data.
register_sampler(
    SamplerSpec(
        name=str(_DPMPP_2M["name"]),
        label=str(_DPMPP_2M["label"]),
        fn=iter_sample_dpmpp_2m,
        supports_eta=bool(_DPMPP_2M["supports_eta"]),
        description=str(_DPMPP_2M["description"]),
        default_spacing="trailing",
        supports_renoise=False,
        short_label="DPM++",
    )
)
