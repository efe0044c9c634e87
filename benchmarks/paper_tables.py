"""The DDIM paper's tables and figures, reproduced on the shipped default model.

    python benchmarks/paper_tables.py [--num 1000] [--recon 64] [--out benchmarks/results]

- Table 1 shape: SWD (×10³, Laplacian-pyramid patches; lower is better) between ``--num`` samples
  and ``--num`` held-out real scenes, for S ∈ {10, 20, 50, 100} and η ∈ {0, 0.2, 0.5, 1}, beside
  the same distance between two disjoint real sets (the floor) and random-init samples (the ceiling).
- Table 2 shape: encode → decode per-dimension MSE on a [0, 1] scale over ``--recon`` held-out real
  scenes for S ∈ {10, 20, 50, 100, 200, 500, 1000}, beside the paper's CIFAR-10 numbers.
- Samplers (quality per model call): SWD as in Table 1 (same held-out set, estimator and seeds)
  for DDIM (η = 0) and DPM-Solver++(2M) at S ∈ {5, 10, 20, 50}, with seconds per cell; DDIM cells
  already in ``table1.jsonl`` are reused; ``--samplers`` takes names with an optional ``@spacing``
  (``dpmpp-2m@trailing``). Cells go to ``samplers.jsonl`` (``--only samplers``).
- Table 2, refined (``--only refine``): the same scenes encoded with K fixed-point updates per
  inversion step (``iter_invert(refine=K)``), with the network calls each image cost; ``--only
  methods`` first compares the accelerations on 16 scenes; ``--only recovery``: pictures generated
  from known x_T, re-encoded: relative L2 error of the recovered x_T per S and K.
- Figures: consistency (one x_T at S = 10, 20, 50, 100, 1000) and slerp vs lerp, as PNGs in docs/.
Table 1 cells go to ``table1.jsonl`` and Table 2 cells to ``table2.jsonl`` as each finishes (a
rerun skips measured cells, and several processes can share the work by η or S);
``--only render`` writes ``paper_tables.md``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ddim_studio.core.imaging import tensor_to_uint8  # noqa: E402
from ddim_studio.core.interpolation import interpolation_path  # noqa: E402
from ddim_studio.core.latent_health import latent_health  # noqa: E402
from ddim_studio.core.models import DiffusersUNet, load_model  # noqa: E402
from ddim_studio.core.noise import initial_noise  # noqa: E402
from ddim_studio.core.samplers.dpmpp_2m import sample_dpmpp_2m  # noqa: E402
from ddim_studio.core.sampling import invert, sample  # noqa: E402
from ddim_studio.core.scenes import make_scenes, to_model_range  # noqa: E402
from ddim_studio.training.metrics import swd  # noqa: E402

PAPER_TABLE2 = {10: 0.014, 20: 0.0065, 50: 0.0023, 100: 0.0009, 200: 0.0004, 500: 0.0001, 1000: 0.0001}
HELD_OUT_A, HELD_OUT_B = 10_000, 10_001
BATCH = 250


def real_set(seed: int, count: int) -> torch.Tensor:
    """Held-out scenes (never trained on) in [−1, 1]."""
    return torch.from_numpy(to_model_range(make_scenes(count, seed)))


def draw(model: DiffusersUNet, count: int, steps: int, eta: float, seed: int = 0) -> torch.Tensor:
    """``count`` samples with per-image seeds ``seed …``, in batches."""
    out = []
    for start in range(0, count, BATCH):
        seeds = range(seed + start, seed + min(count, start + BATCH))
        x_T, stream = initial_noise(seeds, model.sample_shape, device=model.device)
        out.append(sample(model, x_T, steps=steps, eta=eta, noise=stream).cpu())
    return torch.cat(out)


def table1_cells(model: DiffusersUNet, num: int, steps_list: list[int], etas: list[float], log: Path) -> None:
    """Measure SWD for each (η, S) and append each cell to ``log`` (JSON lines) as soon as it is done."""
    reference = real_set(HELD_OUT_A, num)
    done = {(c["eta"], c["steps"]) for c in read_cells(log)}
    for steps in steps_list:  # S-major: the small-S comparison of the η values lands first
        for eta in etas:
            if (eta, steps) in done:
                continue
            start = time.perf_counter()
            value = swd(draw(model, num, steps, eta), reference)["mean"]
            cell = {
                "eta": eta,
                "steps": steps,
                "swd": value,
                "num": num,
                "seconds": time.perf_counter() - start,
            }
            append_cell(log, cell)
            print(f"  table 1: η={eta:g} S={steps}: {value:.1f} ({cell['seconds']:.0f} s)", flush=True)


def table1_bounds(model: DiffusersUNet, num: int) -> dict[str, float]:
    """The floor (two disjoint real sets) and the ceiling (a random-init model, S = 10)."""
    reference = real_set(HELD_OUT_A, num)
    random_unet = DiffusersUNet(
        type(model.unet).from_config(model.unet.config).eval().to(model.device),
        model.schedule,
        model.sample_shape,
    )
    return {
        "floor": swd(real_set(HELD_OUT_B, num), reference)["mean"],
        "ceiling": swd(draw(random_unet, min(num, 250), 10, 0.0), reference)["mean"],
    }


def append_cell(log: Path, cell: dict) -> None:
    """Add one measured cell to ``log`` (one JSON object per line) as soon as it is done."""
    with log.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps(cell) + "\n")


def read_cells(log: Path) -> list[dict]:
    """The cells measured so far (one JSON object per line)."""
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line.strip()]


def render_table1(cells: list[dict], bounds: dict[str, float]) -> str:
    """Markdown for the measured cells; a cell not measured shows as –."""
    steps_list = sorted({c["steps"] for c in cells})
    etas = sorted({c["eta"] for c in cells})
    value = {(c["eta"], c["steps"]): c["swd"] for c in cells}
    nums = sorted({c["num"] for c in cells})
    lines = [
        "| η \\ S | " + " | ".join(str(s) for s in steps_list) + " |",
        "|---" * (len(steps_list) + 1) + "|",
    ]
    for eta in etas:
        row = [f"{value[(eta, s)]:.1f}" if (eta, s) in value else "–" for s in steps_list]
        lines.append(f"| {eta:g} | " + " | ".join(row) + " |")
    lines.append(
        f"\nFloor (two disjoint real sets): **{bounds['floor']:.1f}**; random-init model, S = 10: "
        f"{bounds['ceiling']:.1f}. SWD ×10³, lower is better; {', '.join(map(str, nums))} samples per cell."
    )
    return "\n".join(lines)


def table2_cells(model: DiffusersUNet, count: int, steps_list: list[int], log: Path) -> None:
    """Encode → decode MSE (per dimension, [0, 1] scale) for each S, appended to ``log`` as each ends."""
    x0 = real_set(HELD_OUT_A, count)
    done = {c["steps"] for c in read_cells(log) if c["num"] == count}
    for steps in steps_list:
        if steps in done:
            continue
        start = time.perf_counter()
        rec = torch.cat(
            [
                sample(
                    model, invert(model, x0[i : i + BATCH].to(model.device), steps=steps), steps=steps
                ).cpu()
                for i in range(0, count, BATCH)
            ]
        )
        cell = {
            "steps": steps,
            "mse": float((((rec - x0) / 2) ** 2).mean()),
            "num": count,
            "seconds": time.perf_counter() - start,
        }
        append_cell(log, cell)
        print(f"  table 2: S={steps}: {cell['mse']:.2g} ({cell['seconds']:.0f} s)", flush=True)


def render_table2(cells: list[dict]) -> str:
    """Markdown: this model's error at each measured S beside the paper's CIFAR-10 numbers."""
    count = max((c["num"] for c in cells), default=0)
    mse = {c["steps"]: c["mse"] for c in cells if c["num"] == count}
    steps_list = sorted(set(mse) | set(PAPER_TABLE2))
    head = "| S | " + " | ".join(str(s) for s in steps_list) + " |"
    rule = "|---" * (len(steps_list) + 1) + "|"
    row = "| this model | " + " | ".join(f"{mse[s]:.2g}" if s in mse else "–" for s in steps_list) + " |"
    paper = "| paper, CIFAR-10 | " + " | ".join(str(PAPER_TABLE2.get(s, "–")) for s in steps_list) + " |"
    return "\n".join([head, rule, row, paper, f"\n{count} held-out scenes, η = 0, uniform spacing."])


SAMPLER_FNS = {"ddim": sample, "dpmpp-2m": sample_dpmpp_2m}
SAMPLER_LABELS = {"ddim": "DDIM (η = 0)", "dpmpp-2m": "DPM-Solver++(2M)"}


def draw_sampler(model: DiffusersUNet, count: int, steps: int, sampler: str) -> torch.Tensor:
    """``count`` samples with per-image seeds 0 … count − 1 (those of ``draw``) by ``sampler``.

    ``sampler`` is a name of ``SAMPLER_FNS``, optionally with ``@spacing`` (default uniform).
    """
    name, _, spacing = sampler.partition("@")
    fn = SAMPLER_FNS[name]
    out = []
    for start in range(0, count, BATCH):
        x_T, _ = initial_noise(
            range(start, min(count, start + BATCH)), model.sample_shape, device=model.device
        )
        out.append(fn(model, x_T, steps=steps, spacing=spacing or "uniform").cpu())
    return torch.cat(out)


def reused_ddim_cells(table1_log: Path, num: int) -> list[dict]:
    """Table 1's η = 0 cells as sampler cells (the same draw, so not measured again)."""
    return [
        {"sampler": "ddim", "steps": c["steps"], "swd": c["swd"], "num": c["num"], "seconds": c["seconds"]}
        for c in read_cells(table1_log)
        if c["eta"] == 0.0 and c["num"] == num
    ]


def sampler_cells(
    model: DiffusersUNet, num: int, steps_list: list[int], log: Path, table1_log: Path, order: list[str]
) -> None:
    """SWD for each (sampler, S) not yet in ``log`` or Table 1, appended to ``log`` as each ends."""
    reference = real_set(HELD_OUT_A, num)
    done = {(c["sampler"], c["steps"]) for c in read_cells(log) + reused_ddim_cells(table1_log, num)}
    for sampler, steps in [(name, s) for s in steps_list for name in order]:
        if (sampler, steps) in done:
            continue
        start = time.perf_counter()
        value = swd(draw_sampler(model, num, steps, sampler), reference)["mean"]
        seconds = time.perf_counter() - start
        append_cell(log, {"sampler": sampler, "steps": steps, "swd": value, "num": num, "seconds": seconds})
        print(f"  samplers: {sampler} S={steps}: {value:.1f} ({seconds:.0f} s)", flush=True)


def _sampler_label(sampler: str) -> str:
    name, _, spacing = sampler.partition("@")
    return f"{SAMPLER_LABELS[name]}, {spacing or 'uniform'} spacing"


def render_samplers(cells: list[dict], reused: list[dict]) -> str:
    """Markdown: SWD (seconds) per sampler and S; Table 1's DDIM cells marked †."""
    num = max((c["num"] for c in cells), default=0)
    value = {(c["sampler"], c["steps"]): (c, "") for c in cells if c["num"] == num}
    steps_list = sorted({s for _, s in value})
    for c in reused:
        if c["num"] == num and c["steps"] in steps_list:
            value.setdefault((c["sampler"], c["steps"]), (c, " †"))
    samplers = ["ddim"] + sorted({name for name, _ in value} - {"ddim"})
    lines = [
        "| sampler \\ S (model calls) | " + " | ".join(str(s) for s in steps_list) + " |",
        "|---" * (len(steps_list) + 1) + "|",
    ]
    for name in samplers:
        row = [
            f"{value[(name, s)][0]['swd']:.1f} ({value[(name, s)][0]['seconds']:.0f} s){value[(name, s)][1]}"
            if (name, s) in value
            else "–"
            for s in steps_list
        ]
        lines.append(f"| {_sampler_label(name)} | " + " | ".join(row) + " |")
    lines.append(
        f"\nSWD ×10³ (lower is better) of {num} samples against Table 1's held-out set, the same seeds "
        "and x_T for every sampler; seconds per cell in parentheses (CPU, one thread, shared machine, "
        "for the new cells). † measured for Table 1."
    )
    return "\n".join(lines)


class CountingModel:
    """The model, counting how many images it has evaluated (calls per image = images / N)."""

    def __init__(self, model: DiffusersUNet) -> None:
        self.model, self.images = model, 0
        self.schedule, self.sample_shape = model.schedule, model.sample_shape

    def __call__(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        self.images += x_t.shape[0]
        return self.model(x_t, t)


def refined_encode(
    model: DiffusersUNet, x0: torch.Tensor, steps: int, refine: int, acceleration: str
) -> tuple[torch.Tensor, float]:
    """x_T of every image (batches of BATCH) and the mean network calls per image of the encode."""
    counter = CountingModel(model)
    x_T = torch.cat(
        [
            invert(
                counter,  # type: ignore[arg-type]
                x0[i : i + BATCH].to(model.device),
                steps=steps,
                refine=refine,
                acceleration=acceleration,
            ).cpu()
            for i in range(0, len(x0), BATCH)
        ]
    )
    return x_T, counter.images / len(x0)


def refine_cells(
    model: DiffusersUNet,
    x0: torch.Tensor,
    steps_list: list[int],
    ks: list[int],
    accelerations: list[str],
    log: Path,
) -> None:
    """Encode (refined) → decode MSE on a [0, 1] scale and calls per image, one cell per (method, S, K)."""
    done = {(c["acceleration"], c["steps"], c["refine"]) for c in read_cells(log) if c["num"] == len(x0)}
    for steps in steps_list:
        for acceleration in accelerations:
            for k in ks:
                if (acceleration, steps, k) in done:
                    continue
                start = time.perf_counter()
                x_T, calls = refined_encode(model, x0, steps, k, acceleration)
                rec = torch.cat(
                    [sample(model, x_T[i : i + BATCH], steps=steps) for i in range(0, len(x0), BATCH)]
                )
                cell = {
                    "acceleration": acceleration,
                    "steps": steps,
                    "refine": k,
                    "mse": float((((rec - x0) / 2) ** 2).mean()),
                    "encode_calls": calls,
                    "num": len(x0),
                    "seconds": time.perf_counter() - start,
                }
                append_cell(log, cell)
                print(
                    f"  refine {acceleration} S={steps} K={k}: {cell['mse']:.2g}, {calls:.0f} calls",
                    flush=True,
                )


def recovery_cells(model: DiffusersUNet, count: int, steps_list: list[int], ks: list[int], log: Path) -> None:
    """Decode known x_T (seeds 0 …), re-encode with K updates: relative L2 error of x_T and its health."""
    done = {(c["steps"], c["refine"]) for c in read_cells(log) if c["num"] == count}
    for steps in steps_list:
        x_T, _ = initial_noise(range(count), model.sample_shape)
        pictures = draw(model, count, steps, 0.0)
        for k in ks:
            if (steps, k) in done:
                continue
            start = time.perf_counter()
            found, calls = refined_encode(model, pictures, steps, k, "anderson")
            rel = (found - x_T).flatten(1).norm(dim=1) / x_T.flatten(1).norm(dim=1)
            health = [latent_health(found[i]) for i in range(count)]
            cell = {
                "steps": steps,
                "refine": k,
                "rel_error": float(rel.mean()),
                "std": float(np.mean([h.std for h in health])),
                "autocorr": float(np.mean([h.autocorr for h in health])),
                "encode_calls": calls,
                "num": count,
                "seconds": time.perf_counter() - start,
            }
            append_cell(log, cell)
            print(
                f"  recovery S={steps} K={k}: {cell['rel_error']:.3f} ({cell['seconds']:.0f} s)", flush=True
            )


def _grid(rows: dict[str, dict[int, str]], steps_list: list[int], head: str) -> list[str]:
    lines = [
        f"| {head} | " + " | ".join(f"S = {s}" for s in steps_list) + " |",
        "|---" * (len(steps_list) + 1) + "|",
    ]
    lines += [
        f"| {name} | " + " | ".join(row.get(s, "–") for s in steps_list) + " |" for name, row in rows.items()
    ]
    return lines


def render_refined(plain: list[dict], cells: list[dict], acceleration: str = "anderson") -> str:
    """Table 2 with rows per K: MSE (calls per image for encode + decode) beside plain and the paper."""
    cells = [c for c in cells if c["acceleration"] == acceleration]
    steps_list = sorted({c["steps"] for c in cells})
    count = max((c["num"] for c in cells), default=0)
    base = {c["steps"]: c["mse"] for c in plain if c["num"] == count}
    rows: dict[str, dict[int, str]] = {"paper, CIFAR-10": {s: str(PAPER_TABLE2[s]) for s in steps_list}}
    rows["K = 0 (plain)"] = {s: f"{base[s]:.2g} ({2 * s})" for s in steps_list if s in base}
    for k in sorted({c["refine"] for c in cells}):
        rows[f"K = {k}"] = {
            c["steps"]: f"{c['mse']:.2g} ({c['encode_calls'] + c['steps']:.0f})"
            for c in cells
            if c["refine"] == k
        }
    note = (
        f"\nMSE on a [0, 1] scale over {count} held-out scenes, η = 0, uniform spacing, {acceleration} "
        "acceleration, tolerance 1e-5; in brackets the network calls per image, encode + decode "
        "(plain: 2S; refined: at most (2 + K)·S + S, fewer where images met the tolerance)."
    )
    return "\n".join(_grid(rows, steps_list, "encode → decode") + [note])


def render_recovery(cells: list[dict]) -> str:
    """Relative L2 error of the recovered x_T (and its mean std) per S and K."""
    steps_list = sorted({c["steps"] for c in cells})
    count = max((c["num"] for c in cells), default=0)
    rows: dict[str, dict[int, str]] = {}
    for k in sorted({c["refine"] for c in cells}):
        rows[f"K = {k}"] = {
            c["steps"]: f"{c['rel_error']:.3f} (σ {c['std']:.2f})"
            for c in cells
            if c["refine"] == k and c["num"] == count
        }
    note = (
        f"\n{count} pictures decoded (float, η = 0) from x_T of seeds 0 … {count - 1} and re-encoded "
        "with the same S: mean over pictures of ‖x̂_T − x_T‖ / ‖x_T‖, and in brackets the mean std of x̂_T "
        "(a true latent has 1)."
    )
    return "\n".join(_grid(rows, steps_list, "x_T error") + [note])


def render_methods(cells: list[dict]) -> str:
    """The accelerations side by side: MSE (encode calls per image) per S and K."""
    steps_list = sorted({c["steps"] for c in cells})
    rows: dict[str, dict[int, str]] = {}
    for c in sorted(cells, key=lambda c: (c["refine"] > 0, c["acceleration"], c["refine"])):
        name = "plain, K = 0" if c["refine"] == 0 else f"{c['acceleration']}, K = {c['refine']}"
        rows.setdefault(name, {})[c["steps"]] = f"{c['mse']:.2g} ({c['encode_calls']:.0f})"
    count = max((c["num"] for c in cells), default=0)
    note = (
        f"\nEncode → decode MSE ([0, 1] scale), {count} held-out scenes; in brackets encode calls per image."
    )
    return "\n".join(_grid(rows, steps_list, "method") + [note])


def strip(images: torch.Tensor, scale: int = 3) -> Image.Image:
    """A horizontal strip of images, upscaled with nearest neighbour."""
    arr = tensor_to_uint8(images)
    row = np.concatenate(list(arr), axis=1)
    img = Image.fromarray(row)
    return img.resize((img.width * scale, img.height * scale), Image.Resampling.NEAREST)


def figures(model: DiffusersUNet, docs: Path) -> None:
    """Consistency strip, slerp-vs-lerp strips and a 8×8 sample grid as PNGs."""
    docs.mkdir(parents=True, exist_ok=True)
    x_T, _ = initial_noise(range(4), model.sample_shape)
    rows = [
        strip(torch.stack([sample(model, x_T[i : i + 1], steps=s)[0] for s in (10, 20, 50, 100, 1000)]))
        for i in range(4)
    ]
    stack(rows).save(docs / "consistency.png")
    a, b = initial_noise([11], model.sample_shape)[0], initial_noise([29], model.sample_shape)[0]
    paths = [sample(model, interpolation_path(a, b, 9, m), steps=50) for m in ("slerp", "lerp")]
    stack([strip(p) for p in paths]).save(docs / "interpolation.png")
    grid = draw(model, 64, 50, 0.0, seed=100)
    arr = tensor_to_uint8(grid).reshape(8, 8, *grid.shape[2:], 3).transpose(0, 2, 1, 3, 4)
    img = Image.fromarray(arr.reshape(8 * grid.shape[2], 8 * grid.shape[3], 3))
    img.resize((img.width * 3, img.height * 3), Image.Resampling.NEAREST).save(docs / "samples.png")


def stack(rows: list[Image.Image], gap: int = 6) -> Image.Image:
    """Rows stacked vertically on a dark background."""
    width = max(r.width for r in rows)
    out = Image.new("RGB", (width, sum(r.height for r in rows) + gap * (len(rows) - 1)), (30, 30, 34))
    y = 0
    for r in rows:
        out.paste(r, (0, y))
        y += r.height + gap
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model folder (default: the shipped model)")
    parser.add_argument("--num", type=int, default=1000)
    parser.add_argument("--recon", type=int, default=64)
    parser.add_argument("--steps", default="10,20,50,100")
    parser.add_argument("--etas", default="0,0.2,0.5,1")
    parser.add_argument("--sampler-steps", default="10,20,5,50")
    parser.add_argument(
        "--samplers",
        default="dpmpp-2m@trailing,dpmpp-2m,ddim",
        help="samplers (name or name@spacing) in the order measured within each S",
    )
    parser.add_argument("--recon-steps", default="10,20,50,100,200,500,1000")
    parser.add_argument(
        "--only",
        default="figures,table1,table2,render",
        help="parts to run, comma-separated (also: samplers, methods, refine, recovery)",
    )
    parser.add_argument("--refine-steps", default="50,10,20,100", help="S of the refined and recovery tables")
    parser.add_argument("--refine-ks", default="1,2,4,8", help="K (updates per step) of those tables")
    parser.add_argument("--methods", default="fixed,damped,anderson", help="accelerations compared")
    parser.add_argument("--recovery-num", type=int, default=32, help="generated pictures re-encoded")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto (the tables were made on cpu)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    model, info = load_model(args.model, device=args.device)
    assert isinstance(model, DiffusersUNet)
    args.out.mkdir(parents=True, exist_ok=True)
    only = args.only.split(",")
    cells_log, bounds_file, table2_log = (
        args.out / n for n in ("table1.jsonl", "table1_bounds.json", "table2.jsonl")
    )
    if "figures" in only:
        figures(model, ROOT / "docs")
    if "bounds" in only or ("table1" in only and not bounds_file.exists()):
        bounds_file.write_text(json.dumps(table1_bounds(model, args.num)), encoding="utf-8")
    if "table1" in only:
        steps, etas = [int(s) for s in args.steps.split(",")], [float(e) for e in args.etas.split(",")]
        table1_cells(model, args.num, steps, etas, cells_log)
    if "table2" in only:
        recon_steps = [int(s) for s in args.recon_steps.split(",")]
        table2_cells(model, args.recon, recon_steps, table2_log)
    samplers_log = args.out / "samplers.jsonl"
    if "samplers" in only:
        sampler_steps = [int(s) for s in args.sampler_steps.split(",")]
        sampler_cells(model, args.num, sampler_steps, samplers_log, cells_log, args.samplers.split(","))
    run_refined(model, args, only)
    if "render" in only:
        parts = [f"# Paper tables on {info.name}\n"]
        if bounds_file.exists():
            bounds = json.loads(bounds_file.read_text(encoding="utf-8"))
            parts += [
                "## Table 1 shape: sample quality (SWD)\n",
                render_table1(read_cells(cells_log), bounds),
                "",
            ]
        if table2_log.exists():
            parts += ["## Table 2 shape: reconstruction error\n", render_table2(read_cells(table2_log)), ""]
        if samplers_log.exists():
            parts += [
                "## Quality per model call: DDIM and DPM-Solver++(2M)\n",
                render_samplers(read_cells(samplers_log), reused_ddim_cells(cells_log, args.num)),
                "",
            ]
        parts += render_refined_parts(args.out, read_cells(table2_log))
        text = "\n".join(parts)
        (args.out / "paper_tables.md").write_text(text, encoding="utf-8")
        print(text)


def run_refined(model: DiffusersUNet, args: argparse.Namespace, only: list[str]) -> None:
    """The ``methods``, ``refine`` and ``recovery`` parts (each cell appended as it ends)."""
    steps, ks = [int(s) for s in args.refine_steps.split(",")], [int(k) for k in args.refine_ks.split(",")]
    if "methods" in only:
        scenes = real_set(HELD_OUT_A, 16)
        refine_cells(model, scenes, [10, 50], ks, args.methods.split(","), args.out / "refine_methods.jsonl")
        text = "# Refinement accelerations compared\n\n" + render_methods(
            read_cells(args.out / "refine_methods.jsonl")
        )
        (args.out / "refine_methods.md").write_text(text + "\n", encoding="utf-8")
    if "refine" in only:
        refine_cells(
            model,
            real_set(HELD_OUT_A, args.recon),
            steps,
            ks,
            ["anderson"],
            args.out / "table2_refined.jsonl",
        )
    if "recovery" in only:
        recovery_cells(model, args.recovery_num, steps, [0, *ks], args.out / "latent_recovery.jsonl")


def render_refined_parts(out: Path, plain: list[dict]) -> list[str]:
    """Markdown sections of the refined Table 2 and the latent-recovery table, where measured."""
    parts = []
    if (out / "table2_refined.jsonl").exists():
        parts += [
            "## Table 2, refined inversion (K fixed-point updates per step)\n",
            render_refined(plain, read_cells(out / "table2_refined.jsonl")),
            "",
        ]
    if (out / "latent_recovery.jsonl").exists():
        parts += ["## Latent recovery\n", render_recovery(read_cells(out / "latent_recovery.jsonl")), ""]
    return parts


if __name__ == "__main__":
    main()
