"""``ddim-studio extend``: walk a picture past its frame and stitch a panorama (``operations.extend``).

Torch is imported when the command runs, not when the parser is built.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ddim_studio.cli.common import add_common, feather_arg, harmonize_arg, positive, seed_arg


def add_parser(sub: Any) -> None:
    """Register ``extend`` and its arguments."""
    p = sub.add_parser("extend", help="extend a picture past its frame, step by step, into a panorama")
    add_common(p)
    p.add_argument("image", type=Path, help="the picture to extend")
    p.add_argument("--direction", choices=["left", "right", "up", "down"], required=True)
    p.add_argument("--by", type=positive, required=True, metavar="K", help="pixels each step adds")
    p.add_argument("--times", type=positive, default=1, metavar="R", help="how many steps")
    p.add_argument("--feather", type=feather_arg, default=2, help="soft seam width in pixels (default 2)")
    p.add_argument("--harmonize", type=harmonize_arg, default=0, help="redo steps per step, 0-10 (DDIM)")
    p.add_argument("--seed", type=seed_arg, default=0, help="step r gets seed SEED + r")


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Extend IMAGE ``--times`` steps; write ``<image>-extend-<direction>-step<r>.png`` and the panorama."""
    from ddim_studio.cli.progress import drain, overall
    from ddim_studio.cli.session import Session
    from ddim_studio.core.imaging import fit_to_model, load_image, pil_to_tensor, tensor_to_pils
    from ddim_studio.core.noise import check_seed
    from ddim_studio.core.store import sanitize_stem
    from ddim_studio.operations.extend import check_extend, extend_picture, save_extend

    check_seed(args.seed)
    loaded = load_image(args.image)
    session = Session(args)
    _, height, width = session.model.sample_shape
    check_extend(
        session.model, direction=args.direction, by=args.by, times=args.times, feather=args.feather,
        sampler=session.sampler, harmonize=args.harmonize,
    )  # fmt: skip
    picture = fit_to_model(loaded.image, (width, height))
    for note in loaded.warnings:
        print(f"note: {args.image.name}: {note}", file=sys.stderr)
    calls = args.steps * (1 + args.harmonize) * args.times
    with overall(calls, args.image.name):
        out = drain(
            extend_picture(
                session.model, pil_to_tensor(picture), direction=args.direction, by=args.by,
                times=args.times, seed=args.seed, steps=args.steps, feather=args.feather,
                sampler=session.sampler, harmonize=args.harmonize, device=session.device,
            ),
            args.image.name,
        )  # fmt: skip
    pictures = [tensor_to_pils(f)[0] for f in out.frames]
    stem = sanitize_stem(f"{args.image.stem}-extend-{args.direction}")
    files, panorama = save_extend(
        session.out, out, stem=stem, info=session.info, pictures=pictures,
        panorama=tensor_to_pils(out.panorama)[0], source=args.image.name,
    )  # fmt: skip
    size = f"{out.panorama.shape[3]}×{out.panorama.shape[2]}"
    print(f"{args.image.name}: {len(files)} step(s), panorama {size} → {session.out}", file=sys.stderr)
    return {
        "command": "extend",
        "model": session.info.name,
        "sampler": session.sampler,
        "direction": args.direction,
        "by": args.by,
        "times": args.times,
        "feather": args.feather,
        "steps": args.steps,
        "seed": args.seed,
        "files": files,
        "panorama": panorama,
        "panorama_size": [int(out.panorama.shape[3]), int(out.panorama.shape[2])],
    }
