"""Headless commands over the same core as the window: sample, encode, decode, interpolate, edit, train.

Every command takes ``--model`` (a diffusers folder, a hub id, or an original DDIM checkpoint
with ``--model-config``), ``--device``, ``--dtype``, ``--out`` and ``--json``; progress goes to
stderr, the ``--json`` summary to stdout, and a bad argument exits with status 2 and one line.

``sample`` shards its seeds over the processes of a distributed launcher (``torchrun`` or
``accelerate launch`` set ``RANK`` and ``WORLD_SIZE``): each image has its own seed and a file
named by it, so any number of processes writes the same set of files, and a rerun skips the
files that exist.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from ddim_studio import __version__
from ddim_studio.core.names import DEFAULT_SAMPLER, DTYPE_NAMES, MAX_REFINE, SPACINGS

__all__ = ["DTYPE_NAMES", "SPACINGS", "build_parser", "main"]


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


def _eta(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"eta must lie between 0 (DDIM) and 1 (DDPM), got {text}")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def _seed(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"seeds are non-negative integers, got {text}")
    return value


def _refine(text: str) -> int:
    value = int(text)
    if not 0 <= value <= MAX_REFINE:
        raise argparse.ArgumentTypeError(f"refine must be a whole number from 0 to {MAX_REFINE}, got {text}")
    return value


def _add_refine(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--refine",
        type=_refine,
        default=0,
        metavar="K",
        help=(
            "refine each inversion step with up to K fixed-point updates (0-10; default 0 = the "
            "paper's inversion); costs up to (2 + K) model calls a step and reconstructs far more exactly"
        ),
    )


def _sampler(text: str) -> str:
    """A registered sampler name (the registry is imported here: it pulls in torch)."""
    from ddim_studio.core.samplers import sampler_names

    if text not in sampler_names():
        raise argparse.ArgumentTypeError(
            f"unknown sampler {text!r}; choose one of: {', '.join(sampler_names())}"
        )
    return text


def _common(p: argparse.ArgumentParser, *, sampling: bool = True) -> None:
    g = p.add_argument_group("model and output")
    g.add_argument(
        "--model", default=None, help="diffusers folder, hub id or DDIM checkpoint (default: shipped model)"
    )
    g.add_argument("--model-config", default=None, help="YAML config of an original DDIM checkpoint")
    g.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    g.add_argument("--dtype", default="float32", choices=list(DTYPE_NAMES))
    g.add_argument("--out", type=Path, default=Path("ddim-out"), help="output folder (created if missing)")
    g.add_argument("--json", action="store_true", help="print a machine-readable summary on stdout")
    g.add_argument("--batch-size", type=_positive, default=16)
    if sampling:
        s = p.add_argument_group("sampling")
        s.add_argument("--steps", type=_positive, default=50, help="S, the number of DDIM steps")
        s.add_argument(
            "--spacing",
            default=None,
            choices=list(SPACINGS),
            help="which timesteps S visits (default: uniform; trailing with --sampler dpmpp-2m, "
            "much better for it at S <= 20)",
        )
        s.add_argument(
            "--sampler",
            type=_sampler,
            default=DEFAULT_SAMPLER,
            metavar="NAME",
            help="sampler by name (default: ddim)",
        )
        s.add_argument(
            "--clip-sample", action="store_true", help="clip predicted x0 to [-1, 1] (breaks exact inversion)"
        )


def _strength(text: str) -> float:
    value = float(text)
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"strength must be more than 0 and at most 1, got {text}")
    return value


def _at_least_zero(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def _edit_parser(sub: Any) -> None:
    p = sub.add_parser("edit", help="re-imagine a painted picture, or regenerate a masked region")
    _common(p)
    p.add_argument("image", type=Path, help="the (painted) picture to edit")
    p.add_argument("--mask", type=Path, default=None, help="white = regenerate, black = keep")
    p.add_argument("--strength", type=_strength, default=0.5, help="how far into noise, in (0, 1]")
    p.add_argument("--start", choices=["noise", "invert"], default="noise")
    p.add_argument("--eta", type=_eta, default=0.0)
    p.add_argument("--harmonize", type=_at_least_zero, default=0, help="redo steps per step (needs --mask)")
    p.add_argument("-n", "--num", type=_positive, default=1, help="how many results")
    p.add_argument("--seed", type=_seed, default=0, help="result i gets seed SEED + i")
    _add_refine(p)  # for --start invert


def build_parser() -> argparse.ArgumentParser:
    """The ``ddim-studio`` argument parser with its subcommands."""
    parser = OneLineParser(prog="ddim-studio", description="DDIM sampling, inversion and interpolation.")
    parser.add_argument("--version", action="version", version=f"ddim-studio {__version__}")
    parser.add_argument(
        "--self-test", action="store_true", help="open the window offscreen, generate, encode, exit"
    )
    parser.add_argument("--model", dest="gui_model", default=None, help="model to open in the window")
    sub = parser.add_subparsers(dest="command", parser_class=OneLineParser)
    p = sub.add_parser("sample", help="generate images from seeds")
    _common(p)
    p.add_argument("-n", "--num", type=_positive, default=8, help="how many images (use -n under torchrun)")
    p.add_argument("--seed", type=_seed, default=0, help="image i gets seed SEED + i")
    p.add_argument("--eta", type=_eta, default=0.0, help="noise per step, 0 (DDIM) to 1 (DDPM); DDIM only")
    p.add_argument("--save-latents", action="store_true", help="write each x_T beside its image")
    p = sub.add_parser("encode", help="invert images into latents and decode them back")
    _common(p)
    p.add_argument("images", nargs="+", type=Path)
    _add_refine(p)
    p = sub.add_parser("decode", help="decode latent files (x_T) into images")
    _common(p)
    p.add_argument("latents", nargs="+", type=Path)
    p = sub.add_parser("interpolate", help="interpolate between two images, latents or seeds")
    _common(p)
    p.add_argument("a", help="image, latent file (.safetensors) or seed:N")
    p.add_argument("b", help="image, latent file (.safetensors) or seed:N")
    p.add_argument("--frames", type=_positive, default=9)
    p.add_argument("--method", choices=["slerp", "lerp"], default="slerp")
    p.add_argument("--fps", type=_positive, default=8)
    _add_refine(p)
    _edit_parser(sub)
    p = sub.add_parser("train", help="train the default model (resumable)")
    from ddim_studio.training.run import build_parser as train_parser

    train_parser(p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run a command; returns the exit status."""
    args = build_parser().parse_args(argv)
    if args.command is None:
        from ddim_studio.ui.app import run_app, self_test

        return self_test() if args.self_test else run_app(model=args.gui_model)
    if args.command == "train":
        from ddim_studio.training.run import run

        return run(args)
    try:
        if args.command == "edit":
            from ddim_studio.edit_command import cmd_edit as command
        else:
            from ddim_studio import commands

            command = getattr(commands, f"cmd_{args.command}")
        summary = command(args)
    except user_errors() as exc:
        print(f"ddim-studio {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("ddim-studio: interrupted; files written so far are complete.", file=sys.stderr)
        return 130
    if args.json and summary is not None:
        print(json.dumps(summary, indent=2, default=_json_default))
    return 0


def _json_default(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
