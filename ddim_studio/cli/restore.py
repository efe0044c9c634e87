"""``ddim-studio restore``: upscale, colourise or fill a picture in one sampling run (``operations.restore``).

Torch is imported when the command runs, not when the parser is built.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ddim_studio.arg_types import whole
from ddim_studio.cli.common import (
    add_common,
    check_seed_range,
    eta_arg,
    feather_arg,
    positive,
    seed_arg,
)

if TYPE_CHECKING:
    from PIL import Image

    from ddim_studio.cli.session import Session
    from ddim_studio.operations.restore import RestoreOutput


def add_parser(sub: Any) -> None:
    """Register ``restore`` and its arguments."""
    p = sub.add_parser("restore", help="upscale a small picture, colourise a grey one or fill a masked one")
    add_common(p)
    p.add_argument("image", type=Path, help="the small, grey or damaged picture")
    p.add_argument(
        "--task", required=True, help="upscale, colorize, inpaint, or a combination: upscale+colorize"
    )
    p.add_argument(
        "--factor", type=whole, choices=[2, 4, 8], default=4, help="upscale factor N (input = size / N)"
    )
    p.add_argument(
        "--mask", type=Path, default=None, help="inpaint: white = fill, black = keep, grey = partly"
    )
    p.add_argument(
        "--feather", type=feather_arg, default=0, help="inpaint: feather the mask outward by N pixels"
    )
    p.add_argument("--method", choices=["ddnm", "replace"], default="ddnm", help="inpainting method")
    p.add_argument("--eta", type=eta_arg, default=0.0)
    p.add_argument(
        "--resize", action="store_true", help="resize an input of another size instead of refusing it"
    )
    p.add_argument("-n", "--num", type=positive, default=1, help="how many results")
    p.add_argument("--seed", type=seed_arg, default=0, help="result i gets seed SEED + i")


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Restore IMAGE once per seed; write ``<image>-restore-<seed>.png`` with its input beside it."""
    from ddim_studio.cli.progress import drain
    from ddim_studio.cli.session import Session
    from ddim_studio.core.imaging import load_image, load_mask_image, pil_to_tensor
    from ddim_studio.core.noise import seeds_for
    from ddim_studio.core.restore import parse_task
    from ddim_studio.operations.restore import fit_restore_mask, prepare_input, restore_images

    task = "+".join(parse_task(args.task))  # before the model loads
    if "inpaint" in task and args.mask is None:
        raise ValueError("--task inpaint needs --mask (white where the picture is to be filled).")
    check_seed_range(args.seed, args.num)
    loaded = load_image(args.image)
    session = Session(args)
    picture, notes = prepare_input(session.model, loaded.image, task, args.factor, resize=args.resize)
    notes = list(loaded.warnings) + notes
    mask = None
    if args.mask is not None and "inpaint" in task:
        mask, note = fit_restore_mask(load_mask_image(args.mask).image.convert("L"), picture.size[::-1])
        notes += [note] if note else []
    run_ = restore_images(
        session.model, pil_to_tensor(picture), seeds_for(args.seed, args.num), task=task, factor=args.factor,
        mask=mask, steps=args.steps, eta=args.eta, sampler=args.sampler, method=args.method,
        clip_sample=args.clip_sample, batch_size=args.batch_size, device=session.device, feather=args.feather,
    )  # fmt: skip
    for note in notes:
        print(f"note: {args.image.name}: {note}", file=sys.stderr)
    out = drain(run_, args.image.name)
    files = _save(session, args, out, picture)
    print(
        f"{args.image.name}: {len(files)} restored, {out.calls} model calls each → {session.out}",
        file=sys.stderr,
    )
    return {
        "command": "restore", "model": session.info.name, "task": out.task,
        "backend": session.info.backend, "precision": session.info.precision,
        "factor": out.factor if "upscale" in out.task else None, "sampler": out.sampler,
        "method": out.method if out.task == "inpaint" else None, "eta": out.eta, "steps": out.calls,
        "timesteps": out.timesteps, "model_calls": out.calls, "seeds": list(out.seeds), "files": files,
        "consistency_error": out.consistency, "resized": any("resized" in n for n in notes), "notes": notes,
    }  # fmt: skip


def _save(session: Session, args: argparse.Namespace, out: RestoreOutput, picture: Image.Image) -> list[Path]:
    from ddim_studio.core.imaging import tensor_to_pils
    from ddim_studio.core.store import sanitize_stem
    from ddim_studio.operations.edit import mask_picture
    from ddim_studio.operations.restore import restore_params, save_restore

    mask_image = mask_picture(out.mask) if out.mask is not None else None
    files: list[Path] = []
    for i, image in enumerate(tensor_to_pils(out.images)):
        params = restore_params(
            out, i, info=session.info, clip_sample=args.clip_sample, source=args.image.name
        )
        stem = sanitize_stem(f"{args.image.stem}-restore-{out.seeds[i]:06d}")
        files.append(save_restore(session.out, image, params, stem=stem, source=picture, mask=mask_image).png)
    return files
