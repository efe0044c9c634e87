"""Background tasks (downloads, timings): one outcome each, progress on the GUI thread, cancel."""

from __future__ import annotations

import threading

import pytest

from ddim_studio.workers.background import BackgroundTask, run_in_background


@pytest.mark.usefixtures("qapp")
def test_progress_then_done_arrive_in_the_gui_thread(qtbot) -> None:  # type: ignore[no-untyped-def]
    seen: list[tuple[str, object, bool]] = []
    main = threading.current_thread()

    def work(report, _cancelled):  # type: ignore[no-untyped-def]
        for i in range(3):
            report(i)
        return "finished"

    task = BackgroundTask(work)
    task.progress.connect(lambda v: seen.append(("progress", v, threading.current_thread() is main)))
    task.done.connect(lambda v: seen.append(("done", v, threading.current_thread() is main)))
    with qtbot.waitSignal(task.done, timeout=60_000):
        task.start()
    qtbot.waitUntil(lambda: len(seen) == 4)
    assert seen == [
        ("progress", 0, True),
        ("progress", 1, True),
        ("progress", 2, True),
        ("done", "finished", True),
    ]
    assert task.outcome == "done" and task.result == "finished" and task.wait()


@pytest.mark.usefixtures("qapp")
def test_cancel_and_failure_each_have_their_signal(qtbot) -> None:  # type: ignore[no-untyped-def]
    started = threading.Event()

    def until_cancelled(_report, cancelled):  # type: ignore[no-untyped-def]
        started.set()
        while not cancelled():
            threading.Event().wait(0.01)
        raise RuntimeError("stopped")

    task = BackgroundTask(until_cancelled)
    task.start()
    assert started.wait(10)
    with qtbot.waitSignal(task.was_cancelled, timeout=60_000):
        task.cancel()
    assert task.outcome == "cancelled"

    messages: list[str] = []
    failing = run_in_background(lambda _r, _c: 1 / 0, None, failed=messages.append)
    qtbot.waitUntil(lambda: messages != [], timeout=60_000)
    assert failing.outcome == "failed" and messages == ["division by zero"]
