"""Command-line driver for training: resume, train with a progress bar, export."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ddim_studio.arg_types import number, whole  # errors in words, not 'invalid int value'
from ddim_studio.training.config import TrainConfig


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    """Arguments of ``ddim-studio train``."""
    parser = parser or argparse.ArgumentParser(prog="ddim-studio train")
    parser.add_argument(
        "--workdir", type=Path, default=Path("training-run"), help="folder for state.pt (resumed if present)"
    )
    parser.add_argument(
        "--steps", type=whole, default=TrainConfig.total_steps, help="total optimiser updates of the run"
    )
    parser.add_argument(
        "--until", type=whole, default=None, help="stop after this many updates (default: --steps)"
    )
    parser.add_argument("--batch-size", type=whole, default=TrainConfig.batch_size)
    parser.add_argument("--lr", type=number, default=TrainConfig.lr)
    parser.add_argument("--threads", type=whole, default=0, help="CPU threads (0: torch's default)")
    parser.add_argument(
        "--data-workers", type=whole, default=0, help="processes making batches ahead (for a GPU; 0: inline)"
    )
    parser.add_argument("--checkpoint-every", type=number, default=300.0, help="seconds between checkpoints")
    parser.add_argument(
        "--export", type=Path, default=None, help="write a diffusers model folder here when done"
    )
    parser.add_argument("--export-only", action="store_true", help="export the saved state without training")
    parser.add_argument("--weights", choices=["ema", "raw"], default="ema", help="which weights to export")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run or resume training; returns the exit code."""
    return run(build_parser().parse_args(argv))


def run(args: argparse.Namespace) -> int:
    """Train with parsed ``ddim-studio train`` arguments; returns the exit code."""
    import torch

    from ddim_studio.training.trainer import Trainer

    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = TrainConfig(total_steps=args.steps, batch_size=args.batch_size, lr=args.lr, threads=args.threads)
    trainer = Trainer(cfg, args.workdir)
    if trainer.load():
        print(f"resumed at step {trainer.step}", file=sys.stderr)
    if args.export_only:
        if args.export is None:
            print("ddim-studio train: error: --export-only needs --export DIR", file=sys.stderr)
            return 2
        from ddim_studio.training.export import export_model

        export_model(trainer, args.export, weights=args.weights)
        return 0
    until = args.until or cfg.total_steps

    from tqdm import tqdm

    bar = tqdm(total=until, initial=trainer.step, unit="step", file=sys.stderr, mininterval=5.0)

    def progress(step: int, loss: torch.Tensor, lr: float) -> None:
        bar.update(1)
        if step % 100 == 0:
            bar.set_postfix(loss=f"{float(loss):.4f}", lr=f"{lr:.2e}")
            if trainer.history and trainer.history[-1]["step"] == step:
                print(json.dumps(trainer.history[-1]), file=sys.stderr, flush=True)

    trainer.run(
        until, checkpoint_every_s=args.checkpoint_every, on_progress=progress, data_workers=args.data_workers
    )
    bar.close()
    if args.export is not None:
        from ddim_studio.training.export import export_model

        export_model(trainer, args.export, weights=args.weights)
    return 0
