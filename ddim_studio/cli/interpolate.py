"""``ddim-studio interpolate``: the slerp (or lerp) path between two pictures, latents or seeds.

The work is ``operations.interpolate``; torch is imported when the command runs, not when the
parser is built.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ddim_studio.cli.common import add_common, add_refine, positive


def add_parser(sub: Any) -> None:
    """Register ``interpolate`` and its arguments."""
    p = sub.add_parser("interpolate", help="interpolate between two images, latents or seeds")
    add_common(p)
    ends = "image, latent file (.safetensors; FILE.safetensors#N picks one of several) or seed:N"
    p.add_argument("a", help=ends)
    p.add_argument("b", help=ends)
    p.add_argument("--frames", type=positive, default=9)
    p.add_argument("--method", choices=["slerp", "lerp"], default="slerp")
    p.add_argument("--fps", type=positive, default=8)
    add_refine(p)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Decode the slerp (or lerp) path between A and B as a PNG strip and an animated GIF."""
    from ddim_studio.cli.progress import drain, overall
    from ddim_studio.cli.session import Session
    from ddim_studio.core.imaging import tensor_to_uint8
    from ddim_studio.core.store import sanitize_stem
    from ddim_studio.operations import export, interpolate, resolve_endpoint
    from ddim_studio.operations.cost import interpolate_calls

    stem = sanitize_stem(f"interp-{Path(args.a).stem}-{Path(args.b).stem}-{args.method}")  # before compute
    session = Session(args)
    shape = tuple(session.model.sample_shape)
    run_settings = {
        "timesteps": session.timesteps,
        "clip_sample": args.clip_sample,
        "sampler": session.sampler,
        "model": session.info.name,
    }
    picture = session.picture  # pictures are fitted to the decoded size
    a, b = (resolve_endpoint(spec, shape, picture=picture, **run_settings) for spec in (args.a, args.b))
    run = interpolate(
        session.model, a, b, frames=args.frames, method=args.method, batch_size=args.batch_size,
        refine=args.refine, **session.settings(),
    )  # fmt: skip
    calls = interpolate_calls(
        args.frames, args.batch_size, len(session.timesteps), images=int(a.is_image) + int(b.is_image)
    )
    with overall(calls, "frames"):
        frames = list(tensor_to_uint8(drain(run, "frames").images))
    refine = args.refine if a.is_image or b.is_image else None  # only picture ends are inverted
    params = session.params(
        "interpolate", a=args.a, b=args.b, frames=args.frames, method=args.method, refine=refine
    )
    # the strip (model resolution, side by side) and its GIF: both written, or neither
    strip_path, gif = export.export_strip_and_gif(session.out, stem, frames, params, fps=args.fps)
    return {
        "command": "interpolate",
        "model": session.info.name,
        "model_space": session.space(),
        "backend": session.info.backend,
        "precision": session.info.precision,
        "sampler": session.sampler,
        "timesteps": session.timesteps,
        "method": args.method,
        "frames": args.frames,
        "files": [strip_path, gif],
    }
