"""``ddim-studio guide``: new pictures that follow a reference's composition (ILVR, ``operations.guide``).

Torch is imported when the command runs, not when the parser is built.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ddim_studio.arg_types import number
from ddim_studio.cli.common import add_common, check_seed_range, eta_arg, positive, seed_arg


def until_arg(text: str) -> float:
    """``--until``: the fraction of the run left unguided at the end, in [0, 1)."""
    value = number(text)
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"until must be at least 0 and below 1, got {text}")
    return value


def add_parser(sub: Any) -> None:
    """Register ``guide`` and its arguments."""
    p = sub.add_parser("guide", help="new pictures that follow a reference picture's layout and colours")
    add_common(p)
    p.add_argument("reference", type=Path, help="the picture whose composition the results follow")
    p.add_argument(
        "--factor", type=positive, required=True, metavar="N",
        help="keep what survives shrinking the reference N times (large: layout only; 1: a copy)",
    )  # fmt: skip
    p.add_argument(
        "--until", type=until_arg, default=0.0, metavar="F",
        help="stop guiding for the last fraction F of the run (0 = guide every step)",
    )  # fmt: skip
    p.add_argument("--eta", type=eta_arg, default=0.0)
    p.add_argument("-n", "--num", type=positive, default=1, help="how many results")
    p.add_argument("--seed", type=seed_arg, default=0, help="result i gets seed SEED + i")


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Guide ``--num`` pictures by REFERENCE; write ``<reference>-guide-N<factor>-<seed>.png`` each,
    with the reference beside it, a batch at a time."""
    from ddim_studio.cli.progress import drain, overall
    from ddim_studio.cli.session import Session
    from ddim_studio.core.guide import check_factor, check_until
    from ddim_studio.core.imaging import fit_to_model, load_image, pil_to_tensor, tensor_to_pils
    from ddim_studio.core.store import sanitize_stem
    from ddim_studio.operations.guide import guide_images, guide_params, save_guide

    check_until(args.until)
    check_seed_range(args.seed, args.num)
    loaded = load_image(args.reference)
    session = Session(args)
    _, height, width = session.model.sample_shape
    check_factor(args.factor, (height, width))
    picture = fit_to_model(loaded.image, (width, height))
    for note in loaded.warnings:
        print(f"note: {args.reference.name}: {note}", file=sys.stderr)
    reference = pil_to_tensor(picture)
    files: list[Path] = []
    seeds: list[int] = []
    with overall(len(session.timesteps) * args.num, args.reference.name):
        for lo in range(0, args.num, args.batch_size):
            batch = range(args.seed + lo, args.seed + min(args.num, lo + args.batch_size))
            out = drain(
                guide_images(
                    session.model, reference, batch, factor=args.factor, until=args.until, steps=args.steps,
                    eta=args.eta, spacing=args.spacing, clip_sample=args.clip_sample,
                    batch_size=len(batch), sampler=session.sampler, device=session.device,
                ),
                args.reference.name,
            )  # fmt: skip
            for i, image in enumerate(tensor_to_pils(out.images)):
                params = guide_params(
                    out, i, info=session.info, steps=args.steps, clip_sample=args.clip_sample,
                    source=args.reference.name,
                )  # fmt: skip
                stem = sanitize_stem(f"{args.reference.stem}-guide-N{args.factor}-{out.seeds[i]:06d}")
                files.append(save_guide(session.out, image, params, stem=stem, reference=picture).png)
            seeds += out.seeds
    print(f"{args.reference.name}: {len(files)} guided picture(s) → {session.out}", file=sys.stderr)
    return {
        "command": "guide",
        "model": session.info.name,
        "sampler": session.sampler,
        "factor": args.factor,
        "until": args.until,
        "eta": args.eta,
        "steps": args.steps,
        "timesteps": session.timesteps,
        "seeds": seeds,
        "files": files,
    }
