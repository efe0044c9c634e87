"""Two ``ddim-studio sample`` processes at once, with and without the passive OpenMP wait policy.

    python benchmarks/bench_omp_policy.py [--reps 2] [--backend torch]

The command line now sets ``OMP_WAIT_POLICY=PASSIVE`` unless the user set it (as the window does):
OpenMP threads that spin while waiting steal the cores another process needs. Each repetition
starts two ``sample --num 4 --steps 20`` processes together, once with the variable set to an
empty string (the OpenMP runtime's default: spin, then sleep — what the command line did before)
and once unset (the command line's PASSIVE), interleaved; the seconds until both have finished
are printed with ``os.getloadavg()``. ``--backend torch``: OpenMP is torch's thread pool
(OpenVINO uses its own, TBB).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def both(policy: str | None, backend: str, out: Path) -> float:
    env = dict(os.environ)
    env.pop("OMP_WAIT_POLICY", None)
    if policy is not None:
        env["OMP_WAIT_POLICY"] = policy
    command = [sys.executable, "-m", "ddim_studio", "sample", "--num", "4", "--steps", "20",
               "--backend", backend]  # fmt: skip
    start = time.perf_counter()
    procs = [
        subprocess.Popen(
            [*command, "--out", str(out / str(i))],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        for i in range(2)
    ]
    codes = [p.wait() for p in procs]
    if any(codes):
        raise SystemExit(f"a sample process failed: {codes}")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--backend", default="torch")
    args = parser.parse_args()
    cases = {"runtime default (before)": "", "PASSIVE (the command line now)": None}
    times: dict[str, list[float]] = {name: [] for name in cases}
    with tempfile.TemporaryDirectory() as work:
        for rep in range(args.reps):
            order = list(cases) if rep % 2 == 0 else list(reversed(cases))
            for name in order:
                times[name].append(both(cases[name], args.backend, Path(work) / f"{rep}-{len(name)}"))
                load = " / ".join(f"{v:.1f}" for v in os.getloadavg())
                print(f"rep {rep + 1}, {name}: {times[name][-1]:.1f} s (load {load})", flush=True)
    print(f"\n| OMP_WAIT_POLICY | two concurrent sample processes ({args.backend}), median s | runs |")
    print("|---|---|---|")
    for name, values in times.items():
        print(f"| {name} | {statistics.median(values):.1f} | {', '.join(f'{v:.1f}' for v in values)} |")


if __name__ == "__main__":
    main()
