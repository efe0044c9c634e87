"""Train the default model on a GPU within a wall-clock budget, then pick and measure the weights.

    python scripts/train_on_gpu.py --out DIR [--budget-s 360] [--batch-size 256] [--data-workers 14]

The recipe is ``ddim-studio train``'s (v-prediction, Min-SNR-5, AdamW, warm-up then cosine decay),
with a batch that keeps a GPU busy and scenes made ahead by worker processes. The number of updates
is fixed after timing the first warm-up steps (the learning rate does not depend on it until the
warm-up ends, and a run stops at its total), so the cosine decay ends when the budget does. Then
the raw and EMA weights are both exported and scored by SWD against held-out scenes beside the
model shipped today, and the better one is written to ``DIR/best``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from paper_tables import HELD_OUT_A, draw, real_set  # noqa: E402

from ddim_studio.core.models import DEFAULT_MODEL_DIR, DiffusersUNet, load_model  # noqa: E402
from ddim_studio.training.config import TrainConfig  # noqa: E402
from ddim_studio.training.export import export_model  # noqa: E402
from ddim_studio.training.metrics import swd  # noqa: E402
from ddim_studio.training.trainer import Trainer  # noqa: E402

PROBE_STEPS = 150


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def score(folder: Path, device: str, num: int, steps: int) -> float:
    """SWD ×10³ of ``num`` η = 0 samples at ``steps`` against held-out scenes, as in Table 1."""
    model, _ = load_model(folder, device=device)
    assert isinstance(model, DiffusersUNet)
    return swd(draw(model, num, steps, 0.0), real_set(HELD_OUT_A, num))["mean"]


def train(args: argparse.Namespace) -> Trainer:
    """Time the first warm-up updates, fix the number of updates to fit the budget, train to it."""
    cfg = TrainConfig(total_steps=10**9, batch_size=args.batch_size, lr=args.lr, warmup_steps=args.warmup)
    torch.set_num_threads(2)  # the data workers need the other cores
    trainer = Trainer(cfg, args.out / "run")
    log(f"device {trainer.device}, batch {cfg.batch_size}, {args.data_workers} data workers")
    clock: dict[str, float] = {"start": time.monotonic()}

    def progress(step: int, loss: torch.Tensor, lr: float) -> None:
        if step == PROBE_STEPS // 3:
            clock["probe"] = time.monotonic()
        if step == PROBE_STEPS:
            per_step = (time.monotonic() - clock["probe"]) / (PROBE_STEPS - PROBE_STEPS // 3)
            left = args.budget_s - (time.monotonic() - clock["start"])
            cfg.total_steps = max(cfg.warmup_steps + 1, PROBE_STEPS + int(left / per_step))
            log(f"{per_step * 1e3:.1f} ms per update: training to {cfg.total_steps} updates")
        if step % 2000 == 0:
            log(f"step {step}: loss {float(loss):.4f}, lr {lr:.2e}")

    trainer.run(10**9, data_workers=args.data_workers, on_progress=progress, eval_every=5000)
    log(f"trained {trainer.step} updates in {trainer.wall_s:.0f} s")
    return trainer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--budget-s", type=float, default=360.0)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--data-workers", type=int, default=14)
    parser.add_argument("--score-num", type=int, default=1000)
    parser.add_argument("--score-steps", type=int, default=50)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    trainer = train(args)
    folders = {w: export_model(trainer, args.out / w, weights=w) for w in ("raw", "ema")}
    scores = {"shipped": score(DEFAULT_MODEL_DIR, device, args.score_num, args.score_steps)}
    for name, folder in folders.items():
        scores[name] = score(folder, device, args.score_num, args.score_steps)
    log(f"SWD at S={args.score_steps}, {args.score_num} samples: {scores}")
    best = min(("raw", "ema"), key=lambda w: scores[w])
    shutil.copytree(folders[best], args.out / "best", dirs_exist_ok=True)
    summary = {
        "scores": scores,
        "best": best,
        "steps": trainer.step,
        "wall_s": trainer.wall_s,
        "batch_size": trainer.cfg.batch_size,
        "history": trainer.history,
    }
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    log(f"best: {best}")


if __name__ == "__main__":
    main()
