"""The work behind each ``ddim-studio`` subcommand; ``cli.py`` holds the argument parsing.

Each command resolves its inputs, runs an operation (``ddim_studio.operations``) under a progress
bar (``ddim_studio.progress``) and saves through ``operations.save_picture`` with parameters from
``operations.build_params`` — the same functions the window uses.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from ddim_studio.core.imaging import (
    ImageLoadError,
    fit_to_model,
    load_image,
    pil_to_tensor,
    read_params,
    tensor_to_pils,
    tensor_to_uint8,
)
from ddim_studio.core.latents import load_latent, save_latent
from ddim_studio.core.limits import check_batch_memory
from ddim_studio.core.models import load_model, resolve_device
from ddim_studio.core.models.loader import DTYPES
from ddim_studio.core.noise import check_seed, initial_noise
from ddim_studio.core.samplers import get_sampler
from ddim_studio.core.sampling import resolve_timesteps
from ddim_studio.core.saved_params import carried_params, utf8_text
from ddim_studio.core.store import LATENT_SUFFIX, sanitize_stem
from ddim_studio.operations import (
    build_params,
    check_output_folder,
    decode_latents,
    encode_images,
    export,
    interpolate,
    resolve_endpoint,
    sample_seeds,
    save_picture,
)
from ddim_studio.operations.cost import encode_calls, interpolate_calls, sample_calls
from ddim_studio.operations.outputs import claim_all, differing_params, make_output_folder
from ddim_studio.operations.run import chunks
from ddim_studio.operations.sample import sampler_for
from ddim_studio.progress import drain, overall, say, shrink, status


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
        # Checked before the model loads, created by the first save: a bad argument makes nothing.
        self.out: Path = check_output_folder(args.out)
        self.device = resolve_device(args.device)
        with status("loading model…"):
            self.model, self.info = load_model(
                args.model, config=args.model_config, device=self.device, dtype=DTYPES[args.dtype]
            )
        if self.info.clip_sample_requested:
            say(clip_sample_note(bool(args.clip_sample)))
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


def clip_sample_note(used: bool) -> str:
    """The one stderr line for a model whose config asks for ``clip_sample: true``."""
    if used:
        return "note: the model's config asks for clip_sample: true; it is on (--clip-sample)."
    return (
        "note: the model's config asks for clip_sample: true; it is off here because clipping breaks "
        "exact inversion (add --clip-sample to use it)."
    )


def _shard(first: int, num: int, batch_size: int) -> tuple[Iterator[list[int]], int, int]:
    """This process's batches under a distributed launcher (RANK / WORLD_SIZE), made one at a time.

    The seeds are cut into batches first and the batches dealt round-robin, so every batch has the
    same members whatever the number of processes: the model sees the same tensors, and the files
    are byte-identical to a one-process run with the same ``--batch-size``. Batches are made as
    they are needed, so ``--num 1000000000`` holds one batch of seeds, not a billion.
    """
    rank = int(os.environ.get("RANK", "0"))
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if not 0 <= rank < world:
        raise ValueError(f"RANK={rank} is not below WORLD_SIZE={world}; check the launcher's settings.")
    count = -(-num // batch_size)
    batches = (
        list(range(first + b * batch_size, first + min(num, (b + 1) * batch_size)))
        for b in range(rank, count, world)
    )
    return batches, rank, world


def _missing_files(stem_path: Path, with_latent: bool) -> list[str]:
    """Which of a seed's files (``.png``, and its latent if wanted) are not on disk yet."""
    suffixes = [".png", LATENT_SUFFIX] if with_latent else [".png"]
    return [suffix for suffix in suffixes if not stem_path.with_name(stem_path.name + suffix).exists()]


def _seed_stem(seed: int) -> str:
    return f"seed-{seed:06d}"


def _sample_batch(session: Session, batch: list[int], todo: dict[int, list[str]]) -> list[Path]:
    """Run one batch of seeds (whole, if any picture is missing) and write the files in ``todo``."""
    args = session.args
    written: list[Path] = []
    if any(".png" in files for files in todo.values()):
        run = sample_seeds(session.model, batch, eta=args.eta, batch_size=len(batch), **session.settings())
        out = drain(run, f"seeds {batch[0]}…{batch[-1]}")
        x_T, pictures = out.x_T, tensor_to_pils(out.images)
    else:
        x_T, pictures = initial_noise(batch, session.model.sample_shape)[0], []
    for i, seed in enumerate(batch):
        params, stem = session.params("sample", seed=seed, eta=args.eta), _seed_stem(seed)
        files = todo.get(seed, [])
        if ".png" in files:
            latent = x_T[i].cpu() if args.save_latents else None
            written += session.save(stem, pictures[i], params, latent)
        elif files:  # the picture is there, its latent is not (a save killed in between)
            written.append(save_latent(session.out / f"{stem}{LATENT_SUFFIX}", x_T[i].cpu(), params))
    return written


class _Tally:
    """What a ``sample`` run did with each seed."""

    def __init__(self) -> None:
        self.seeds: list[int] = []
        self.skipped: list[int] = []
        self.other: list[int] = []  # kept: made with other parameters
        self.busy: list[int] = []  # being made by another run into the same folder
        self.written: list[Path] = []


def _todo(session: Session, batch: list[int], tally: _Tally) -> dict[int, list[str]]:
    """The files each seed of ``batch`` still needs; pictures made with other settings are kept."""
    todo: dict[int, list[str]] = {}
    for seed in batch:
        stem_path = session.out / _seed_stem(seed)
        missing = _missing_files(stem_path, session.args.save_latents)
        if ".png" not in missing:
            wanted = session.params("sample", seed=seed, eta=session.args.eta)
            if differing_params(_saved_params(stem_path.with_suffix(".png")), wanted):
                tally.other.append(seed)  # its latent would not match it: leave both alone
                continue
        if missing:
            todo[seed] = missing
        else:
            tally.skipped.append(seed)
    return todo


def _saved_params(png: Path) -> dict[str, Any] | None:
    """The parameters in a picture already in ``--out``; None when it has none or cannot be read."""
    try:
        return read_params(png)
    except (ImageLoadError, OSError):
        return None


def _sample_claimed(session: Session, batch: list[int], tally: _Tally) -> bool:
    """Claim the seeds of ``batch`` that need files, make and save those claimed, release the claims.

    Returns:
        Whether the batch ran the model (a batch whose pictures all exist only adds missing latents).
    """
    todo = _todo(session, batch, tally)
    if not todo:
        return False
    make_output_folder(session.out)
    claims = claim_all(session.out, [_seed_stem(s) for s in todo])
    try:
        mine: dict[int, list[str]] = {}
        for seed in todo:
            if _seed_stem(seed) not in claims:
                tally.busy.append(seed)
                continue
            # claimed: another run may have finished it since it was looked at
            missing = _missing_files(session.out / _seed_stem(seed), session.args.save_latents)
            if missing:
                mine[seed] = missing
            else:
                tally.skipped.append(seed)
        if mine:
            tally.written += _sample_batch(session, batch, mine)
        return any(".png" in files for files in mine.values())
    finally:
        for held in claims.values():
            held.release()


def cmd_sample(args: argparse.Namespace) -> dict[str, Any]:
    """Generate ``--num`` images with seeds ``--seed …``, named by seed; existing files are skipped.

    A batch whose files all exist is skipped; a partly written batch is run whole (so its images
    are computed exactly as before) and only its missing files are written: a picture whose save
    was killed before its latent was placed gets that latent now. Runs into one ``--out`` share the
    work: each seed's files are claimed (``operations.outputs.claim``) by the run that makes them.
    A picture already there that was made with other settings is kept, and said so on stderr.
    """
    last = args.seed + args.num - 1
    try:
        check_seed(args.seed)
        check_seed(last)
    except ValueError:
        raise ValueError(
            f"--seed {args.seed} with --num {args.num} asks for seeds up to {last}; seeds must lie "
            f"between 0 and {2**63 - 1}."
        ) from None
    session = Session(args)
    check_batch_memory(session.model, min(args.batch_size, args.num), DTYPES[args.dtype])
    batches, rank, world = _shard(args.seed, args.num, args.batch_size)
    tally = _Tally()
    per_batch = len(session.timesteps)
    mine = len(range(rank, -(-args.num // args.batch_size), world))  # this process's batches
    with overall(sample_calls(mine, 1, per_batch), "sample"):  # one bar: every batch's calls
        for batch in batches:
            tally.seeds += batch
            if not _sample_claimed(session, batch, tally):
                shrink(per_batch)  # nothing to compute: the bar's total counts only batches that run
    _barrier(world)
    if tally.other:
        print(
            f"kept {len(tally.other)} existing pictures made with other parameters "
            f"(seeds {_seed_list(tally.other)}); use another --out to make them with these.",
            file=sys.stderr,
        )
    return {
        "command": "sample",
        "model": session.info.name,
        "sampler": session.sampler,
        "rank": rank,
        "world_size": world,
        "seeds": tally.seeds,
        "skipped": tally.skipped,
        "kept_other_parameters": tally.other,
        "made_by_another_run": tally.busy,
        "files": tally.written,
        "timesteps": session.timesteps,
        "eta": args.eta,
    }


def _seed_list(seeds: list[int], most: int = 8) -> str:
    shown = ", ".join(str(s) for s in seeds[:most])
    return shown + (f" and {len(seeds) - most} more" if len(seeds) > most else "")


def _barrier(world: int) -> None:
    """Wait for the other processes of a distributed run (gloo on the CPU, NCCL on CUDA)."""
    if world <= 1 or "MASTER_ADDR" not in os.environ:
        return
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    dist.barrier()
    dist.destroy_process_group()


def _shown(path: Path) -> str:
    """A file's name for the terminal: bytes that are not UTF-8 shown as U+FFFD."""
    return utf8_text(path.name)


def cmd_encode(args: argparse.Namespace) -> dict[str, Any]:
    """Invert each image, decode it back, write the latent and the reconstruction, print the error."""
    stems = [sanitize_stem(f"{path.stem}-recon") for path in args.images]  # before any compute
    session = Session(args)
    size = session.model.sample_shape[1:]
    rows = []
    with overall(len(args.images) * encode_calls(len(session.timesteps)), "encode"):
        for path, stem in zip(args.images, stems, strict=True):
            rows.append(_encode_one(session, path, stem, size))
    return {
        "command": "encode",
        "model": session.info.name,
        "sampler": session.sampler,
        "spacing": args.spacing,
        "refine": args.refine,
        "timesteps": session.timesteps,
        "results": rows,
    }


def _encode_one(session: Session, path: Path, stem: str, size: Sequence[int]) -> dict[str, Any]:
    """Encode one picture, save its latent and reconstruction, print its error; its JSON row."""
    loaded = load_image(path)
    x0 = pil_to_tensor(fit_to_model(loaded.image, (size[1], size[0])))
    refine = session.args.refine
    run = encode_images(session.model, x0, refine=refine, **session.settings())
    out = drain(run, f"encode {_shown(path)}")
    mse, psnr = out.mse[0], out.psnr[0]
    params = session.params("encode", source=path.name, mse=mse, psnr=psnr, refine=refine)
    files = session.save(stem, tensor_to_pils(out.reconstruction)[0], params, out.x_T[0])
    for warning in loaded.warnings:
        print(f"warning: {_shown(path)}: {warning}", file=sys.stderr)
    calls = out.calls + len(out.timesteps)  # the inversion's, then the decode's S
    print(
        f"{_shown(path)}: MSE {mse:.6f}  PSNR {psnr:.2f} dB  ({calls} model calls)  → {_shown(files[0])}",
        file=sys.stderr,
    )
    return {
        "image": path,
        "mse": mse,
        "psnr": psnr,
        "calls": calls,
        "inversion_calls": out.calls,
        "files": files,
    }


def cmd_decode(args: argparse.Namespace) -> dict[str, Any]:
    """Decode each latent file into images (η = 0, the inverse of ``encode``), ``--batch-size`` at a time.

    Each batch is saved before the next is decoded, so a file of 20,000 latents holds one batch of
    pictures in memory. Only the known, valid fields of a latent's parameters go into the PNG.
    """
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
                label = f"decode {_shown(path)}" + (f" [{c + 1}/{len(parts)}]" if len(parts) > 1 else "")
                for i, image in enumerate(tensor_to_pils(drain(run, label).images), start=lo):
                    stem = path.stem if len(batch) == 1 else f"{path.stem}-{i}"
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
    stem = sanitize_stem(f"interp-{Path(args.a).stem}-{Path(args.b).stem}-{args.method}")  # before compute
    session = Session(args)
    shape = tuple(session.model.sample_shape)
    run_settings = {
        "timesteps": session.timesteps,
        "clip_sample": args.clip_sample,
        "sampler": session.sampler,
        "model": session.info.name,
    }
    a, b = (resolve_endpoint(spec, shape, **run_settings) for spec in (args.a, args.b))
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
        "sampler": session.sampler,
        "timesteps": session.timesteps,
        "method": args.method,
        "frames": args.frames,
        "files": [strip_path, gif],
    }
