"""What a job costs: model calls counted on a real network, the estimator, and defaults."""

from __future__ import annotations

import pytest
import torch

from ddim_studio.core.schedule import NoiseSchedule
from ddim_studio.operations import encode_images, interpolate, run_to_end, sample_seeds
from ddim_studio.operations.cost import (
    PROBE_BATCHES,
    SLOW_CALL_S,
    CallRate,
    CostModel,
    Defaults,
    RunClock,
    clock,
    encode_calls,
    estimate_label,
    format_duration,
    interpolate_calls,
    is_large,
    is_slow,
    measure_call,
    measure_calls,
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


def test_the_cost_of_a_call_follows_the_probe_per_batch_size() -> None:
    """A small model: 8 pictures cost far less than 8 × one; between sizes a line, beyond the last slope."""
    costs = CostModel("cpu", {1: 1.0, 2: 1.2, 4: 1.6, 8: 2.4})
    assert costs.per_call(4) == pytest.approx(1.6)
    assert costs.per_call(3) == pytest.approx(1.4)
    assert costs.per_call(16) == pytest.approx(2.4 + 0.2 * 8)
    big = CostModel("cpu", {1: 10.5})  # a slow model timed once: compute-bound on a CPU
    assert big.plan_seconds([(50, 4)]) == pytest.approx(2100.0)
    assert CostModel("cpu", {1: 1.0}).plan_seconds([]) == 0.0


def test_runs_refine_only_the_estimate_of_their_own_kind_and_batch() -> None:
    costs = CostModel("cpu", {1: 1.0, 8: 2.0})
    clock = RunClock()
    for done in range(1, 11):  # a sample job on batches of 8: 0.5 s per call
        clock.step(("sample", 0), 8, done, 0.1 + 0.5 * done)
    costs.learn("sample", clock, wall_s=7.0)
    assert costs.per_call(8, "sample") == pytest.approx(0.5)
    # another kind or batch: the probe, at the latest run's pace over it (0.5 / 2.0, bounded to 0.5)
    assert costs.pace == {8: pytest.approx(0.5)}
    assert costs.per_call(8, "interpolate") == pytest.approx(1.0)
    assert costs.per_call(1, "sample") == pytest.approx(1.0)  # batch 1 not run yet: the probe
    assert costs.overhead["sample"] == pytest.approx(7.0 - 10 * 0.5)
    assert costs.plan_seconds([(20, 8)], "sample") == pytest.approx(20 * 0.5 + 2.0)
    # Another kind's first run: the probe at that pace, and the least overhead seen (every run has some).
    assert costs.plan_seconds([(20, 8)], "edit") == pytest.approx(20.0 + 2.0)
    assert CostModel("cpu", {1: 1.0}).plan_seconds([(3, 1)], "edit") == pytest.approx(3.0)  # none seen


def test_a_first_run_follows_the_machine_as_the_latest_run_found_it() -> None:
    """bench_estimates: the probe timed a moment the machine ran 1.3-1.6x slower than the runs after it."""
    costs = CostModel("cpu", {1: 0.010, 4: 0.020})
    clock = RunClock()
    for done in range(1, 41):  # batch 4 at 0.026 s a call: 1.3x the probe
        clock.step(("sample", 0), 4, done, 0.026 * done)
    costs.learn("sample", clock)
    assert costs.pace == {4: pytest.approx(1.3)}
    assert costs.per_call(4, "edit") == pytest.approx(0.026)  # a kind not yet run: the probe at that pace
    assert costs.per_call(1, "edit") == pytest.approx(0.010)  # a batch not yet run: the probe
    assert costs.per_call(4, "sample") == pytest.approx(0.026)  # its own run, as measured
    one = RunClock()
    for done in range(1, 21):  # batch 1 at 0.8x its probe: its own pace, batch 4's unchanged
        one.step(("sample", 0), 1, done, 0.008 * done)
    costs.learn("sample", one)
    assert costs.per_call(1, "edit") == pytest.approx(0.008)
    assert costs.per_call(4, "edit") == pytest.approx(0.026)
    slow = RunClock()
    for done in range(1, 11):  # a run 10x the probe (a guided edit's extra work): bounded
        slow.step(("edit", 0), 4, done, 0.2 * done)
    costs.learn("edit", slow)
    assert costs.pace[4] == 2.0 and costs.per_call(4, "interpolate") == pytest.approx(0.040)


def test_the_clock_paces_a_batch_only_within_one_phase_and_chunk() -> None:
    clock = RunClock()
    clock.step(("encode", 0), 2, 1, 5.0)  # the first report holds the job's start: not paced
    clock.step(("encode", 0), 2, 3, 6.0)  # 2 calls in 1 s
    clock.step(("decode", 0), 8, 4, 9.0)  # a new phase: its first call is not paced either
    clock.step(("decode", 0), 8, 8, 11.0)  # 4 calls in 2 s
    clock.step(("decode", 0), 8, 8, 12.0)  # no new call (a repeated report): ignored
    assert clock.rates() == {2: pytest.approx(0.5), 8: pytest.approx(0.5)}
    assert clock.calls == {2: 3, 8: 5}


def test_the_probe_times_a_real_model_at_several_batch_sizes() -> None:
    counted = Counted()
    table = measure_calls(counted.model, "cpu", budget_s=5.0)
    assert 1 in table and set(table) <= set(PROBE_BATCHES) and all(s > 0 for s in table.values())
    assert counted.calls >= 2  # the warm-up call is not what counts


def test_a_slow_model_is_timed_once() -> None:
    from tests.helpers.slow import SlowUNet

    slow = SlowUNet(sleep_s=0.3)  # 8 blocks × 0.3 s > SLOW_CALL_S
    table = measure_calls(slow.model, "cpu")
    assert list(table) == [1] and table[1] > SLOW_CALL_S and slow.calls_completed == 1
