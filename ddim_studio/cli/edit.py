"""``ddim-studio edit``: re-imagine a painted picture or regenerate a masked region (``operations.edit``).

Torch is imported when the command runs, not when the parser is built.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ddim_studio.cli.common import (
    add_common,
    add_refine,
    check_seed_range,
    eta_arg,
    harmonize_arg,
    positive,
    seed_arg,
    strength_arg,
)

if TYPE_CHECKING:
    import torch
    from PIL import Image

    from ddim_studio.cli.session import Session
    from ddim_studio.operations.edit import EditOutput
    from ddim_studio.operations.run import Run


def add_parser(sub: Any) -> None:
    """Register ``edit`` and its arguments."""
    p = sub.add_parser("edit", help="re-imagine a painted picture, or regenerate a masked region")
    add_common(p)
    p.add_argument("image", type=Path, help="the (painted) picture to edit")
    p.add_argument("--mask", type=Path, default=None, help="white = regenerate, black or transparent = keep")
    p.add_argument("--strength", type=strength_arg, default=0.5, help="how far into noise, in (0, 1]")
    p.add_argument("--start", choices=["noise", "invert"], default="noise")
    p.add_argument("--eta", type=eta_arg, default=0.0)
    p.add_argument(
        "--harmonize", type=harmonize_arg, default=0, help="redo steps per step, 0-10 (needs --mask)"
    )
    p.add_argument("-n", "--num", type=positive, default=1, help="how many results")
    p.add_argument("--seed", type=seed_arg, default=0, help="result i gets seed SEED + i")
    add_refine(p)  # for --start invert


def load_mask(path: Path, source_size: tuple[int, int], size: tuple[int, int]) -> tuple[torch.Tensor, str]:
    """The mask file as (1, 1, H, W) for a model of ``size`` (H, W), and a note when it was resized.

    A mask of the source picture's own size is cropped and resized as the picture was; any other
    mask must have the model's aspect ratio (ValueError otherwise).
    """
    from ddim_studio.core.imaging import fit_to_model, load_mask_image
    from ddim_studio.operations.edit import fit_mask

    mask = load_mask_image(path).image.convert("L")  # alpha is coverage: transparent = keep
    height, width = size
    if mask.size == source_size and source_size != (width, height):
        mask = fit_to_model(mask, (width, height)).convert("L")
        return fit_mask(mask, size)[
            0
        ], f"The mask was cropped and resized with the picture to {width}×{height}."
    return fit_mask(mask, size)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Edit IMAGE once per seed; write ``<image>-edit-<seed>.png`` with its source and mask beside it.

    Seeds are made and edited ``--batch-size`` at a time and each batch is saved before the next
    starts, so ``--num 1000000000`` holds one batch, not a billion seeds or pictures.
    """
    from ddim_studio.cli.progress import drain, overall, shrink
    from ddim_studio.cli.session import Session
    from ddim_studio.core.editing import check_edit_sampler, check_strength, edit_cost
    from ddim_studio.core.imaging import fit_to_model, load_image, pil_to_tensor

    check_strength(args.strength)
    check_edit_sampler(args.sampler, args.eta, args.harmonize)  # before the model loads
    if args.refine and args.start != "invert":
        raise ValueError("--refine refines the inversion of --start invert; leave it out with --start noise.")
    check_seed_range(args.seed, args.num)
    loaded = load_image(args.image)
    session = Session(args)
    _, height, width = session.picture
    picture = fit_to_model(loaded.image, (width, height))
    notes = list(loaded.warnings)
    mask = None
    if args.mask is not None:
        mask, note = load_mask(args.mask, loaded.image.size, (height, width))
        notes += [note] if note else []
    runs = _batches(session, args, pil_to_tensor(picture), mask)
    first = next(runs)  # checks the edit (a ValueError here comes before any note or model call)
    for note in notes:
        print(f"note: {args.image.name}: {note}", file=sys.stderr)
    cost = edit_cost(
        session.model, args.steps, args.strength, start=args.start, harmonize=args.harmonize,
        spacing=args.spacing, refine=args.refine,
    )  # fmt: skip
    files: list[Path] = []
    beside: list[Path] = []
    seeds: list[int] = []
    with overall(0, args.image.name):
        shrink(-cost.model_calls * -(-args.num // args.batch_size))  # every batch's calls, one bar
        for run in itertools.chain([first], runs):
            out = drain(run, args.image.name)
            saved, companions = _save(session, args, out, picture)
            files += saved
            beside += companions
            seeds += out.seeds
    print(
        f"{args.image.name}: {len(files)} edit(s), {out.calls} model calls each → {session.out}",
        file=sys.stderr,
    )
    return {
        "command": "edit",
        "model": session.info.name,
        "model_space": session.space(),
        "backend": session.info.backend,
        "precision": session.info.precision,
        "sampler": out.sampler,
        "strength": out.strength,
        "start": out.start,
        "t_start": out.t_start,
        "timesteps": out.timesteps,
        "model_calls": out.calls,
        "eta": out.eta,
        "harmonize": out.harmonize,
        "refine": out.refine,
        "seeds": seeds,
        "files": files,
        "beside": beside,
        "notes": notes,
    }


def _batches(
    session: Session, args: argparse.Namespace, source: torch.Tensor, mask: torch.Tensor | None
) -> Iterator[Run[EditOutput]]:
    """One edit run per ``--batch-size`` seeds, made as it is needed."""
    from ddim_studio.operations.edit import edit_images

    for lo in range(0, args.num, args.batch_size):
        seeds = range(args.seed + lo, args.seed + min(args.num, lo + args.batch_size))
        yield edit_images(
            session.model, source, seeds, strength=args.strength, mask=mask, start=args.start,
            steps=args.steps, eta=args.eta, spacing=args.spacing, harmonize=args.harmonize,
            clip_sample=args.clip_sample, batch_size=len(seeds), device=session.device,
            quantize=not args.no_quantize,
            refine=args.refine, sampler=args.sampler,
        )  # fmt: skip


def _save(
    session: Session, args: argparse.Namespace, out: EditOutput, picture: Image.Image
) -> tuple[list[Path], list[Path]]:
    """Write each result with its source and mask beside it; (the pictures, the files beside them)."""
    from ddim_studio.core.imaging import tensor_to_pils
    from ddim_studio.core.store import sanitize_stem
    from ddim_studio.operations.edit import edit_files, edit_params, mask_picture, save_edit

    mask_image = mask_picture(out.mask) if out.mask is not None else None
    files: list[Path] = []
    beside: list[Path] = []
    for i, image in enumerate(tensor_to_pils(out.images)):
        params = edit_params(
            out, i, info=session.info, steps=args.steps, spacing=args.spacing, clip_sample=args.clip_sample,
            source=args.image.name,
        )  # fmt: skip
        stem = sanitize_stem(f"{args.image.stem}-edit-{out.seeds[i]:06d}")
        item = save_edit(session.out, image, params, stem=stem, source=picture, mask=mask_image)
        files.append(item.png)
        beside += [p for p in edit_files(item.png) if p is not None]
    return files, beside
