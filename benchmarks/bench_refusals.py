"""How fast bad input is refused, and how long a burst of replacements holds the GUI thread.

The unit tests check *what* is refused and how it is said, with no wall-clock limits (issue 20,
item 5: limits fail on a loaded machine). The speed claims they used to make are measured here,
each against a reference measured in the same run:

- hostile model folders (a huge ``layers_per_block``, a deeply nested scheduler config, weights that
  are random bytes, a pickle that would run ``os.system``) against loading a good tiny folder;
- hostile pictures (a PNG declaring 20000×20000, an EPS file, ``/dev/zero``, a FIFO) against
  decoding a 512×512 PNG; hostile latent paths against loading a good latent file;
- 200 ``JobRunner.replace`` calls with the event loop running between them (a slider drag):
  the longest gap between two iterations against the same loop without the calls, and against
  the runner's debounce (the tests once asserted gap < debounce and the burst < 2 s).

    python benchmarks/bench_refusals.py [--reps 9]

Prints markdown tables: the median seconds of ``--reps`` repetitions and the ratio to the reference.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import struct
import sys
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
from PIL import Image  # noqa: E402

from ddim_studio.core.imaging import ImageLoadError, load_image  # noqa: E402
from ddim_studio.core.latents import LatentLoadError, load_latent, save_latent  # noqa: E402
from ddim_studio.core.models import ModelLoadError, load_model  # noqa: E402
from tests.reliability.hostile_models import PICKLE_CASES, write_good_folder, write_hostile_bin  # noqa: E402


def median_s(fn: Callable[[], object], reps: int) -> float:
    """Median wall time of ``fn`` over ``reps`` runs, after one warm-up run."""
    fn()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def refusal(fn: Callable[[], object], error: type[Exception]) -> Callable[[], None]:
    """``fn`` wrapped so that it must raise ``error`` (a bench that stops refusing fails loudly)."""

    def run() -> None:
        try:
            fn()
        except error:
            return
        raise SystemExit(f"{fn} was not refused")

    return run


def table(title: str, reference: tuple[str, float], rows: dict[str, float]) -> str:
    lines = [f"\n{title}\n", "| case | median (ms) | ratio to reference |", "|---|---|---|"]
    name, ref = reference
    lines.append(f"| {name} (reference) | {ref * 1e3:.3g} | 1 |")
    lines += [f"| {case} | {t * 1e3:.3g} | {t / ref:.3g} |" for case, t in rows.items()]
    return "\n".join(lines)


def model_cases(tmp: Path, reps: int) -> str:
    good = write_good_folder(tmp / "good")
    huge = write_good_folder(tmp / "huge")
    config = json.loads((huge / "config.json").read_text())
    config["layers_per_block"] = 10_000
    (huge / "config.json").write_text(json.dumps(config))
    nested = write_good_folder(tmp / "nested")
    (nested / "scheduler_config.json").write_text("[" * 100_000 + "]" * 100_000)
    noise = write_good_folder(tmp / "noise")
    (noise / "diffusion_pytorch_model.safetensors").write_bytes(os.urandom(200_000))
    pickle = write_hostile_bin(tmp / "pickle", *PICKLE_CASES[0])
    rows = {
        "layers_per_block 10000": huge,
        "scheduler config nested 100000 deep": nested,
        "weights of random bytes": noise,
        f"hostile pickle ({PICKLE_CASES[0][1]}, {PICKLE_CASES[0][0]})": pickle,
    }
    timed = {
        name: median_s(refusal(lambda f=folder: load_model(f, device="cpu"), ModelLoadError), reps)
        for name, folder in rows.items()
    }
    reference = ("load a good tiny model folder", median_s(lambda: load_model(good, device="cpu"), reps))
    return table("Model folders refused (load_model)", reference, timed)


def declared_png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def picture_cases(tmp: Path, reps: int) -> str:
    buffer = io.BytesIO()
    Image.effect_noise((512, 512), 64).convert("RGB").save(buffer, "PNG")
    good = buffer.getvalue()
    fifo = tmp / "fifo.png"
    os.mkfifo(fifo)
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n"
    cases: dict[str, object] = {
        "PNG declaring 20000×20000": declared_png(20_000, 20_000),
        "EPS (PostScript)": eps,
        "/dev/zero": Path("/dev/zero"),
        "a FIFO": fifo,
    }
    timed = {
        name: median_s(refusal(lambda s=source: load_image(s), ImageLoadError), reps)  # type: ignore[arg-type]
        for name, source in cases.items()
    }
    reference = ("decode a 512×512 PNG", median_s(lambda: load_image(good), reps))
    return table("Pictures refused (load_image)", reference, timed)


def latent_cases(tmp: Path, reps: int) -> str:
    good = save_latent(tmp / "good.safetensors", torch.randn(3, 32, 32), {"seed": 1})
    fifo = tmp / "fifo.safetensors"
    os.mkfifo(fifo)
    timed = {
        name: median_s(refusal(lambda p=path: load_latent(p), LatentLoadError), reps)
        for name, path in {"/dev/zero": Path("/dev/zero"), "a FIFO": fifo}.items()
    }
    reference = ("load a 3×32×32 latent file", median_s(lambda: load_latent(good), reps))
    return table("Latent files refused (load_latent)", reference, timed)


def replace_burst(calls: int = 200) -> str:
    from PySide6.QtWidgets import QApplication

    from ddim_studio.core.schedule import NoiseSchedule
    from ddim_studio.workers import JobRunner, SampleJob
    from tests.helpers.models import UNetModel, tiny_unet

    app = QApplication.instance() or QApplication(sys.argv[:1])
    runner = JobRunner()
    runner.set_model(UNetModel(tiny_unet(seed=0), NoiseSchedule.linear()))

    def drag(replace: bool) -> tuple[float, float]:
        times = [time.perf_counter()]
        for i in range(calls):
            if replace:
                runner.replace(SampleJob(seeds=(i,), steps=20), group="slider")
            app.processEvents()
            time.sleep(0.002)
            times.append(time.perf_counter())
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        deadline = time.perf_counter() + 120
        while (runner.is_busy or runner.queued_ids()) and time.perf_counter() < deadline:
            app.processEvents()
            time.sleep(0.01)
        return times[-1] - times[0], max(gaps)

    bare_total, bare_gap = drag(replace=False)
    total, gap = drag(replace=True)
    debounce_s = runner.replace_debounce_ms / 1000
    runner.shutdown(60_000)
    return "\n".join(
        [
            f"\nA slider drag: {calls} replace() calls with the event loop running between them\n",
            "| | whole drag (s) | longest gap (ms) | longest gap / debounce |",
            "|---|---|---|---|",
            f"| the same loop without replace() (reference) | {bare_total:.3f} | {bare_gap * 1e3:.1f} "
            f"| {bare_gap / debounce_s:.3f} |",
            f"| with replace() | {total:.3f} ({total / bare_total:.2f}×) | {gap * 1e3:.1f} "
            f"({gap / bare_gap:.2f}×) | {gap / debounce_s:.3f} |",
            f"\n(debounce {runner.replace_debounce_ms:.0f} ms; a ratio under 1 means the drag never "
            "held the GUI thread as long as the debounce)",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=9)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"load average: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory(prefix="ddim-bench-refusals-") as tmp:
        root = Path(tmp)
        sections = {"models": model_cases, "pictures": picture_cases, "latents": latent_cases}
        for name, section in sections.items():
            folder = root / name
            folder.mkdir()
            print(section(folder, args.reps), flush=True)
    print(replace_burst(), flush=True)


if __name__ == "__main__":
    main()
