"""``ddim-studio decode``: decode latent files (x_T) into pictures, ``--batch-size`` at a time.

The work is ``operations.decode_latents``; torch is imported when the command runs, not when the
parser is built.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ddim_studio.cli.common import add_common, shown


def add_parser(sub: Any) -> None:
    """Register ``decode`` and its arguments."""
    p = sub.add_parser("decode", help="decode latent files (x_T) into images")
    add_common(p)
    p.add_argument("latents", nargs="+", type=Path)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Decode each latent file into images (η = 0, the inverse of ``encode``), ``--batch-size`` at a time.

    Each batch is saved before the next is decoded, so a file of 20,000 latents holds one batch of
    pictures in memory. Only the known, valid fields of a latent's parameters go into the PNG.
    """
    from ddim_studio.cli.progress import drain, overall, shrink
    from ddim_studio.cli.session import Session
    from ddim_studio.core.imaging import tensor_to_pils
    from ddim_studio.core.latents import load_latent
    from ddim_studio.core.saved_params import carried_params
    from ddim_studio.core.store import sanitize_stem
    from ddim_studio.operations import decode_latents
    from ddim_studio.operations.cost import sample_calls
    from ddim_studio.operations.run import chunks

    for path in args.latents:  # names before any compute
        sanitize_stem(f"{path.stem}-decoded")
    session = Session(args)
    written: list[Path] = []
    steps = len(session.timesteps)
    with overall(0, "decode"):  # each file's calls are added when it is opened (files load one at a time)
        for path in args.latents:
            x_T, saved = load_latent(path)
            batch = x_T[None] if x_T.ndim == 3 else x_T
            shrink(-sample_calls(len(batch), args.batch_size, steps))
            params = session.params("decode", source=path.name, latent_params=carried_params(saved))
            parts = chunks(len(batch), args.batch_size)
            for c, (lo, hi) in enumerate(parts):
                run = decode_latents(session.model, batch[lo:hi], batch_size=hi - lo, **session.settings())
                label = f"decode {shown(path)}" + (f" [{c + 1}/{len(parts)}]" if len(parts) > 1 else "")
                for i, image in enumerate(tensor_to_pils(drain(run, label).images), start=lo):
                    stem = path.stem if len(batch) == 1 else f"{path.stem}-{i}"
                    written += session.save(f"{stem}-decoded", image, params, None)
    return {
        "command": "decode",
        "model": session.info.name,
        "model_space": session.space(),
        "backend": session.info.backend,
        "precision": session.info.precision,
        "sampler": session.sampler,
        "timesteps": session.timesteps,
        "files": written,
    }
