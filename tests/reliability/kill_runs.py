"""SIGKILL the app while it saves, at chosen moments: the driver of ``test_kill.py``.

Usage: ``python kill_runs.py PLAN.json``. The plan holds ``{"runs": [...]}``, each run
``{"mode": "cli" | "store", "out": DIR, "after": K, "delay_ms": D, "argv": [...]}``. For each run
this process forks a child that does the work, waits until ``DIR`` shows ``K`` pictures, waits
``D`` ms more, lists the pictures once more (everything saved before the kill) and sends SIGKILL.

* ``cli``: the child runs ``python -m ddim_studio ARGV`` (``runpy``, as ``-m`` does), a long
  ``sample`` run that saves PNGs and latents through the app's own writer.
* ``store``: the child saves large, incompressible pictures with latents through
  ``OutputStore.save_image`` in a loop, so that most kills land inside a save.

Importing torch and diffusers once and forking makes each run start at once. Prints one JSON list,
per run: the names saved before the kill, how the child ended, and the temp files left behind.
"""

from __future__ import annotations

import json
import os
import runpy
import signal
import sys
import time
import traceback
from pathlib import Path

POLL_S = 0.002
WAIT_S = 60.0


def visible_pngs(folder: Path) -> list[str]:
    try:
        return sorted(n for n in os.listdir(folder) if n.endswith(".png") and not n.startswith("."))
    except FileNotFoundError:
        return []


def child_cli(run: dict) -> None:
    sys.argv = ["ddim_studio", *run["argv"]]
    runpy.run_module("ddim_studio", run_name="__main__", alter_sys=True)


def child_store(run: dict) -> None:
    import torch
    from PIL import Image

    from ddim_studio.core.store import OutputStore

    store = OutputStore(run["out"])
    size = int(run.get("size", 384))
    for i in range(100_000):
        picture = Image.effect_noise((size, size), 80).convert("RGB")  # ~size²·3 bytes of PNG
        params = {"i": i, "prompt": "killed mid-save? η, 日本語"}
        store.save_image(picture, params, stem=f"pic-{i:05d}", latent=torch.randn(3, 32, 32))


def run_child(run: dict) -> int:
    signal.alarm(120)  # a watchdog: never outlive a driver that died before its kill
    for fd, suffix in ((1, ".stdout"), (2, ".stderr")):
        target = os.open(run["out"] + suffix, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(target, fd)
        os.close(target)
    try:
        (child_cli if run["mode"] == "cli" else child_store)(run)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
        return 1
    return 0


def kill_one(run: dict) -> dict:
    out = Path(run["out"])
    pid = os.fork()
    if pid == 0:
        code = run_child(run)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    deadline = time.monotonic() + WAIT_S
    while len(visible_pngs(out)) < run["after"] and time.monotonic() < deadline:
        if os.waitpid(pid, os.WNOHANG) != (0, 0):
            return {"out": str(out), "before": visible_pngs(out), "ended": "exited before the kill"}
        time.sleep(POLL_S)
    time.sleep(run["delay_ms"] / 1000)
    before = visible_pngs(out)
    os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    ended = f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status) else f"exit {os.WEXITSTATUS(status)}"
    temps = sorted(n for n in os.listdir(out) if n.startswith(".") and ".tmp-" in n) if out.exists() else []
    return {"out": str(out), "before": before, "ended": ended, "temps": temps}


def main() -> None:
    plan = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    import torch
    from diffusers import UNet2DModel  # noqa: F401  (imported once, inherited by every child)

    import ddim_studio.cli  # noqa: F401
    import ddim_studio.cli.session  # noqa: F401
    import ddim_studio.core.store  # noqa: F401

    torch.set_num_threads(1)
    print(json.dumps([kill_one(run) for run in plan["runs"]]))


if __name__ == "__main__":
    main()
