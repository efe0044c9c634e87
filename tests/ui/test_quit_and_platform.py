"""Quitting stops the worker even inside a long model call and ends the process at once; missing xcb
libraries are reported with the packages to install instead of Qt's core dump."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ddim_studio.ui import app as appmod
from ddim_studio.ui import platform_check
from ddim_studio.workers import SampleJob
from tests.helpers.slow import SlowUNet, pre_hook_count
from tests.ui.conftest import WAIT_MS, wait_idle


def test_closing_inside_a_long_model_call_stops_the_worker(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    slow = SlowUNet(sleep_s=1.0)  # one model call takes 8 s: longer than shutdown's 5 s wait
    runner = window.services.runner
    try:
        runner.set_model(slow.model)
        window.generate.generate()
        qtbot.waitUntil(lambda: slow.blocks_run >= 1, timeout=WAIT_MS)
        window.close()
        assert runner._thread.isFinished()  # the close path stopped the worker, mid-call
        assert slow.calls_completed == 0
        assert pre_hook_count(slow.unet) == 1  # only the test's own hook is left
        with pytest.raises(RuntimeError, match="has been shut down"):
            runner.submit(SampleJob(seeds=(1,), steps=2))  # shut down: no more jobs
        wait_idle(qtbot, window)
    finally:
        slow.make_fast()


def test_leave_process_keeps_settings_and_exit_handlers_and_the_code(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import atexit, os
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        from PySide6.QtCore import QSettings
        from PySide6.QtWidgets import QApplication
        from ddim_studio.ui.process_exit import leave_process
        app = QApplication([])
        settings = QSettings({str(tmp_path / "s.ini")!r}, QSettings.Format.IniFormat)
        settings.setValue("window/mode", 2)
        atexit.register(lambda: print("exit handler ran", flush=True))
        print("before", end="")  # unflushed
        leave_process(3, settings)
        print("not reached")
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 3, proc.stderr
    assert proc.stdout == "beforeexit handler ran\n"
    assert "mode=2" in (tmp_path / "s.ini").read_text()


def test_missing_xcb_library_prints_the_packages_and_exits_before_qt(monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(platform_check.sys, "platform", "linux")
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)  # run_app sets it; restored afterwards
    absent = {"libxcb-cursor.so.0", "libxcb-keysyms.so.1"}
    monkeypatch.setattr(platform_check, "_loadable", lambda soname: soname not in absent)

    def no_qt(*_args: object) -> None:
        raise AssertionError("the QApplication must not be created")

    monkeypatch.setattr(appmod, "make_app", no_qt)
    assert appmod.run_app([]) == 1
    err = capsys.readouterr().err
    assert "libxcb-cursor.so.0, libxcb-keysyms.so.1" in err
    assert "sudo apt install libxcb-cursor0 libxcb-keysyms1\n" in err
    assert "sudo dnf install xcb-util-cursor xcb-util-keysyms\n" in err
    assert "Traceback" not in err and "icccm" not in err


def test_xcb_check_runs_only_where_qt_uses_xcb() -> None:
    none_missing = platform_check.check_window_platform({}, loadable=lambda _s: True)
    assert none_missing is None
    all_missing = platform_check.missing_xcb_libraries(lambda _s: False)
    assert len(all_missing) == len(platform_check.XCB_LIBRARIES)
    assert platform_check.uses_xcb({}, "linux")
    assert platform_check.uses_xcb({"QT_QPA_PLATFORM": "xcb"}, "linux")
    assert not platform_check.uses_xcb({"QT_QPA_PLATFORM": "offscreen"}, "linux")
    assert not platform_check.uses_xcb(
        {"WAYLAND_DISPLAY": "wayland-0", "XDG_SESSION_TYPE": "wayland"}, "linux"
    )
    assert not platform_check.uses_xcb({}, "darwin")
    assert platform_check.check_window_platform({"QT_QPA_PLATFORM": "offscreen"}, lambda _s: False) is None


def test_thread_pools_sleep_unless_the_user_chose_a_policy(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    appmod.quiet_thread_pools()
    assert appmod.os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    appmod.quiet_thread_pools()
    assert appmod.os.environ["OMP_WAIT_POLICY"] == "ACTIVE"


def test_run_app_sets_the_policy_before_torch_is_imported(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import os, sys
        os.environ.pop("OMP_WAIT_POLICY", None)
        from ddim_studio.ui import app, platform_check
        platform_check.check_window_platform = lambda: "stop here"  # return before Qt starts
        assert app.run_app([]) == 1
        print(os.environ.get("OMP_WAIT_POLICY"), "torch" in sys.modules)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "PASSIVE False"
