"""After another model is opened: Interpolate's slots fit it; messages speak the window's language."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from ddim_studio.ui import dialogs
from ddim_studio.ui.window_actions import HUB_ID_CHARS
from ddim_studio.workers.faults import window_words
from tests.ui.conftest import SCHEDULER, WAIT_MS, wait_idle, wait_loaded

DEVELOPER_WORDS = re.compile(
    r"(?<![\w-])--[a-z]|\b[a-z_]+\.[a-z_]+\(\)|\b(?!Error\b)[A-Z]\w*Error\b|__name__"
)


def _small_model(folder: Path) -> Path:
    """A random 16×16 diffusers folder (a different image size from the test model)."""
    from diffusers import UNet2DModel

    torch.manual_seed(1)
    unet = UNet2DModel(
        sample_size=16,
        block_out_channels=(8, 16),
        layers_per_block=1,
        down_block_types=("DownBlock2D",) * 2,
        up_block_types=("UpBlock2D",) * 2,
        norm_num_groups=4,
    )
    folder.mkdir()
    unet.save_pretrained(str(folder))
    (folder / "scheduler_config.json").write_text(json.dumps(SCHEDULER))
    return folder


def test_slots_are_filled_again_for_a_new_model(qtbot, window, picture, tmp_path) -> None:  # type: ignore[no-untyped-def]
    ctrl, view = window.interpolate, window.interpolate_view
    assert ctrl.fill_from_seed("A", 4) and ctrl.fill_from_path("B", picture)
    wait_loaded(qtbot, window)
    window.services.model.load(str(_small_model(tmp_path / "small16")))
    qtbot.waitUntil(lambda: window.services.model.info.sample_shape == (3, 16, 16), timeout=WAIT_MS)
    wait_loaded(qtbot, window)  # slot B's picture is read again off the GUI thread
    a, b = ctrl.slots["A"], ctrl.slots["B"]
    assert tuple(a.latent.shape) == (3, 16, 16) and tuple(b.image.shape) == (3, 16, 16)
    view.frames.setValue(3)
    view.steps.spin.setValue(2)
    ctrl.run()
    wait_idle(qtbot, window)
    assert len(ctrl.frames) == 3 and ctrl.frames[0].shape == (16, 16, 3)
    assert all(not DEVELOPER_WORDS.search(text) for _level, text in window.services.notifier.history)


def test_a_latent_for_another_model_is_cleared_in_plain_words(qtbot, window, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from ddim_studio.ui.slots import SlotContent

    latent = torch.zeros(3, 32, 32)
    window.interpolate.set_slot(
        "A", SlotContent("latent", "encoded image", np.zeros((32, 32, 3), np.uint8), latent=latent)
    )
    window.services.model.load(str(_small_model(tmp_path / "small16")))
    qtbot.waitUntil(lambda: window.services.model.info.sample_shape == (3, 16, 16), timeout=WAIT_MS)
    assert window.interpolate.slots["A"] is None
    assert "another model" in window.interpolate_view.slot_a.state.text()
    assert "made for another model" in window.services.notifier.last()


def test_window_words_drop_flags_functions_and_exception_classes() -> None:
    hub = (
        "Could not reach the Hugging Face hub for 'a/b'; download the folder elsewhere and open it with "
        "--model PATH. (LocalEntryNotFoundError: Got: ConnectError: [Errno -2] Name or service not known)"
    )
    shape = "x_T must have shape (N, 3, 64, 64); resize images to 64×64 (imaging.fit_to_model does it)."
    for text in (hub, shape, "Something went wrong: KeyError: 3"):
        assert not DEVELOPER_WORDS.search(window_words(text)), window_words(text)
    assert "File ▸ Open Model Folder" in window_words(hub) and "Name or service not known" in window_words(
        hub
    )
    assert window_words("Error reading the file") == "Error reading the file"


def test_no_window_text_in_the_ui_names_code() -> None:
    root = Path(__file__).parents[2] / "ddim_studio" / "ui"
    for path in root.rglob("*.py"):
        tree = ast.parse(path.read_text())
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and node.body
            and isinstance(node.body[0], ast.Expr)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                assert not DEVELOPER_WORDS.search(node.value), f"{path.name}:{node.lineno}: {node.value!r}"


def test_a_hub_id_that_fails_offline_is_not_remembered(qtbot, window, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(dialogs, "text_input", lambda *a, **k: "nobody-here/no-such-model")
    window.open_hub_model()
    qtbot.waitUntil(lambda: "could not be loaded" in window.banner.message(), timeout=WAIT_MS)
    message = window.banner.message()
    assert not DEVELOPER_WORDS.search(message), message
    assert "nobody-here/no-such-model" not in window.services.settings.recent_models()
    wait_idle(qtbot, window)


@pytest.mark.usefixtures("qapp")
def test_the_hub_dialog_fits_a_hub_id() -> None:
    dialog = dialogs.text_dialog(None, "Open", "Model id:", chars=HUB_ID_CHARS)
    hub_id = "CompVis/ldm-celebahq-256-long-owner-name-x"
    assert dialog.minimumWidth() >= dialog.fontMetrics().horizontalAdvance(hub_id)


def test_generate_saves_its_pictures_under_the_model_that_made_them(qtbot, window, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Pictures of an auto-run, saved after another model opened, named the new model (seen in a window)."""
    from tests.ui.test_generate import set_controls

    wait_loaded(qtbot, window)
    first = window.services.model.info.name
    set_controls(window, steps=2, batch=1)
    window.generate.generate(auto=True)  # an auto-run is not saved until Save is pressed
    wait_idle(qtbot, window)
    window.generate.paper.eta_sweep()
    wait_idle(qtbot, window)
    assert window.generate.result is not None and not window.generate.saved
    window.services.model.load(str(_small_model(tmp_path / "small16")))
    qtbot.waitUntil(lambda: window.services.model.info.sample_shape == (3, 16, 16), timeout=WAIT_MS)
    wait_loaded(qtbot, window)
    assert window.generate_view.summary.text().startswith(f"made with {first} · ")
    assert window.generate_view.paper_title.text().startswith(f"made with {first} · seed ")  # the strip too
    assert window.generate.save_results() == 1
    newest = window.services.library.items[0]
    assert newest.params["model"] == first, newest.params
