"""Two ``ddim-studio sample`` processes at once: the thread settings the command line has had.

    python benchmarks/bench_omp_policy.py [--reps 4] [--backend torch] [--num 4] [--steps 20]

Each repetition starts two ``sample`` processes together (separate ``--out`` folders) and times
until both have finished, for each case, interleaved (the order alternates):

- ``before``: what the command line did before issue 28 — the OpenMP runtime's wait policy (spin,
  then sleep: ``OMP_WAIT_POLICY`` set empty) and torch's thread per core in each process
  (``OMP_NUM_THREADS`` = the cores, which also turns the sharing below off);
- ``passive``: ``OMP_WAIT_POLICY=PASSIVE`` (the command line sets it unless the user did), still a
  thread per core in each process — the command line of the last rounds;
- ``now``: nothing set: PASSIVE, and the runs share the cores (``core/cpu_share.py``: each run
  registers itself and takes ``cores // runs`` threads between model calls);
- ``one thread``: ``OMP_NUM_THREADS=1`` in each process, what a user who knew could set.

Then one process alone (``now``'s settings) as the reference. ``--backend torch``: OpenMP is
torch's thread pool (OpenVINO uses its own, TBB, and keeps the thread count it compiled with).
Prints each run and a table of medians with ``os.getloadavg()``: the machine may be shared.
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
CORES = str(os.cpu_count() or 1)
#: case -> environment variables set (None: removed) on top of this process's environment.
CASES: dict[str, dict[str, str | None]] = {
    "before": {"OMP_WAIT_POLICY": "", "OMP_NUM_THREADS": CORES},
    "passive": {"OMP_WAIT_POLICY": None, "OMP_NUM_THREADS": CORES},
    "now": {"OMP_WAIT_POLICY": None, "OMP_NUM_THREADS": None},
    "one thread": {"OMP_WAIT_POLICY": None, "OMP_NUM_THREADS": "1"},
}


def together(case: str, count: int, args: argparse.Namespace, out: Path) -> float:
    """Seconds until ``count`` processes started together have all finished."""
    env = dict(os.environ)
    for key, value in CASES[case].items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    command = [sys.executable, "-m", "ddim_studio", "sample", "--num", str(args.num), "--steps",
               str(args.steps), "--backend", args.backend]  # fmt: skip
    start = time.perf_counter()
    procs = [
        subprocess.Popen(
            [*command, "--out", str(out / str(i))],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for i in range(count)
    ]
    for proc in procs:
        _, err = proc.communicate()
        if proc.returncode:
            raise SystemExit(f"a sample process failed ({case}): {err[-2000:]}")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=4)
    parser.add_argument("--backend", default="torch")
    parser.add_argument("--num", type=int, default=4)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    times: dict[str, list[float]] = {name: [] for name in [*CASES, "alone"]}
    with tempfile.TemporaryDirectory() as work:
        for rep in range(args.reps):
            order = [*CASES, "alone"] if rep % 2 == 0 else ["alone", *reversed(CASES)]
            for name in order:
                out = Path(work) / f"{rep}-{name.replace(' ', '_')}"
                seconds = together("now" if name == "alone" else name, 1 if name == "alone" else 2, args, out)
                times[name].append(seconds)
                load = " / ".join(f"{v:.1f}" for v in os.getloadavg())
                print(f"rep {rep + 1}, {name}: {seconds:.1f} s (load {load})", flush=True)
    print(f"\n`sample --num {args.num} --steps {args.steps} --backend {args.backend}`, {CORES} cores\n")
    print("| case | seconds until the processes finished, median | runs (s) |")
    print("|---|---|---|")
    for name, values in times.items():
        label = "one process alone (reference)" if name == "alone" else name
        print(f"| {label} | {statistics.median(values):.1f} | {', '.join(f'{v:.1f}' for v in values)} |")


if __name__ == "__main__":
    main()
