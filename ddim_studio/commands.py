"""The work behind each ``ddim-studio`` subcommand; ``cli.py`` holds the argument parsing.

Each command resolves its inputs, runs an operation (``ddim_studio.operations``) under a progress
bar (``ddim_studio.progress``) and saves through ``operations.save_picture`` with parameters from
``operations.build_params`` — the same functions the window uses.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from ddim_studio.core.imaging import fit_to_model, load_image, pil_to_tensor, tensor_to_pils, tensor_to_uint8
from ddim_studio.core.latents import load_latent, save_latent
from ddim_studio.core.models import load_model, resolve_device
from ddim_studio.core.models.loader import DTYPES
from ddim_studio.core.noise import initial_noise, seeds_for
from ddim_studio.core.samplers import get_sampler
from ddim_studio.core.sampling import resolve_timesteps
from ddim_studio.core.store import LATENT_SUFFIX, sanitize_stem
from ddim_studio.operations import (
    build_params,
    decode_latents,
    encode_images,
    export,
    interpolate,
    resolve_endpoint,
    sample_seeds,
    save_picture,
)
from ddim_studio.operations.sample import sampler_for
from ddim_studio.progress import drain


class Session:
    """A loaded model and the run settings shared by every command."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        spec = get_sampler(args.sampler)
        eta = float(getattr(args, "eta", 0.0))
        if eta > 0 and not spec.supports_eta:
            raise ValueError(
                f"--eta {eta:g} applies to DDIM only: {spec.label} is deterministic; "
                "drop --eta or use --sampler ddim."
            )
        self.sampler = sampler_for(args.sampler, eta).name
        if getattr(args, "spacing", None) is None:  # none given: the sampler's own default
            args.spacing = spec.default_spacing
        self.device = resolve_device(args.device)
        self.model, self.info = load_model(
            args.model, config=args.model_config, device=self.device, dtype=DTYPES[args.dtype]
        )
        self.out: Path = args.out
        self.out.mkdir(parents=True, exist_ok=True)
        self.timesteps = resolve_timesteps(self.model, args.steps, args.spacing, None)

    def params(self, kind: str, **extra: Any) -> dict[str, Any]:
        """What made an output: embedded in PNGs and latent files (see ``operations.build_params``)."""
        return build_params(
            kind,
            info=self.info,
            steps=self.args.steps,
            spacing=self.args.spacing,
            sampler=self.sampler,
            timesteps=self.timesteps,
            clip_sample=self.args.clip_sample,
            **extra,
        )

    def settings(self) -> dict[str, Any]:
        """The keyword arguments every operation of this session takes."""
        return {
            "steps": self.args.steps,
            "spacing": self.args.spacing,
            "clip_sample": self.args.clip_sample,
            "sampler": self.sampler,
            "device": self.device,
        }

    def save(
        self, stem: str, image: Image.Image, params: dict[str, Any], latent: torch.Tensor | None
    ) -> list[Path]:
        """Write ``<stem>.png`` (and ``<stem>.safetensors``) atomically, never overwriting."""
        item = save_picture(self.out, image, params, stem=stem, latent=latent)
        return [item.png] + ([item.latent] if item.latent is not None else [])


def _shard(seeds: list[int], batch_size: int) -> tuple[list[list[int]], int, int]:
    """This process's batches under a distributed launcher (RANK / WORLD_SIZE).

    The seeds are cut into batches first and the batches dealt round-robin, so every batch has the
    same members whatever the number of processes: the model sees the same tensors, and the files
    are byte-identical to a one-process run with the same ``--batch-size``.
    """
    rank = int(os.environ.get("RANK", "0"))
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if not 0 <= rank < world:
        raise ValueError(f"RANK={rank} is not below WORLD_SIZE={world}; check the launcher's settings.")
    batches = [seeds[i : i + batch_size] for i in range(0, len(seeds), batch_size)]
    return batches[rank::world], rank, world


def _missing_files(stem_path: Path, with_latent: bool) -> list[str]:
    """Which of a seed's files (``.png``, and its latent if wanted) are not on disk yet."""
    suffixes = [".png", LATENT_SUFFIX] if with_latent else [".png"]
    return [suffix for suffix in suffixes if not stem_path.with_name(stem_path.name + suffix).exists()]


def _sample_batch(session: Session, batch: list[int], todo: dict[int, list[str]]) -> list[Path]:
    """Run one batch of seeds (whole, if any picture is missing) and write its missing files."""
    args = session.args
    written: list[Path] = []
    if any(".png" in todo[s] for s in batch):
        run = sample_seeds(session.model, batch, eta=args.eta, batch_size=len(batch), **session.settings())
        out = drain(run, f"seeds {batch[0]}…{batch[-1]}")
        x_T, pictures = out.x_T, tensor_to_pils(out.images)
    else:
        x_T, pictures = initial_noise(batch, session.model.sample_shape)[0], []
    for i, seed in enumerate(batch):
        params, stem = session.params("sample", seed=seed, eta=args.eta), f"seed-{seed:06d}"
        if ".png" in todo[seed]:
            latent = x_T[i].cpu() if args.save_latents else None
            written += session.save(stem, pictures[i], params, latent)
        elif todo[seed]:  # the picture is there, its latent is not (a save killed in between)
            written.append(save_latent(session.out / f"{stem}{LATENT_SUFFIX}", x_T[i].cpu(), params))
    return written


def cmd_sample(args: argparse.Namespace) -> dict[str, Any]:
    """Generate ``--num`` images with seeds ``--seed …``, named by seed; existing files are skipped.

    A batch whose files all exist is skipped; a partly written batch is run whole (so its images
    are computed exactly as before) and only its missing files are written: a picture whose save
    was killed before its latent was placed gets that latent now.
    """
    session = Session(args)
    batches, rank, world = _shard(seeds_for(args.seed, args.num), args.batch_size)
    written: list[Path] = []
    skipped: list[int] = []
    for batch in batches:
        todo = {s: _missing_files(session.out / f"seed-{s:06d}", args.save_latents) for s in batch}
        skipped += [s for s in batch if not todo[s]]
        if any(todo.values()):
            written += _sample_batch(session, batch, todo)
    _barrier(world)
    return {
        "command": "sample",
        "model": session.info.name,
        "sampler": session.sampler,
        "rank": rank,
        "world_size": world,
        "seeds": [s for b in batches for s in b],
        "skipped": skipped,
        "files": written,
        "timesteps": session.timesteps,
        "eta": args.eta,
    }


def _barrier(world: int) -> None:
    """Wait for the other processes of a distributed run (gloo on the CPU, NCCL on CUDA)."""
    if world <= 1 or "MASTER_ADDR" not in os.environ:
        return
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    dist.barrier()
    dist.destroy_process_group()


def cmd_encode(args: argparse.Namespace) -> dict[str, Any]:
    """Invert each image, decode it back, write the latent and the reconstruction, print the error."""
    session = Session(args)
    size = session.model.sample_shape[1:]
    rows = []
    for path in args.images:
        loaded = load_image(path)
        x0 = pil_to_tensor(fit_to_model(loaded.image, (size[1], size[0])))
        run = encode_images(session.model, x0, refine=args.refine, **session.settings())
        out = drain(run, f"encode {path.name}")
        mse, psnr = out.mse[0], out.psnr[0]
        params = session.params("encode", source=path.name, mse=mse, psnr=psnr, refine=args.refine)
        files = session.save(f"{path.stem}-recon", tensor_to_pils(out.reconstruction)[0], params, out.x_T[0])
        for warning in loaded.warnings:
            print(f"warning: {path.name}: {warning}", file=sys.stderr)
        calls = out.calls + len(out.timesteps)  # the inversion's, then the decode's S
        print(
            f"{path.name}: MSE {mse:.6f}  PSNR {psnr:.2f} dB  ({calls} model calls)  → {files[0].name}",
            file=sys.stderr,
        )
        rows.append(
            {
                "image": path,
                "mse": mse,
                "psnr": psnr,
                "calls": calls,
                "inversion_calls": out.calls,
                "files": files,
            }
        )
    return {
        "command": "encode",
        "model": session.info.name,
        "sampler": session.sampler,
        "spacing": args.spacing,
        "refine": args.refine,
        "timesteps": session.timesteps,
        "results": rows,
    }


def cmd_decode(args: argparse.Namespace) -> dict[str, Any]:
    """Decode each latent file into an image (η = 0, the inverse of ``encode``)."""
    session = Session(args)
    written: list[Path] = []
    for path in args.latents:
        x_T, saved = load_latent(path)
        batch = x_T[None] if x_T.ndim == 3 else x_T
        run = decode_latents(session.model, batch, batch_size=args.batch_size, **session.settings())
        out = drain(run, f"decode {path.name}")
        for i, image in enumerate(tensor_to_pils(out.images)):
            stem = path.stem if len(batch) == 1 else f"{path.stem}-{i}"
            params = session.params("decode", source=path.name, latent_params=saved)
            written += session.save(f"{stem}-decoded", image, params, None)
    return {
        "command": "decode",
        "model": session.info.name,
        "sampler": session.sampler,
        "timesteps": session.timesteps,
        "files": written,
    }


def cmd_interpolate(args: argparse.Namespace) -> dict[str, Any]:
    """Decode the slerp (or lerp) path between A and B as a PNG strip and an animated GIF."""
    session = Session(args)
    shape = tuple(session.model.sample_shape)
    a, b = resolve_endpoint(args.a, shape), resolve_endpoint(args.b, shape)
    run = interpolate(
        session.model, a, b, frames=args.frames, method=args.method, batch_size=args.batch_size,
        refine=args.refine, **session.settings(),
    )  # fmt: skip
    frames = list(tensor_to_uint8(drain(run, "frames").images))
    strip = export.strip_image(frames, min_side=0, gap=0)  # model resolution, side by side
    refine = args.refine if a.is_image or b.is_image else None  # only picture ends are inverted
    params = session.params(
        "interpolate", a=args.a, b=args.b, frames=args.frames, method=args.method, refine=refine
    )
    stem = sanitize_stem(f"interp-{Path(args.a).stem}-{Path(args.b).stem}-{args.method}")
    strip_path = session.save(stem, strip, params, None)[0]
    gif = export.export_gif(session.out / f"{strip_path.stem}.gif", frames, fps=args.fps, bounce=True)
    return {
        "command": "interpolate",
        "model": session.info.name,
        "sampler": session.sampler,
        "timesteps": session.timesteps,
        "method": args.method,
        "frames": args.frames,
        "files": [strip_path, gif],
    }
