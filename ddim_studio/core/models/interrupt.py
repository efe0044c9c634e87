"""Stopping a model call part-way: forward pre-hooks that check an abort flag inside the network.

A sampler checks its abort flag between model calls, so a cancel waits for the call under way:
10 s and more for a 256-px UNet on a CPU. :func:`interruptible` registers a forward pre-hook on
each network and on each of its layers that hold a weight matrix or kernel (convolutions, linear
and embedding layers: where the time goes); each hook asks ``should_stop()`` and raises
:class:`RunCancelled` (or the caller's exception type) when it says yes, so the call unwinds
before the next such layer runs. The checks cost about 3 µs each (0.2 ms per call of the tests'
tiny UNet, about 1 % of the default 32-px model's call); norms and activations between them are
left unhooked, as they are cheap. Sampling runs under
``torch.inference_mode``: the weights are never written during a forward pass, so an unwound
call leaves nothing half-written, and the hooks are removed when the ``with`` block ends.

The hooks act only in the thread that entered the block, so a model shared with another thread
is never stopped by this thread's flag. Models without ``torch.nn.Module`` parts (the exact
oracles) get no hooks; their callers still stop between calls.

A model whose call does not run torch layers (the OpenVINO backend) holds a :class:`StopChecks`
as ``stop_checks`` instead: the block registers the flag there too, and the model polls it while
its call runs (and cancels the call when it says yes).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch

__all__ = ["RunCancelled", "StopChecks", "checked_modules", "find_networks", "interruptible"]


class RunCancelled(Exception):
    """A run was stopped on request, possibly in the middle of a model call."""


class StopChecks:
    """The stop flags registered for a model by :func:`interruptible`, per thread.

    A model whose call is not made of torch layers polls :meth:`requested` during the call and
    raises the returned exception type when it is not None.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[int, list[tuple[Callable[[], bool], type[BaseException]]]] = {}

    @contextmanager
    def active(self, should_stop: Callable[[], bool], error: type[BaseException]) -> Iterator[None]:
        """Within the block, ``should_stop`` is asked in this thread's calls."""
        owner = threading.get_ident()
        entry = (should_stop, error)
        with self._lock:
            self._entries.setdefault(owner, []).append(entry)
        try:
            yield
        finally:
            with self._lock:
                entries = self._entries.get(owner, [])
                if entry in entries:
                    entries.remove(entry)
                if not entries:
                    self._entries.pop(owner, None)

    def requested(self) -> type[BaseException] | None:
        """The exception type to raise when one of this thread's flags is set, else None."""
        with self._lock:
            entries = list(self._entries.get(threading.get_ident(), ()))
        for should_stop, error in entries:
            if should_stop():
                return error
        return None

    def watching(self) -> bool:
        """Whether this thread has any flag registered (a call need not poll otherwise)."""
        with self._lock:
            return bool(self._entries.get(threading.get_ident()))


def find_networks(model: object, depth: int = 3) -> list[torch.nn.Module]:
    """The ``torch.nn.Module`` objects a model wrapper holds (itself, or its attributes', ``depth`` deep).

    Args:
        model: a :class:`~ddim_studio.core.models.protocol.DiffusionModel` or a module.
        depth: how many attribute levels to search below ``model``.

    Returns:
        The outermost modules found, each once.
    """
    found: dict[int, torch.nn.Module] = {}
    seen: set[int] = set()

    def visit(obj: object, level: int) -> None:
        if id(obj) in seen:
            return
        seen.add(id(obj))
        if isinstance(obj, torch.nn.Module):
            found[id(obj)] = obj
            return
        if level >= depth or isinstance(obj, (str, bytes, int, float, bool, torch.Tensor)):
            return
        attrs = getattr(obj, "__dict__", None)
        if isinstance(attrs, dict):
            for value in list(attrs.values()):
                visit(value, level + 1)

    visit(model, 0)
    return list(found.values())


def checked_modules(network: torch.nn.Module) -> list[torch.nn.Module]:
    """``network`` and its submodules that hold a parameter of two or more dimensions."""
    return [network] + [
        module
        for module in network.modules()
        if module is not network and any(p is not None and p.ndim >= 2 for p in module._parameters.values())
    ]


@contextmanager
def interruptible(
    model: object,
    should_stop: Callable[[], bool],
    *,
    error: type[BaseException] = RunCancelled,
) -> Iterator[int]:
    """Within the block, a model call raises ``error`` at the next submodule once ``should_stop()``.

    Args:
        model: the model (wrapper) whose networks get the hooks; see :func:`find_networks`.
        should_stop: a cheap, thread-safe check, e.g. ``threading.Event.is_set``.
        error: the exception type raised from inside the call (default :class:`RunCancelled`).

    Yields:
        The number of hooks registered (0 for a model without networks).
    """
    owner = threading.get_ident()

    def check(_module: torch.nn.Module, _args: Any) -> None:
        if threading.get_ident() == owner and should_stop():
            raise error("The run was cancelled.")

    handles = []
    checks = getattr(model, "stop_checks", None)
    try:
        for network in find_networks(model):
            for module in checked_modules(network):
                handles.append(module.register_forward_pre_hook(check))
        if isinstance(checks, StopChecks):
            with checks.active(should_stop, error):
                yield len(handles) + 1
        else:
            yield len(handles)
    finally:
        for handle in handles:
            handle.remove()
