"""``ddim-studio sample``: generate pictures from seeds, named by seed, resumable and shardable.

Seeds are made batch by batch (``--num 1000000000`` holds one batch of seeds, not a billion).
Under a distributed launcher (``torchrun`` or ``accelerate launch`` set ``RANK`` and
``WORLD_SIZE``) each process makes its share of the batches; a rerun skips the files that exist.
Torch is imported when the command runs, not when the parser is built.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ddim_studio.cli.common import add_common, check_seed_range, eta_arg, positive, seed_arg
from ddim_studio.core.names import LATENT_SUFFIX

if TYPE_CHECKING:
    from ddim_studio.cli.session import Session


def add_parser(sub: Any) -> None:
    """Register ``sample`` and its arguments."""
    p = sub.add_parser("sample", help="generate images from seeds")
    add_common(p)
    p.add_argument("-n", "--num", type=positive, default=8, help="how many images (use -n under torchrun)")
    p.add_argument("--seed", type=seed_arg, default=0, help="image i gets seed SEED + i")
    p.add_argument("--eta", type=eta_arg, default=0.0, help="noise per step, 0 (DDIM) to 1 (DDPM); DDIM only")
    p.add_argument("--save-latents", action="store_true", help="write each x_T beside its image")


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
    from ddim_studio.cli.progress import drain
    from ddim_studio.core.imaging import tensor_to_pils
    from ddim_studio.core.latents import save_latent
    from ddim_studio.core.noise import initial_noise
    from ddim_studio.operations import sample_seeds

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
    from ddim_studio.operations.outputs import differing_params

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
    from ddim_studio.core.imaging import ImageLoadError, read_params

    try:
        return read_params(png)
    except (ImageLoadError, OSError):
        return None


def _sample_claimed(session: Session, batch: list[int], tally: _Tally) -> bool:
    """Claim the seeds of ``batch`` that need files, make and save those claimed, release the claims.

    Returns:
        Whether the batch ran the model (a batch whose pictures all exist only adds missing latents).
    """
    from ddim_studio.operations.outputs import claim_all, make_output_folder

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


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Generate ``--num`` images with seeds ``--seed …``, named by seed; existing files are skipped.

    A batch whose files all exist is skipped; a partly written batch is run whole (so its images
    are computed exactly as before) and only its missing files are written: a picture whose save
    was killed before its latent was placed gets that latent now. Runs into one ``--out`` share the
    work: each seed's files are claimed (``operations.outputs.claim``) by the run that makes them.
    A picture already there that was made with other settings is kept, and said so on stderr.
    """
    from ddim_studio.cli.progress import overall, shrink
    from ddim_studio.cli.session import Session
    from ddim_studio.core.limits import check_batch_memory
    from ddim_studio.core.models.loader import DTYPES
    from ddim_studio.operations.cost import sample_calls

    check_seed_range(args.seed, args.num)
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
        "model_space": session.space(),
        "backend": session.info.backend,
        "precision": session.info.precision,
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
    import torch
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    dist.barrier()
    dist.destroy_process_group()
