"""What every ``ddim-studio`` subcommand shares: the one-line parser, argument types, common flags.

Nothing here imports torch at module level: the parser is built (and the window started) before
the engine loads. The loaded-model side (:class:`~ddim_studio.cli.session.Session`) is in
``cli/session.py``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import NoReturn

from ddim_studio.arg_types import number, whole
from ddim_studio.core.names import (
    BACKEND_NAMES,
    DEFAULT_SAMPLER,
    DTYPE_NAMES,
    MAX_FEATHER,
    MAX_HARMONIZE,
    MAX_REFINE,
    PRECISION_NAMES,
    SPACINGS,
)
from ddim_studio.core.saved_params import utf8_text


def user_errors() -> tuple[type[Exception], ...]:
    """The errors a command reports in one line (imported late: they pull in torch)."""
    from ddim_studio.core.imaging import ImageLoadError
    from ddim_studio.core.latents import LatentLoadError
    from ddim_studio.core.models.protocol import ModelLoadError
    from ddim_studio.core.schedule import ScheduleError
    from ddim_studio.core.store import StoreError

    return (ModelLoadError, ImageLoadError, LatentLoadError, StoreError, ScheduleError, ValueError)


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def eta_arg(text: str) -> float:
    """``--eta``: noise per step, 0 (DDIM) to 1 (DDPM)."""
    value = number(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"eta must lie between 0 (DDIM) and 1 (DDPM), got {text}")
    return value


def latent_scale_arg(text: str) -> float:
    """``--latent-scale``: a positive number."""
    value = number(text)
    if not 0 < value < 1e6:
        raise argparse.ArgumentTypeError(f"the latent scale must be a positive number, got {text}")
    return value


def positive(text: str) -> int:
    """A whole number of at least 1."""
    value = whole(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def seed_arg(text: str) -> int:
    """A non-negative seed."""
    value = whole(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"seeds are non-negative integers, got {text}")
    return value


def harmonize_arg(text: str) -> int:
    """``--harmonize``: redo steps per step, 0 to ``MAX_HARMONIZE`` (the window's bound too)."""
    value = whole(text)
    if not 0 <= value <= MAX_HARMONIZE:
        raise argparse.ArgumentTypeError(
            f"harmonize must be a whole number from 0 to {MAX_HARMONIZE}, got {text}"
        )
    return value


def feather_arg(text: str) -> int:
    """``--feather``: pixels, 0 to ``MAX_FEATHER`` (Edit's, Restore's and Extend's bound, window and CLI)."""
    value = whole(text)
    if not 0 <= value <= MAX_FEATHER:
        raise argparse.ArgumentTypeError(
            f"feather must be a whole number from 0 to {MAX_FEATHER} pixels, got {text}"
        )
    return value


def strength_arg(text: str) -> float:
    """``--strength``: how far into noise an edit starts, in (0, 1]."""
    value = number(text)
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"strength must be more than 0 and at most 1, got {text}")
    return value


def refine_arg(text: str) -> int:
    """``--refine``: fixed-point updates per inversion step, 0 to ``core.names.MAX_REFINE``."""
    value = whole(text)
    if not 0 <= value <= MAX_REFINE:
        raise argparse.ArgumentTypeError(f"refine must be a whole number from 0 to {MAX_REFINE}, got {text}")
    return value


def add_refine(p: argparse.ArgumentParser) -> None:
    """Add ``--refine`` (for commands that invert pictures)."""
    p.add_argument(
        "--refine",
        type=refine_arg,
        default=0,
        metavar="K",
        help=(
            "refine each inversion step with up to K fixed-point updates (0-10; default 0 = the "
            "paper's inversion); costs up to (2 + K) model calls a step and reconstructs far more exactly"
        ),
    )


def sampler_arg(text: str) -> str:
    """A registered sampler name (the registry is imported here: it pulls in torch)."""
    from ddim_studio.core.samplers import sampler_names

    if text not in sampler_names():
        raise argparse.ArgumentTypeError(
            f"unknown sampler {text!r}; choose one of: {', '.join(sampler_names())}"
        )
    return text


def add_common(p: argparse.ArgumentParser, *, sampling: bool = True) -> None:
    """Add the model, output and (unless ``sampling`` is False) sampling flags every command takes."""
    g = p.add_argument_group("model and output")
    g.add_argument(
        "--model", default=None, help="diffusers folder, hub id or DDIM checkpoint (default: shipped model)"
    )
    g.add_argument("--model-config", default=None, help="YAML config of an original DDIM or LDM checkpoint")
    g.add_argument(
        "--latent-scale",
        type=latent_scale_arg,
        default=None,
        help="latent diffusion models: the latent scale (default: from the model files)",
    )
    g.add_argument(
        "--no-quantize",
        action="store_true",
        help="VQ latent diffusion models: decode the raw latent, not its nearest codebook entries",
    )
    g.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    g.add_argument("--dtype", default="float32", choices=list(DTYPE_NAMES))
    g.add_argument(
        "--backend", default="auto", choices=list(BACKEND_NAMES),
        help="what runs the model: auto = OpenVINO on the CPU when installed, else torch",
    )  # fmt: skip
    g.add_argument(
        "--precision", default="auto", choices=list(PRECISION_NAMES),
        help="exact = float32; fast = bfloat16 on CPUs with it (float16 on GPUs); auto = fast where measured",
    )  # fmt: skip
    g.add_argument("--out", type=Path, default=Path("ddim-out"), help="output folder (created if missing)")
    g.add_argument("--json", action="store_true", help="print a machine-readable summary on stdout")
    g.add_argument("--batch-size", type=positive, default=16)
    if sampling:
        s = p.add_argument_group("sampling")
        s.add_argument("--steps", type=positive, default=50, help="S, the number of DDIM steps")
        s.add_argument(
            "--spacing",
            default=None,
            choices=list(SPACINGS),
            help="which timesteps S visits (default: uniform; trailing with --sampler dpmpp-2m, "
            "much better for it at S <= 20)",
        )
        s.add_argument(
            "--sampler",
            type=sampler_arg,
            default=DEFAULT_SAMPLER,
            metavar="NAME",
            help="sampler by name (default: ddim)",
        )
        s.add_argument(
            "--clip-sample", action="store_true", help="clip predicted x0 to [-1, 1] (breaks exact inversion)"
        )


def check_seed_range(first: int, num: int) -> None:
    """Refuse ``--seed`` with ``--num`` asking for seeds past the largest (ValueError, one line)."""
    from ddim_studio.core.noise import check_seed

    last = first + num - 1
    try:
        check_seed(first)
        check_seed(last)
    except ValueError:
        raise ValueError(
            f"--seed {first} with --num {num} asks for seeds up to {last}; seeds must lie "
            f"between 0 and {2**63 - 1}."
        ) from None


def shown(path: Path) -> str:
    """A file's name for the terminal: bytes that are not UTF-8 shown as U+FFFD."""
    return utf8_text(path.name)
