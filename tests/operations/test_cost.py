"""What a job costs: model calls counted on a real network, the estimator, and defaults."""

from __future__ import annotations

import pytest
import torch

from ddim_studio.core.schedule import NoiseSchedule
from ddim_studio.operations import encode_images, interpolate, run_to_end, sample_seeds
from ddim_studio.operations.cost import (
    CallRate,
    Defaults,
    clock,
    encode_calls,
    estimate_label,
    format_duration,
    interpolate_calls,
    is_large,
    is_slow,
    measure_call,
    sample_calls,
    suggested_defaults,
)
from ddim_studio.operations.interpolation import Endpoint
from tests.helpers.models import UNetModel, tiny_unet

S = 4


class Counted:
    """A real tiny UNet whose forward passes (calls) and evaluated pictures (batch rows) are counted."""

    def __init__(self) -> None:
        self.model = UNetModel(tiny_unet(seed=2), NoiseSchedule.linear())
        self.calls = 0
        self.pictures = 0
        self.model.unet.register_forward_pre_hook(self._count)

    def _count(self, _module: object, args: tuple[torch.Tensor, ...]) -> None:
        self.calls += 1
        self.pictures += int(args[0].shape[0])


def picture(value: float) -> Endpoint:
    return Endpoint(torch.full((3, 8, 8), value), True, f"p{value}")


def test_interpolating_two_pictures_encodes_them_once_and_decodes_only_the_path() -> None:
    counted = Counted()
    frames = 5
    run = interpolate(counted.model, picture(-0.5), picture(0.5), frames=frames, steps=S, batch_size=2)
    out = run_to_end(run)
    assert out.images.shape[0] == frames
    # 2 pictures × S to encode (one batch), frames × S to decode the path; no decode of the ends
    assert counted.pictures == 2 * S + frames * S
    assert counted.calls == S + 3 * S == interpolate_calls(frames, 2, S, images=2)
    assert run.calls == counted.calls == run.total_calls


def test_every_operation_knows_its_total_calls_from_its_first_step() -> None:
    counted = Counted()
    run = sample_seeds(counted.model, [1, 2, 3], steps=S, batch_size=2)
    totals = [run.total_calls for _ in run]
    assert totals == [sample_calls(3, 2, S)] * counted.calls and counted.calls == 2 * S
    run = encode_images(counted.model, torch.zeros(2, 3, 8, 8), steps=S)
    seen = [(run.stage.phase, run.calls, run.total_calls) for _ in run]
    assert seen[0] == ("encode", 1, encode_calls(S)) and seen[-1] == ("decode", 2 * S, 2 * S)


def test_rate_scales_with_the_batch_by_device() -> None:
    cpu = CallRate(seconds=2.0, batch=1, device="cpu")
    assert cpu.per_call(4) == pytest.approx(8.0)
    assert cpu.seconds_for(calls=20, batch=1) == pytest.approx(40.0)
    measured_at_4 = CallRate(seconds=8.0, batch=4, device="cpu")
    assert measured_at_4.per_call(1) == pytest.approx(2.0)
    gpu = CallRate(seconds=0.1, batch=1, device="cuda")
    assert 0.1 < gpu.per_call(8) < 0.8  # a batch is much cheaper per picture on a GPU


def test_estimate_of_a_large_model_on_a_cpu() -> None:
    """The issue's example: ~10.5 s per call, S = 50, 4 pictures in one batch ⇒ tens of minutes."""
    rate = CallRate(seconds=10.5, batch=1, device="cpu")
    seconds = rate.seconds_for(sample_calls(4, 4, 50), 4)
    assert seconds == pytest.approx(2100.0)
    assert estimate_label(seconds, "cpu") == "≈ 35 min on this CPU" and is_slow(seconds)
    assert estimate_label(rate.seconds_for(20, 1), "cuda").endswith("on this GPU")
    assert estimate_label(0.3, "cpu") == "< 1 s on this CPU"  # not "≈ < 1 s"
    assert not is_slow(60.0)


@pytest.mark.parametrize(
    ("seconds", "words"),
    [(0.2, "< 1 s"), (40, "40 s"), (89.4, "89 s"), (840, "14 min"), (4800, "1 h 20 min"), (7200, "2 h")],
)
def test_durations_read_as_people_say_them(seconds: float, words: str) -> None:
    assert format_duration(seconds) == words


def test_clock_and_bad_values() -> None:
    assert clock(75) == "1:15" and clock(3725) == "1:02:05" and clock(float("nan")) == "0:00"
    assert format_duration(float("inf")) == "unknown"


def test_defaults_per_model_size_and_device() -> None:
    big, small = (3, 256, 256), (3, 32, 32)
    assert is_large(113_700_000, big) and is_large(10, big) and is_large(60_000_000, small)
    assert not is_large(35_700_000, small)
    assert suggested_defaults(113_700_000, big, "cpu") == Defaults(steps=20, batch=1, interpolate_batch=1)
    gpu = suggested_defaults(113_700_000, big, "cuda")
    assert gpu.steps == 50 and 1 < gpu.batch < 8
    assert suggested_defaults(35_700_000, small, "cpu") == Defaults(steps=50, batch=4, interpolate_batch=8)


def test_measure_call_times_one_real_call() -> None:
    counted = Counted()
    rate = measure_call(counted.model, "cpu")
    assert counted.calls == 1 and counted.pictures == 1
    assert rate.seconds > 0 and rate.batch == 1 and rate.device == "cpu"
