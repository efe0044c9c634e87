"""A real tiny UNet made slow by sleeps inside its blocks: for cancel-latency and shutdown tests."""

from __future__ import annotations

import threading
import time

import torch

from ddim_studio.core.schedule import NoiseSchedule
from tests.helpers.models import UNetModel, tiny_unet


class SlowUNet:
    """A tiny real UNet (8×8 RGB) whose 8 resnet blocks each sleep ``sleep_s`` in a forward hook.

    ``model`` is the protocol wrapper to hand to a runner. ``call_started`` is set when a forward
    pass begins; ``blocks_run`` counts the resnets entered, ``calls_completed`` the forward passes
    that reached their end. :meth:`make_fast` removes these hooks.
    """

    def __init__(self, sleep_s: float, seed: int = 3) -> None:
        self.sleep_s = sleep_s
        self.model = UNetModel(tiny_unet(seed=seed), NoiseSchedule.linear())
        self.unet = self.model.unet
        suffixes = tuple(f"resnets.{i}" for i in range(3))
        self.resnets = [m for name, m in self.unet.named_modules() if name.endswith(suffixes)]
        self.call_started = threading.Event()
        self.calls_completed = 0
        self.blocks_run = 0
        self._handles = [r.register_forward_hook(self._sleep) for r in self.resnets]
        self._handles.append(self.unet.register_forward_pre_hook(lambda *_: self.call_started.set()))
        self._handles.append(self.unet.register_forward_hook(self._completed))

    def _sleep(self, *_: object) -> None:
        self.blocks_run += 1
        time.sleep(self.sleep_s)

    def _completed(self, *_: object) -> None:
        self.calls_completed += 1

    def make_fast(self) -> None:
        """Remove the sleeps and counters."""
        for handle in self._handles:
            handle.remove()
        self._handles = []


def pre_hook_count(module: torch.nn.Module) -> int:
    """How many forward pre-hooks ``module`` and its submodules carry."""
    return sum(len(m._forward_pre_hooks) for m in module.modules())
