"""The command line's progress adapter: drive an operation under a tqdm bar on stderr."""

from __future__ import annotations

import sys
from typing import Any, TypeVar

from ddim_studio.operations.run import Run, run_to_end

R = TypeVar("R")


def progress(total: int, desc: str) -> Any:
    """A tqdm bar on stderr (a context manager with ``update``)."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="step", file=sys.stderr, leave=False, dynamic_ncols=True)


def drain(run: Run[R], desc: str) -> R:
    """Run an operation to its end with one bar per stage (phase and chunk); its result."""
    state: dict[str, Any] = {"stage": None, "bar": None}

    def on_step(current: Run[R], _step: object) -> None:
        if current.stage is not state["stage"]:
            if state["bar"] is not None:
                state["bar"].close()
            stage = current.stage
            label = (
                desc if stage is None or stage.chunks == 1 else f"{desc} [{stage.chunk + 1}/{stage.chunks}]"
            )
            label = label if stage is None or stage.phase == "sample" else f"{label} ({stage.phase})"
            state["stage"], state["bar"] = stage, progress(stage.total if stage else 0, label)
        state["bar"].update(1)

    try:
        return run_to_end(run, on_step)
    finally:
        if state["bar"] is not None:
            state["bar"].close()
