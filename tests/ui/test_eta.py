"""Honest progress in the window: the whole job's elapsed and remaining time on a slow real network."""

from __future__ import annotations

import re

from ddim_studio.ui.widgets.eta import JobClock, pace
from tests.helpers.slow import SlowUNet
from tests.ui.conftest import WAIT_MS, wait_idle

CLOCK = re.compile(r"(\d+):(\d\d) elapsed · about (\d+):(\d\d) left")


def seconds(minutes: str, secs: str) -> int:
    return int(minutes) * 60 + int(secs)


def test_eta_of_a_slow_job_appears_and_is_sane(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    slow = SlowUNet(sleep_s=0.15)  # 8 blocks × 0.15 s: one model call takes ≈ 1.2 s
    runner = window.services.runner
    view = window.generate_view
    try:
        runner.set_model(slow.model)
        view.steps.set_value(6)
        view.batch.setValue(2)
        window.generate.generate()
        row = view.progress
        qtbot.waitUntil(lambda: "left" in row.label.text(), timeout=WAIT_MS)
        text = row.label.text()
        assert "s/step" in text  # slower than one step a second: seconds per step, not "0.8 it/s"
        match = CLOCK.search(text)
        assert match is not None, text
        done, total = row.bar.value(), row.bar.maximum()
        assert total == 6 and 1 <= done < total  # the whole job's calls, not one phase's
        left = seconds(match.group(3), match.group(4))
        per_call = float(re.search(r"(\d+\.\d) s/step", text).group(1))
        expected = per_call * (total - done)
        assert 0.4 * expected - 1 <= left <= 1.5 * expected + 1, (text, expected)
        before = row.label.text()
        qtbot.waitUntil(lambda: row.label.text() != before, timeout=WAIT_MS)  # the clock ticks between steps
        runner.cancel_all()
        wait_idle(qtbot, window)
        assert "left" not in row.label.text()
    finally:
        slow.make_fast()


def test_job_clock_counts_down_between_steps() -> None:
    now = [100.0]
    clock = JobClock(lambda: now[0])
    clock.start()
    assert clock.text() == "0:00 elapsed" and clock.remaining() is None
    now[0] = 110.0
    clock.update(1, 6)  # 10 s per call, 5 calls left
    assert clock.remaining() == 50.0 and clock.text() == "0:10 elapsed · about 0:50 left"
    now[0] = 114.0
    assert clock.remaining() == 46.0 and clock.text() == "0:14 elapsed · about 0:46 left"
    now[0] = 300.0
    assert clock.remaining() == 40.0  # a slow call: still the 4 calls after the one under way
    clock.update(6, 6)
    assert clock.text().endswith("elapsed")
    clock.stop()
    assert clock.text() == "" and clock.elapsed() == 0.0


def test_pace_in_seconds_per_step_when_slow() -> None:
    assert pace(10.4) == "10.4 s/step" and pace(0.05) == "20.0 it/s" and pace(0.0) == ""
