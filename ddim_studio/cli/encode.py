"""``ddim-studio encode``: invert pictures into latents, decode them back, print the error.

The work is ``operations.encode_images``; torch is imported when the command runs, not when the
parser is built.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ddim_studio.cli.common import add_common, add_refine, shown

if TYPE_CHECKING:
    from ddim_studio.cli.session import Session


def add_parser(sub: Any) -> None:
    """Register ``encode`` and its arguments."""
    p = sub.add_parser("encode", help="invert images into latents and decode them back")
    add_common(p)
    p.add_argument("images", nargs="+", type=Path)
    add_refine(p)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Invert each image, decode it back, write the latent and the reconstruction, print the error."""
    from ddim_studio.cli.progress import overall
    from ddim_studio.cli.session import Session
    from ddim_studio.core.store import sanitize_stem
    from ddim_studio.operations.cost import encode_calls

    stems = [sanitize_stem(f"{path.stem}-recon") for path in args.images]  # before any compute
    session = Session(args)
    size = session.picture[1:]
    rows = []
    with overall(len(args.images) * encode_calls(len(session.timesteps)), "encode"):
        for path, stem in zip(args.images, stems, strict=True):
            rows.append(_encode_one(session, path, stem, size))
    return {
        "command": "encode",
        "model": session.info.name,
        "model_space": session.space(),
        "backend": session.info.backend,
        "precision": session.info.precision,
        "sampler": session.sampler,
        "spacing": args.spacing,
        "refine": args.refine,
        "timesteps": session.timesteps,
        "results": rows,
    }


def _encode_one(session: Session, path: Path, stem: str, size: Sequence[int]) -> dict[str, Any]:
    """Encode one picture, save its latent and reconstruction, print its error; its JSON row."""
    from ddim_studio.cli.progress import drain
    from ddim_studio.core.imaging import fit_to_model, load_image, pil_to_tensor, tensor_to_pils
    from ddim_studio.operations import encode_images
    from ddim_studio.operations.model_summary import floor_fields

    loaded = load_image(path)
    x0 = pil_to_tensor(fit_to_model(loaded.image, (size[1], size[0])))
    refine = session.args.refine
    run = encode_images(session.model, x0, refine=refine, **session.settings())
    out = drain(run, f"encode {shown(path)}")
    mse, psnr = out.mse[0], out.psnr[0]
    params = session.params("encode", source=path.name, mse=mse, psnr=psnr, refine=refine)
    files = session.save(stem, tensor_to_pils(out.reconstruction)[0], params, out.x_T[0])
    for warning in loaded.warnings:
        print(f"warning: {shown(path)}: {warning}", file=sys.stderr)
    calls = out.calls + len(out.timesteps)  # the inversion's, then the decode's S
    print(
        f"{shown(path)}: MSE {mse:.6f}  PSNR {psnr:.2f} dB  ({calls} model calls)  → {shown(files[0])}",
        file=sys.stderr,
    )
    if out.floor_psnr:  # a latent model: what its autoencoder alone gives back
        alone = out.floor_psnr[0]
        print(f"  the autoencoder alone: PSNR {alone:.2f} dB (no inversion can beat it)", file=sys.stderr)
    return {
        "image": path,
        "mse": mse,
        "psnr": psnr,
        "calls": calls,
        "inversion_calls": out.calls,
        **floor_fields(out, 0),
        "files": files,
    }
