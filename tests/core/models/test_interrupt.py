"""interruptible: a model call stops at the next submodule once asked, in the asking thread only."""

from __future__ import annotations

import threading

import pytest
import torch

from ddim_studio.core.models.interrupt import RunCancelled, checked_modules, find_networks, interruptible
from ddim_studio.core.schedule import NoiseSchedule
from tests.helpers.models import UNetModel, tiny_unet


def _pre_hooks(module: torch.nn.Module) -> int:
    return sum(len(m._forward_pre_hooks) for m in module.modules())


@pytest.fixture
def model() -> UNetModel:
    return UNetModel(tiny_unet(seed=0), NoiseSchedule.linear())


def _inputs() -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randn(1, 3, 8, 8, generator=torch.Generator().manual_seed(0)), torch.tensor([500])


def test_flag_set_inside_the_call_stops_it_before_the_next_module(model: UNetModel) -> None:
    flag = threading.Event()
    ran_after: list[str] = []
    names = {m: n for n, m in model.unet.named_modules()}
    first_resnet = model.unet.down_blocks[0].resnets[0]
    trigger = first_resnet.register_forward_hook(lambda *_: flag.set())  # the abort comes mid-call

    def track(module: torch.nn.Module, _args: object) -> None:
        if flag.is_set():
            ran_after.append(names[module])

    tracker = [m.register_forward_pre_hook(track) for m in model.unet.modules()]
    x, t = _inputs()
    with (
        interruptible(model, flag.is_set) as count,
        torch.inference_mode(),
        pytest.raises(RunCancelled, match="was cancelled"),
    ):
        model(x, t)
    checked = checked_modules(model.unet)
    assert count == len(checked) and all(
        isinstance(m, (torch.nn.Conv2d, torch.nn.Linear)) for m in checked[1:]
    )
    assert {type(m) for m in checked} >= {torch.nn.Conv2d, torch.nn.Linear}
    assert sum(1 for name in ran_after if isinstance(model.unet.get_submodule(name), torch.nn.Conv2d)) <= 1
    for handle in [trigger, *tracker]:
        handle.remove()
    assert _pre_hooks(model.unet) == 0  # removed on exit
    before = model(x, t)
    flag.clear()
    with interruptible(model, flag.is_set):
        torch.testing.assert_close(model(x, t), before)  # unset flag: same output


def test_another_threads_flag_does_not_stop_this_thread(model: UNetModel) -> None:
    x, t = _inputs()
    stop = threading.Event()
    stop.set()
    entered, release = threading.Event(), threading.Event()
    raised: list[BaseException] = []

    def other() -> None:
        try:
            with interruptible(model, stop.is_set, error=KeyboardInterrupt):
                entered.set()
                release.wait(10)
        except BaseException as exc:  # noqa: BLE001 - recorded for the assertion
            raised.append(exc)

    thread = threading.Thread(target=other)
    thread.start()
    assert entered.wait(10)
    out = model(x, t)  # the other thread's hooks are on the module but do not fire here
    release.set()
    thread.join(10)
    assert out.shape == (1, 3, 8, 8) and not raised
    assert _pre_hooks(model.unet) == 0


def test_find_networks_reaches_wrapped_modules_and_skips_models_without_any(model: UNetModel) -> None:
    class Wrapper:
        def __init__(self, inner: UNetModel) -> None:
            self.inner = inner
            self.schedule = inner.schedule

    assert find_networks(Wrapper(model)) == [model.unet]
    assert find_networks(model.unet) == [model.unet]
    with interruptible(object(), lambda: True) as count:
        assert count == 0
