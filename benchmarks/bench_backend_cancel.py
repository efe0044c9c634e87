"""Cancel latency on the OpenVINO backend: the 256-px architecture cancelled mid-call in the runner.

    python benchmarks/bench_backend_cancel.py [--trials 12] [--precision fast]

google/ddpm-celebahq-256's architecture (113.7 M parameters, random init) is converted for
OpenVINO (into a temporary cache) and installed in a ``JobRunner``; batch-1 sample jobs are
cancelled at a random point of a model call (uniform over 5–95 % of the call time measured in
the same run), and the seconds from ``runner.cancel`` to the ``cancelled`` signal are printed
(p50, p95, max) beside the seconds per call. The call is an asynchronous OpenVINO infer request
polled every few milliseconds; ``interruptible`` registers the job's abort flag with it.
``os.getloadavg()`` is printed too: the machine may be shared.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_backends import celebahq_256_unet, wrap  # noqa: E402
from bench_worker import cancel_latencies, seconds_per_call  # noqa: E402
from PySide6.QtCore import QCoreApplication  # noqa: E402

from ddim_studio.core.models.backends import apply_backend  # noqa: E402
from ddim_studio.workers import JobRunner  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--precision", default="fast", choices=["fast", "exact"])
    args = parser.parse_args()
    app = QCoreApplication(sys.argv)
    with tempfile.TemporaryDirectory() as cache:
        model, report = apply_backend(
            wrap(celebahq_256_unet()), backend="openvino", precision=args.precision, batch=1,
            cache_dir=Path(cache),
        )  # fmt: skip
        assert report.backend == "openvino", report.notes
        seconds_per_call(model, 1)  # warm-up
        call_s = seconds_per_call(model, 3)
        runner = JobRunner()
        runner.set_model(model)
        lat = sorted(cancel_latencies(runner, call_s, args.trials))
        runner.shutdown()
    p50, p95 = statistics.median(lat), statistics.quantiles(lat, n=20, method="inclusive")[18]
    load = " / ".join(f"{v:.1f}" for v in os.getloadavg())
    print("| model | backend | s per call | cancels | p50 (s) | p95 (s) | max (s) | load (1/5/15 min) |")
    print("|---|---|---|---|---|---|---|---|")
    print(
        f"| ddpm-celebahq-256 arch, batch 1 | OpenVINO {report.precision} | {call_s:.2f} | {len(lat)} "
        f"| {p50:.3f} | {p95:.3f} | {lat[-1]:.3f} | {load} |"
    )
    del app


if __name__ == "__main__":
    main()
