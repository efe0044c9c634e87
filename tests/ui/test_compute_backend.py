"""Settings ▸ Compute: backend and precision saved, used by the load job, shown, restored by Reuse params."""

from __future__ import annotations

import pytest

from ddim_studio.ui.settings_dialog import SettingsDialog
from tests.ui.conftest import WAIT_MS, wait_idle


def _loaded(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    qtbot.waitUntil(lambda: window.services.model.info is not None, timeout=WAIT_MS)
    wait_idle(qtbot, window)


def test_settings_offer_backend_and_precision_and_a_change_reloads_the_model(
    qtbot, window, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("openvino")
    monkeypatch.setenv("DDIM_STUDIO_CACHE_DIR", str(tmp_path / "cache"))
    _loaded(qtbot, window)
    assert (window.services.model.info.backend, window.services.model.info.precision) == ("torch", "exact")
    settings = window.services.settings
    dialog = SettingsDialog(settings, window, sample_shape=(3, 32, 32))
    qtbot.addWidget(dialog)
    assert [dialog.backend.itemText(i) for i in range(dialog.backend.count())] == [
        "auto",
        "torch",
        "openvino",
    ]
    assert [dialog.precision.itemText(i) for i in range(dialog.precision.count())] == [
        "auto",
        "exact",
        "fast",
    ]
    assert dialog.backend.currentText() == "auto" and dialog.precision.currentText() == "auto"
    dialog.backend.setCurrentText("openvino")
    dialog.precision.setCurrentText("exact")
    dialog.apply()
    assert settings.get("compute/backend") == "openvino" and settings.get("compute/precision") == "exact"
    window.services.model.reload()  # what show_settings does after a change
    qtbot.waitUntil(lambda: window.services.model.info.backend == "openvino", timeout=WAIT_MS * 4)
    wait_idle(qtbot, window)
    info = window.services.model.info
    assert info.precision == "exact"
    assert "OpenVINO" in window.services.model.status_text()


def test_reuse_params_restores_the_backend_and_precision(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    _loaded(qtbot, window)
    settings = window.services.settings
    window.reuse_compute({"backend": "torch", "precision": "fast"})
    assert settings.get("compute/backend") == "torch" and settings.get("compute/precision") == "fast"
    qtbot.waitUntil(lambda: window.services.model.info.precision in ("fast", "exact") and not
                    window.services.model.is_loading, timeout=WAIT_MS)  # fmt: skip
    wait_idle(qtbot, window)
    settings.set("compute/precision", "exact")
    window.reuse_compute({"backend": "tpu", "precision": "fast"})  # not a backend: left alone
    assert settings.get("compute/precision") == "exact"
