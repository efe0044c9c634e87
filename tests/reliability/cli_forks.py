"""Run many ``python -m ddim_studio …`` commands cheaply: import once, fork a child per command.

Usage: ``python cli_forks.py JOBS.json`` where the file holds a list of
``{"argv": [...], "env": {name: value or null}, "out": "path prefix"}``. Each child sets its
environment, points its stdout and stderr at ``<out>.stdout`` / ``<out>.stderr`` and runs the
``ddim_studio`` package as ``__main__`` exactly as ``python -m`` does (``runpy``); an exception that
escapes is printed as the interpreter would print it (a traceback, status 1). The parent prints one
JSON list of exit statuses. Importing torch and diffusers once instead of once per command makes a
sweep of dozens of commands take seconds.
"""

from __future__ import annotations

import json
import os
import runpy
import signal
import sys
import traceback


def run_child(job: dict) -> int:
    signal.alarm(120)  # a watchdog: a command that hangs dies instead of holding the sweep
    for name, value in job["env"].items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    for fd, suffix in ((1, ".stdout"), (2, ".stderr")):
        target = os.open(job["out"] + suffix, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(target, fd)
        os.close(target)
    sys.argv = ["ddim_studio", *job["argv"]]
    try:
        runpy.run_module("ddim_studio", run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    return code


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as fh:
        jobs = json.load(fh)
    import torch
    from diffusers import UNet2DModel  # warm: every child inherits the imports

    with torch.device("meta"):  # and the lazily imported block modules
        UNet2DModel(
            sample_size=8,
            block_out_channels=(8, 16),
            down_block_types=("DownBlock2D", "AttnDownBlock2D"),
            up_block_types=("AttnUpBlock2D", "UpBlock2D"),
            norm_num_groups=4,
        )

    import ddim_studio.cli  # noqa: F401
    import ddim_studio.cli.session  # noqa: F401

    torch.set_num_threads(1)
    statuses = []
    for job in jobs:
        pid = os.fork()
        if pid == 0:
            os._exit(run_child(job))
        _, status = os.waitpid(pid, 0)
        statuses.append(os.waitstatus_to_exitcode(status))
    print(json.dumps(statuses))


if __name__ == "__main__":
    main()
