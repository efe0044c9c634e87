"""The work behind each ``ddim-studio`` subcommand; ``cli.py`` holds the argument parsing."""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from ddim_studio import __version__
from ddim_studio.core.imaging import fit_to_model, load_image, pil_to_tensor, png_info, tensor_to_pils
from ddim_studio.core.interpolation import interpolation_path
from ddim_studio.core.latents import encode_latent, load_latent, save_latent
from ddim_studio.core.models import load_model, resolve_device
from ddim_studio.core.models.loader import DTYPES
from ddim_studio.core.noise import ImageNoise, initial_noise, seeds_for
from ddim_studio.core.sampling import StepResult, iter_invert, iter_sample, resolve_timesteps
from ddim_studio.core.store import LATENT_SUFFIX, atomic_write, atomic_write_group, sanitize_stem


class Session:
    """A loaded model and the run settings shared by every command."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.device = resolve_device(args.device)
        self.model, self.info = load_model(
            args.model, config=args.model_config, device=self.device, dtype=DTYPES[args.dtype]
        )
        self.out: Path = args.out
        self.out.mkdir(parents=True, exist_ok=True)
        self.timesteps = resolve_timesteps(self.model, args.steps, args.spacing, None)

    def params(self, **extra: Any) -> dict[str, Any]:
        """What made an output: embedded in PNGs and latent files."""
        return {
            "app": f"ddim-studio {__version__}",
            "model": self.info.name,
            "model_source": self.info.source,
            "prediction_type": self.info.prediction_type,
            "steps": self.args.steps,
            "spacing": self.args.spacing,
            "timesteps": self.timesteps,
            "clip_sample": self.args.clip_sample,
            **extra,
        }

    def run(self, steps: Any, desc: str) -> torch.Tensor:
        """Drain a step iterator with a progress bar; returns the last latent."""
        from ddim_studio.cli import progress

        last: StepResult | None = None
        with progress(len(self.timesteps), desc) as bar:
            for result in steps:
                last = result
                bar.update(1)
        assert last is not None
        return last.x_t

    def decode(
        self, x_T: torch.Tensor, *, eta: float = 0.0, noise: ImageNoise | None = None, desc: str = "decode"
    ) -> torch.Tensor:
        """x_T → images, on the session's device, returned on the CPU."""
        steps = iter_sample(
            self.model,
            x_T.to(self.device),
            steps=self.args.steps,
            spacing=self.args.spacing,
            eta=eta,
            noise=noise,
            clip_sample=self.args.clip_sample,
        )
        return self.run(steps, desc).float().cpu()

    def encode(self, x0: torch.Tensor, desc: str = "encode") -> torch.Tensor:
        """Images → x_T, returned on the CPU."""
        steps = iter_invert(
            self.model,
            x0.to(self.device),
            steps=self.args.steps,
            spacing=self.args.spacing,
            clip_sample=self.args.clip_sample,
        )
        return self.run(steps, desc).float().cpu()

    def save(
        self, stem: str, image: Image.Image, params: dict[str, Any], latent: torch.Tensor | None
    ) -> list[Path]:
        """Write ``<stem>.png`` (and ``<stem>.safetensors``) atomically, never overwriting."""
        info = png_info(params)
        writers = [(".png", lambda fh: image.save(fh, format="PNG", pnginfo=info))]
        if latent is not None:
            blob = encode_latent(latent, params)
            writers.append((LATENT_SUFFIX, lambda fh: fh.write(blob)))
        return atomic_write_group(self.out, sanitize_stem(stem), writers)


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
        if not any(todo.values()):
            continue
        x_T, stream = initial_noise(batch, session.model.sample_shape, session.device)
        pictures: list[Image.Image] = []
        if any(".png" in todo[s] for s in batch):
            images = session.decode(x_T, eta=args.eta, noise=stream, desc=f"seeds {batch[0]}…{batch[-1]}")
            pictures = tensor_to_pils(images)
        for i, seed in enumerate(batch):
            params, stem = session.params(seed=seed, eta=args.eta), f"seed-{seed:06d}"
            if ".png" in todo[seed]:
                latent = x_T[i].cpu() if args.save_latents else None
                written += session.save(stem, pictures[i], params, latent)
            elif todo[seed]:  # the picture is there, its latent is not (a save killed in between)
                written.append(save_latent(session.out / f"{stem}{LATENT_SUFFIX}", x_T[i].cpu(), params))
    _barrier(world)
    return {
        "command": "sample",
        "model": session.info.name,
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


def _psnr(mse01: float) -> float:
    return float("inf") if mse01 == 0 else 10 * math.log10(1.0 / mse01)


def cmd_encode(args: argparse.Namespace) -> dict[str, Any]:
    """Invert each image, decode it back, write the latent and the reconstruction, print the error."""
    session = Session(args)
    size = session.model.sample_shape[1:]
    rows = []
    for path in args.images:
        loaded = load_image(path)
        x0 = pil_to_tensor(fit_to_model(loaded.image, (size[1], size[0])))
        x_T = session.encode(x0, desc=f"encode {path.name}")
        rec = session.decode(x_T, desc=f"decode {path.name}")
        mse = float((((rec - x0) / 2) ** 2).mean())
        params = session.params(eta=0.0, source_image=path.name)
        files = session.save(f"{path.stem}-recon", tensor_to_pils(rec)[0], params, x_T[0])
        for warning in loaded.warnings:
            print(f"warning: {path.name}: {warning}", file=sys.stderr)
        print(f"{path.name}: MSE {mse:.6f}  PSNR {_psnr(mse):.2f} dB  → {files[0].name}", file=sys.stderr)
        rows.append({"image": path, "mse": mse, "psnr": _psnr(mse), "files": files})
    return {"command": "encode", "model": session.info.name, "timesteps": session.timesteps, "results": rows}


def cmd_decode(args: argparse.Namespace) -> dict[str, Any]:
    """Decode each latent file into an image (η = 0, the inverse of ``encode``)."""
    session = Session(args)
    written: list[Path] = []
    for path in args.latents:
        x_T, saved = load_latent(path)
        batch = x_T[None] if x_T.ndim == 3 else x_T
        images = session.decode(batch, desc=f"decode {path.name}")
        for i, image in enumerate(tensor_to_pils(images)):
            stem = path.stem if len(batch) == 1 else f"{path.stem}-{i}"
            written += session.save(
                f"{stem}-decoded", image, session.params(eta=0.0, latent_params=saved), None
            )
    return {"command": "decode", "model": session.info.name, "timesteps": session.timesteps, "files": written}


def _endpoint(session: Session, spec: str) -> torch.Tensor:
    """A latent (C, H, W) from ``seed:N``, a latent file or an image (encoded first)."""
    shape = session.model.sample_shape
    if spec.startswith("seed:"):
        return initial_noise([int(spec[5:])], shape)[0][0]
    path = Path(spec)
    if path.suffix == ".safetensors":
        x_T, _ = load_latent(path)
        x_T = x_T if x_T.ndim == 3 else x_T[0]
        if tuple(x_T.shape) != tuple(shape):
            raise ValueError(
                f"{path.name} holds a latent of shape {tuple(x_T.shape)}; this model needs {shape}."
            )
        return x_T
    image = fit_to_model(load_image(path).image, (shape[2], shape[1]))
    return session.encode(pil_to_tensor(image), desc=f"encode {path.name}")[0]


def cmd_interpolate(args: argparse.Namespace) -> dict[str, Any]:
    """Decode the slerp (or lerp) path between A and B as a PNG strip and an animated GIF."""
    session = Session(args)
    a, b = _endpoint(session, args.a), _endpoint(session, args.b)
    path = interpolation_path(a, b, args.frames, args.method)
    frames = torch.cat(
        [
            session.decode(path[i : i + args.batch_size], desc="frames")
            for i in range(0, args.frames, args.batch_size)
        ]
    )
    pils = tensor_to_pils(frames)
    width, height = pils[0].size
    strip = Image.new("RGB", (width * len(pils), height))
    for i, frame in enumerate(pils):
        strip.paste(frame, (i * width, 0))
    params = session.params(eta=0.0, a=args.a, b=args.b, frames=args.frames, method=args.method)
    stem = sanitize_stem(f"interp-{Path(args.a).stem}-{Path(args.b).stem}-{args.method}")
    strip_path = session.save(stem, strip, params, None)[0]
    scale = max(1, 256 // max(width, height))
    big = [f.resize((width * scale, height * scale), Image.Resampling.NEAREST) for f in pils]
    loop = big + big[-2:0:-1]  # there and back
    gif = atomic_write(
        session.out / f"{strip_path.stem}.gif",
        lambda fh: loop[0].save(
            fh, format="GIF", save_all=True, append_images=loop[1:], duration=int(1000 / args.fps), loop=0
        ),
    )
    return {
        "command": "interpolate",
        "model": session.info.name,
        "timesteps": session.timesteps,
        "method": args.method,
        "frames": args.frames,
        "files": [strip_path, gif],
    }
