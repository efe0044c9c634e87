"""The training data of one step (fresh scenes, timesteps, noise), made in-process or ahead in workers.

Every step's inputs depend only on the run's seeds and the step number, so a run is reproducible,
resumes exactly where it stopped, and gives the same batches whether they are made in the training
process or in a pool of worker processes that keeps a GPU fed.
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from multiprocessing.pool import AsyncResult
from types import TracebackType

import numpy as np
import torch

from ddim_studio.core.scenes import make_scenes, to_model_range
from ddim_studio.training.config import TrainConfig

StepInputs = tuple[np.ndarray, np.ndarray, np.ndarray]  # x0 in [−1, 1], timesteps t, noise ε


def step_inputs(cfg: TrainConfig, step: int) -> StepInputs:
    """Clean images x0, timesteps t and noise ε of update ``step`` (deterministic)."""
    images = make_scenes(cfg.batch_size, cfg.data_seed, cfg.image_size, start=step * cfg.batch_size)
    x0 = to_model_range(images)
    gen = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step)
    t = torch.randint(0, cfg.num_train_timesteps, (cfg.batch_size,), generator=gen)
    noise = torch.randn(x0.shape, generator=gen)
    return x0, t.numpy(), noise.numpy()


def _worker_init() -> None:
    torch.set_num_threads(1)  # many workers share the cores; one thread each


class Prefetcher:
    """Hands out ``step_inputs`` for consecutive steps, made ``workers`` processes ahead (0: inline)."""

    def __init__(self, cfg: TrainConfig, first_step: int, until_step: int, workers: int = 0) -> None:
        self.cfg = cfg
        self.until_step = until_step
        self.workers = workers
        self._next = first_step
        self._pending: deque[tuple[int, AsyncResult[StepInputs]]] = deque()
        context = multiprocessing.get_context("spawn")  # no fork of a process that holds CUDA
        self._pool = context.Pool(workers, initializer=_worker_init) if workers > 0 else None

    def get(self, step: int) -> StepInputs:
        """The inputs of ``step``; steps must be asked for in order when workers are used."""
        if self._pool is None:
            return step_inputs(self.cfg, step)
        while self._next < self.until_step and len(self._pending) < 4 * self.workers:
            self._pending.append((self._next, self._pool.apply_async(step_inputs, (self.cfg, self._next))))
            self._next += 1
        made_step, result = self._pending.popleft()
        if made_step != step:
            raise RuntimeError(f"asked for step {step} but the next prefetched batch is step {made_step}")
        return result.get()

    def close(self) -> None:
        """Stop the workers (pending batches are dropped)."""
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None

    def __enter__(self) -> Prefetcher:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
