"""``ddim-studio edit``: re-imagine a painted picture or regenerate a masked region (``operations.edit``).

Torch is imported when the command runs, not when the parser is built.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ddim_studio.cli.common import (
    add_common,
    add_refine,
    at_least_zero,
    eta_arg,
    positive,
    seed_arg,
    strength_arg,
)

if TYPE_CHECKING:
    import torch
    from PIL import Image

    from ddim_studio.cli.session import Session
    from ddim_studio.operations.edit import EditOutput


def add_parser(sub: Any) -> None:
    """Register ``edit`` and its arguments."""
    p = sub.add_parser("edit", help="re-imagine a painted picture, or regenerate a masked region")
    add_common(p)
    p.add_argument("image", type=Path, help="the (painted) picture to edit")
    p.add_argument("--mask", type=Path, default=None, help="white = regenerate, black = keep")
    p.add_argument("--strength", type=strength_arg, default=0.5, help="how far into noise, in (0, 1]")
    p.add_argument("--start", choices=["noise", "invert"], default="noise")
    p.add_argument("--eta", type=eta_arg, default=0.0)
    p.add_argument("--harmonize", type=at_least_zero, default=0, help="redo steps per step (needs --mask)")
    p.add_argument("-n", "--num", type=positive, default=1, help="how many results")
    p.add_argument("--seed", type=seed_arg, default=0, help="result i gets seed SEED + i")
    add_refine(p)  # for --start invert


def load_mask(path: Path, source_size: tuple[int, int], size: tuple[int, int]) -> tuple[torch.Tensor, str]:
    """The mask file as (1, 1, H, W) for a model of ``size`` (H, W), and a note when it was resized.

    A mask of the source picture's own size is cropped and resized as the picture was; any other
    mask must have the model's aspect ratio (ValueError otherwise).
    """
    from ddim_studio.core.imaging import fit_to_model, load_image
    from ddim_studio.operations.edit import fit_mask

    mask = load_image(path).image.convert("L")
    height, width = size
    if mask.size == source_size and source_size != (width, height):
        mask = fit_to_model(mask, (width, height)).convert("L")
        return fit_mask(mask, size)[
            0
        ], f"The mask was cropped and resized with the picture to {width}×{height}."
    return fit_mask(mask, size)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Edit IMAGE once per seed; write ``<image>-edit-<seed>.png`` with its source and mask beside it."""
    from ddim_studio.cli.progress import drain
    from ddim_studio.cli.session import Session
    from ddim_studio.core.editing import check_edit_sampler, check_strength
    from ddim_studio.core.imaging import fit_to_model, load_image, pil_to_tensor
    from ddim_studio.core.noise import seeds_for
    from ddim_studio.operations.edit import edit_images

    check_strength(args.strength)
    check_edit_sampler(args.sampler, args.eta, args.harmonize)  # before the model loads
    if args.refine and args.start != "invert":
        raise ValueError("--refine refines the inversion of --start invert; leave it out with --start noise.")
    loaded = load_image(args.image)
    session = Session(args)
    _, height, width = session.model.sample_shape
    picture = fit_to_model(loaded.image, (width, height))
    notes = list(loaded.warnings)
    mask = None
    if args.mask is not None:
        mask, note = load_mask(args.mask, loaded.image.size, (height, width))
        notes += [note] if note else []
    seeds = seeds_for(args.seed, args.num)
    run = edit_images(
        session.model, pil_to_tensor(picture), seeds, strength=args.strength, mask=mask, start=args.start,
        steps=args.steps, eta=args.eta, spacing=args.spacing, harmonize=args.harmonize,
        clip_sample=args.clip_sample, batch_size=args.batch_size, device=session.device,
        refine=args.refine, sampler=args.sampler,
    )  # fmt: skip
    for note in notes:
        print(f"note: {args.image.name}: {note}", file=sys.stderr)
    out = drain(run, args.image.name)
    files, beside = _save(session, args, out, picture)
    print(
        f"{args.image.name}: {len(files)} edit(s), {out.calls} model calls each → {session.out}",
        file=sys.stderr,
    )
    return {
        "command": "edit",
        "model": session.info.name,
        "sampler": out.sampler,
        "strength": out.strength,
        "start": out.start,
        "t_start": out.t_start,
        "timesteps": out.timesteps,
        "model_calls": out.calls,
        "eta": out.eta,
        "harmonize": out.harmonize,
        "refine": out.refine,
        "seeds": list(out.seeds),
        "files": files,
        "beside": beside,
        "notes": notes,
    }


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
