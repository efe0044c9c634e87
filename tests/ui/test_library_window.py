"""Model ▸ Library… driven through its widgets, against the loopback hub and the real hub client.

The loopback hub serves a tiny model under the catalogue's id ``google/ddpm-cifar10-32`` (so the
catalogue row itself is downloaded), and refused models for the hand-typed check.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from ddim_studio.core import download_progress, hub_cache, model_library
from ddim_studio.operations.cost import backend_rate
from ddim_studio.ui import dialogs
from ddim_studio.ui.model_library import controller as library_controller
from tests.helpers import hub_repos
from tests.helpers.hub_server import LoopbackHub, point_client_at
from tests.ui.conftest import WAIT_MS, wait_idle
from tests.ui.test_model_switch import DEVELOPER_WORDS

CIFAR = "google/ddpm-cifar10-32"
TINY_ARCH = {
    "sample_size": 8, "in_channels": 3, "out_channels": 3, "layers_per_block": 1,
    "block_out_channels": [8, 16], "down_block_types": ["DownBlock2D", "DownBlock2D"],
    "up_block_types": ["UpBlock2D", "UpBlock2D"], "norm_num_groups": 4,
}  # fmt: skip


@pytest.fixture(scope="module")
def hub_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hub")
    hub_repos.google_layout(root, CIFAR, width=32)
    hub_repos.score_sde(root, "tests/score-sde")
    hub_repos.pipeline_layout(root, "tests/tiny-pipeline", width=8)
    return root


@pytest.fixture
def hub(hub_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    with LoopbackHub(hub_root) as server:
        point_client_at(monkeypatch, server, tmp_path / "hub-cache")
        monkeypatch.setenv("DDIM_STUDIO_CACHE_DIR", str(tmp_path / "studio-cache"))  # thumbnails
        monkeypatch.setattr(download_progress, "PROGRESS_INTERVAL", 0.0)
        monkeypatch.setattr(library_controller, "_RATES", {})
        monkeypatch.setattr(library_controller, "_TIMINGS", {})
        monkeypatch.setattr(
            library_controller, "backend_rate", lambda d, b, p: backend_rate(d, b, p, TINY_ARCH, calls=1)
        )
        yield server


def _library(qtbot, window):  # type: ignore[no-untyped-def]
    window.open_model_library()
    view = window.model_library_view
    qtbot.waitUntil(lambda: view.isVisible(), timeout=WAIT_MS)
    return view, view.controller


def _row(view, repo_id: str) -> int:  # type: ignore[no-untyped-def]
    for r in range(view.table.rowCount()):
        if view.table.item(r, 0).text() == repo_id:
            return r
    raise AssertionError(f"{repo_id} is not listed")


def _status(view, repo_id: str) -> str:  # type: ignore[no-untyped-def]
    return view.table.item(_row(view, repo_id), 7).text()


def test_the_library_lists_the_catalogue_with_estimates(qtbot, window, hub, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from ddim_studio.core import catalogue

    monkeypatch.setattr(catalogue, "LATENT_MODELS", False)  # how a build without latent support shows
    view = library_controller.ModelLibraryView(window)
    qtbot.addWidget(view)
    ctrl = library_controller.ModelLibraryController(
        view,
        window.services.model,
        window.services.settings,
        measure=lambda d, b, p: backend_rate(d, b, p, TINY_ARCH, calls=1),
    )
    assert view.table.rowCount() >= 10
    assert _status(view, CIFAR) == "not downloaded"
    assert _status(view, "CompVis/ldm-celebahq-256") == "needs latent-model support"
    view.table.selectRow(_row(view, "CompVis/ldm-celebahq-256"))
    assert not view.download_button.isEnabled() and "latent" in view.details.text()
    view.table.selectRow(_row(view, CIFAR))
    assert view.download_button.isEnabled() and not view.open_button.isEnabled()
    assert "arXiv:2006.11239" in view.details.text() and "apache-2.0" in view.details.text()
    step = lambda: view.table.item(_row(view, CIFAR), 5).text()  # noqa: E731
    qtbot.waitUntil(lambda: step().startswith("≈"), timeout=WAIT_MS)
    big = view.table.item(_row(view, "google/ddpm-celebahq-256"), 5).text()
    assert big.startswith("≈") and big != step()
    # The suite runs torch (DDIM_STUDIO_BACKEND=torch): the column says what it was timed on.
    assert view.table.horizontalHeaderItem(5).text() == "Per step here (torch)"
    ctrl.shutdown()


def test_download_progress_cancel_resume_delete_and_open(qtbot, window, hub, monkeypatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    view, ctrl = _library(qtbot, window)
    view.table.selectRow(_row(view, CIFAR))
    # The server pauses there (a whole number of the client's read chunks: all sent is on disk).
    hub.state.hold_after = 4 * model_library.CHUNK_BYTES
    qtbot.mouseClick(view.download_button, Qt.MouseButton.LeftButton)
    assert view.cancel_button.isEnabled() and not view.download_button.isEnabled()
    qtbot.waitUntil(
        lambda: (
            hub.state.holding.is_set() and view.progress.value() > 300 and "/s" in view.progress_text.text()
        ),
        timeout=WAIT_MS,
    )
    assert " of 2.6 MB" in view.progress_text.text() and "left" in view.progress_text.text()
    qtbot.mouseClick(view.cancel_button, Qt.MouseButton.LeftButton)
    hub.state.release.set()
    qtbot.waitUntil(lambda: "cancelled" in view.message.text(), timeout=WAIT_MS)
    assert _status(view, CIFAR) == "partly downloaded" and not view.open_button.isEnabled()
    folder = hub_cache.repo_folder(CIFAR)
    kept = sum(p.stat().st_size for p in hub_cache.partial_files(folder))
    assert kept > 0 and not list((folder / "snapshots").rglob("*.safetensors"))

    hub.state.hold_after = None
    qtbot.mouseClick(view.download_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "is on disk" in view.message.text(), timeout=WAIT_MS)
    assert hub.fetched(CIFAR, "diffusion_pytorch_model.safetensors")[-1].range == f"bytes={kept}-"
    assert _status(view, CIFAR) == "on disk" and view.open_button.isEnabled()
    assert view.table.item(_row(view, CIFAR), 4).text().endswith("MB")

    questions: list[str] = []
    monkeypatch.setattr(dialogs, "confirm", lambda _p, _t, text, **_k: questions.append(text) or True)
    qtbot.mouseClick(view.delete_button, Qt.MouseButton.LeftButton)
    assert "This frees 2.6 MB" in questions[0]
    assert "freed" in view.message.text() and not folder.exists()
    assert view.progress.value() == 0 and view.progress_text.text() == ""  # no "done" left behind
    assert _status(view, CIFAR) == "not downloaded"

    assert not view.thumbnail_button.isEnabled() and "download it" in view.thumbnail.text()
    qtbot.mouseClick(view.download_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: view.open_button.isEnabled(), timeout=WAIT_MS)
    # A thumbnail is sampled from the downloaded model itself, on request, and kept.
    assert view.thumbnail.pixmap().isNull() and view.thumbnail_button.isEnabled()
    qtbot.mouseClick(view.thumbnail_button, Qt.MouseButton.LeftButton)
    assert not view.thumbnail_button.isEnabled() and "making" in view.thumbnail.text()
    qtbot.waitUntil(lambda: "made in" in view.message.text(), timeout=WAIT_MS)
    assert not view.thumbnail.pixmap().isNull() and not view.thumbnail_button.isEnabled()
    assert list((tmp_path / "studio-cache" / "thumbnails").glob("*.png"))
    qtbot.mouseClick(view.open_button, Qt.MouseButton.LeftButton)
    assert not view.isVisible()
    loaded = lambda: window.services.model.info is not None and window.services.model.info.name == CIFAR  # noqa: E731
    qtbot.waitUntil(loaded, timeout=WAIT_MS)
    assert window.services.model.size() == (16, 16)
    wait_idle(qtbot, window)


def test_a_typed_id_is_checked_and_refused_before_its_weights(qtbot, window, hub) -> None:  # type: ignore[no-untyped-def]
    view, _ctrl = _library(qtbot, window)
    view.table.selectRow(0)
    view.hub_id.setText("tests/score-sde")
    qtbot.keyClick(view.hub_id, Qt.Key.Key_Return)  # Return checks the id (it does not press Open)
    assert view.isVisible()
    qtbot.waitUntil(lambda: "not downloaded" in view.message.text(), timeout=WAIT_MS)
    assert "score-based" in view.message.text() and not DEVELOPER_WORDS.search(view.message.text())
    assert not any(r.path.endswith(".safetensors") for r in hub.requests)
    view.hub_id.setText("tests/tiny-pipeline")
    qtbot.mouseClick(view.check_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "can be opened here" in view.message.text(), timeout=WAIT_MS)
    assert view.table.item(view.current_row(), 0).text() == "tests/tiny-pipeline"
    assert view.download_button.isEnabled()
    view.reject()


def test_the_hub_dialog_refuses_in_words_before_the_weights(qtbot, window, hub, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(dialogs, "text_input", lambda *a, **k: "tests/score-sde")
    window.open_hub_model()
    qtbot.waitUntil(lambda: "score-based" in window.banner.message(), timeout=WAIT_MS)
    assert not DEVELOPER_WORDS.search(window.banner.message())
    assert not any(r.path.endswith(".safetensors") for r in hub.requests)
    wait_idle(qtbot, window)
