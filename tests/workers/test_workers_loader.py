"""The loader thread: calls run off the GUI thread, the newest per key wins, a cancel drops a result;
warnings of background threads reach a relay."""

from __future__ import annotations

import threading
import warnings

from ddim_studio.core.imaging import ImageLoadError
from ddim_studio.workers.loader import Loader
from ddim_studio.workers.warnings_relay import WarningRelay

WAIT_MS = 60_000  # a hang guard, not a speed claim


def test_a_call_runs_off_the_gui_thread_and_its_result_arrives_on_it(qtbot) -> None:  # type: ignore[no-untyped-def]
    loader = Loader()
    ran_in: list[threading.Thread] = []
    done_in: list[threading.Thread] = []
    results: list[int] = []

    def work() -> int:
        ran_in.append(threading.current_thread())
        return 42

    def done(value: int) -> None:
        done_in.append(threading.current_thread())
        results.append(value)

    busy: list[bool] = []
    loader.busyChanged.connect(busy.append)
    loader.submit(work, done, lambda _m: None)
    assert loader.busy()
    qtbot.waitUntil(lambda: results == [42], timeout=WAIT_MS)
    assert ran_in[0] is not threading.main_thread() and done_in == [threading.main_thread()]
    assert busy == [True, False] and not loader.busy()


def test_a_newer_call_of_the_same_key_drops_the_older_result(qtbot) -> None:  # type: ignore[no-untyped-def]
    loader = Loader()
    release = threading.Event()
    results: list[str] = []

    def slow() -> str:
        release.wait(WAIT_MS / 1000)
        return "old"

    loader.submit(slow, results.append, results.append, key="a")
    loader.submit(lambda: "new", results.append, results.append, key="a")
    loader.submit(lambda: "other key", results.append, results.append, key="b")
    release.set()
    qtbot.waitUntil(lambda: not loader.busy(), timeout=WAIT_MS)
    assert loader.wait(WAIT_MS)
    qtbot.wait(20)  # any late (stale) delivery would arrive now
    assert results == ["new", "other key"]
    assert loader.generation("a") == 2


def test_a_cancelled_call_delivers_nothing_and_a_queued_one_never_runs(qtbot) -> None:  # type: ignore[no-untyped-def]
    loader = Loader()
    release, started = threading.Event(), threading.Event()
    ran: list[str] = []
    results: list[str] = []

    def slow() -> str:
        ran.append("slow")
        started.set()
        release.wait(WAIT_MS / 1000)
        return "slow"

    def queued() -> str:
        ran.append("queued")
        return "queued"

    loader.submit(slow, results.append, results.append, key="a")
    loader.submit(queued, results.append, results.append, key="b")
    assert started.wait(WAIT_MS / 1000)  # "slow" runs (one thread: "queued" waits behind it)
    assert loader.cancel() and not loader.busy() and not loader.cancel()
    release.set()
    assert loader.wait(WAIT_MS)
    qtbot.wait(20)
    assert results == [] and ran == ["slow"]


def test_a_failure_arrives_as_its_one_line_message(qtbot) -> None:  # type: ignore[no-untyped-def]
    loader = Loader()
    errors: list[str] = []

    def bad() -> None:
        raise ImageLoadError("corrupt", "“x.png” is damaged or incomplete and cannot be used.")

    def unexpected() -> None:
        raise OSError("disk on fire")

    loader.submit(bad, lambda _v: None, errors.append, key="a")
    loader.submit(unexpected, lambda _v: None, errors.append, key="b")
    qtbot.waitUntil(lambda: len(errors) == 2, timeout=WAIT_MS)
    assert errors == ["“x.png” is damaged or incomplete and cannot be used.", "disk on fire"]


def test_warnings_of_a_background_thread_reach_the_relay_once_and_the_main_threads_do_not(qtbot) -> None:  # type: ignore[no-untyped-def]
    relay = WarningRelay()
    got: list[str] = []
    relay.warned.connect(got.append)

    def warn() -> None:
        for _ in range(2):
            warnings.warn("relay test: a tensor was copied\nsecond line", UserWarning, stacklevel=1)

    thread = threading.Thread(target=warn, name="background")
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        thread.start()
        thread.join()
    qtbot.waitUntil(lambda: got != [], timeout=WAIT_MS)
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter("always")
        warnings.warn("relay test: main thread", UserWarning, stacklevel=1)
    qtbot.wait(20)
    assert got == ["relay test: a tensor was copied"]
    assert [str(w.message) for w in shown] == ["relay test: main thread"]


def test_an_isolated_call_runs_in_the_decoder_process(qtbot) -> None:  # type: ignore[no-untyped-def]
    import os

    loader = Loader()
    results: list[int] = []
    loader.submit(os.getpid, results.append, lambda _m: None, isolated=True)
    qtbot.waitUntil(lambda: bool(results), timeout=WAIT_MS)
    assert results[0] != os.getpid()


def test_a_picture_decoded_in_the_decoder_process_comes_back_fitted_with_a_small_display_copy(
    qtbot, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    from PIL import Image

    from ddim_studio.operations.pictures import decode_picture, refit

    path = tmp_path / "wide.png"
    Image.new("RGB", (300, 100), (10, 200, 30)).save(path)
    loader = Loader()
    got: list[object] = []
    loader.submit(decode_picture, got.append, got.append, args=(path, (32, 32), True, 60), isolated=True)
    qtbot.waitUntil(lambda: bool(got), timeout=WAIT_MS)
    opened = got[0]
    assert opened.size == (300, 100) and opened.fitted.size == (32, 32) and opened.box == (100, 0, 200, 100)
    assert opened.display.shape == (20, 60, 3) and opened.display_box == (20, 0, 40, 20)
    assert opened.source == path and opened.params is None  # a PNG without studio parameters
    again = refit(opened, (16, 8))
    assert again.fitted.size == (16, 8) and again.size == (300, 100)
    errors: list[str] = []
    loader.submit(
        decode_picture, got.append, errors.append, args=(tmp_path / "gone.png", (32, 32)), isolated=True
    )
    qtbot.waitUntil(lambda: bool(errors), timeout=WAIT_MS)
    assert "gone.png" in errors[0] and "Error" not in errors[0]
