"""The shape every operation shares: a step iterator that ends with one typed result.

An operation is written as a plain generator that yields :class:`Stage` markers (which phase and
chunk the following steps belong to) and core :class:`~ddim_studio.core.sampling.StepResult`
steps, and *returns* its result. :class:`Run` wraps it: iterating a ``Run`` gives only the
``StepResult`` steps (one per model call), ``run.stage`` says where the last step belongs, and
``run.result`` holds the returned value once the iteration has ended (the generator's
``StopIteration.value``). Front ends differ only in how they drive a ``Run``:

- the command line: ``for _ in run: bar.update(1)`` then ``run.result`` (:func:`run_to_end`);
- the worker: checks its abort flag before each ``next(run)`` and makes previews per stage.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from ddim_studio.core.sampling import StepResult

R = TypeVar("R")

PHASES = ("sample", "encode", "decode", "edit")


@dataclass(frozen=True)
class Stage:
    """Which phase and chunk the steps that follow belong to.

    Attributes:
        phase: ``"sample"``, ``"encode"`` or ``"decode"``.
        total: steps (model calls per image batch) in this phase, S.
        count: images in the whole operation.
        batch_offset: index in the operation of this chunk's first image.
        chunk: 0-based index of this chunk in the phase.
        chunks: number of chunks in the phase.
        job_total: model calls of the whole operation (every chunk of every phase); 0 when the
            operation does not say (progress then falls back to what the stages tell).
    """

    phase: str
    total: int
    count: int
    batch_offset: int = 0
    chunk: int = 0
    chunks: int = 1
    job_total: int = 0


Body = Generator[Stage | StepResult, None, R]


class Run(Generic[R]):
    """An operation in progress: an iterator of StepResult with a typed ``result`` at the end.

    Args:
        body: the operation's generator (yields Stage markers and StepResults, returns R).
    """

    def __init__(self, body: Body[R]) -> None:
        self._body = body
        self.stage: Stage | None = None
        self._done = False
        self._result: R | None = None
        self.calls = 0  # steps (model calls) yielded so far
        self._stage_start = 0  # ``calls`` when the current stage began

    def __iter__(self) -> Run[R]:
        return self

    def __next__(self) -> StepResult:
        while True:
            try:
                item = next(self._body)
            except StopIteration as stop:
                self._done, self._result = True, stop.value
                raise StopIteration from None
            if isinstance(item, Stage):
                self.stage, self._stage_start = item, self.calls
                continue
            self.calls += 1
            return item

    @property
    def total_calls(self) -> int:
        """Model calls of the whole operation: the stages' ``job_total``, else a lower bound.

        Without ``job_total`` the bound is the calls made plus what the current phase has left
        (its remaining chunks), so it never falls below ``calls``.
        """
        stage = self.stage
        if stage is None:
            return self.calls
        if stage.job_total > 0:
            return max(stage.job_total, self.calls)
        left = stage.total * (stage.chunks - stage.chunk) - (self.calls - self._stage_start)
        return self.calls + max(0, left)

    @property
    def done(self) -> bool:
        """True once the operation has returned its result."""
        return self._done

    @property
    def result(self) -> R:
        """The operation's result; RuntimeError while it is still running."""
        if not self._done:
            raise RuntimeError("The operation has not finished yet.")
        return self._result  # type: ignore[return-value]

    def close(self) -> None:
        """Stop the operation early (its model calls stop; no result)."""
        self._body.close()


def run_to_end(run: Run[R], on_step: Callable[[Run[R], StepResult], None] | None = None) -> R:
    """Drive ``run`` to its end, calling ``on_step(run, step)`` after each model call; its result."""
    try:
        for step in run:
            if on_step is not None:
                on_step(run, step)
    finally:
        if not run.done:
            run.close()
    return run.result


def chunks(count: int, batch_size: int) -> list[tuple[int, int]]:
    """``(lo, hi)`` index ranges of at most ``batch_size`` items covering ``count`` items."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")
    return [(lo, min(count, lo + batch_size)) for lo in range(0, count, batch_size)]


def phase(stage: Stage, steps: Iterator[StepResult]) -> Body[StepResult]:
    """Yield ``stage``, then every step of ``steps``; return the last step (ValueError if none)."""
    yield stage
    last: StepResult | None = None
    for step in steps:
        yield step
        last = step
    if last is None:
        raise ValueError("The run had no steps.")
    return last
