"""Hostile parameters in a studio PNG: *Reuse params*, *Reuse seed* and a drop on Encode (issue 17, row 7).

A PNG (with its latent beside it) whose ``steps`` is ``"abc"``, ``10**12``, ``1e308`` or ``[3]``,
whose ``eta`` is ``[1]`` or whose ``seed`` is ``"abc"`` or ``2**70`` used to raise inside the Qt
handlers (pytest-qt fails a test on any exception raised in a slot). Now every reader validates
the fields (``core.saved_params``); the bad ones are named in the banner and ignored.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from ddim_studio.core.store import OutputStore
from tests.ui.conftest import wait_idle
from tests.ui.test_encode import drop_files


def hostile_picture(window, **fields: Any):  # type: ignore[no-untyped-def]
    """A studio PNG + latent in the gallery's folder with ``fields`` over good parameters."""
    params = {"kind": "sample", "seed": 5, "steps": 4, "eta": 0.0, "spacing": "uniform", **fields}
    image = Image.fromarray(np.full((32, 32, 3), 90, np.uint8))
    item = OutputStore(window.services.library.root).save_image(
        image, params, stem="hostile", latent=torch.zeros(3, 32, 32)
    )
    window.services.library.refresh()
    window.set_mode(2)
    row = window.gallery_model.row_of(item.png)
    assert row >= 0
    window.gallery_view.select_row(row)
    return item


BAD_FOR_REUSE = [
    pytest.param({"seed": "abc"}, ["seed"], id="seed-abc"),
    pytest.param({"seed": 2**70}, ["seed"], id="seed-2**70"),
    pytest.param({"seed": 2**40}, ["seed"], id="seed-beyond-the-32-bit-field"),
    pytest.param({"steps": 10**12}, ["steps"], id="steps-10**12"),
    pytest.param({"steps": [3]}, ["steps"], id="steps-list"),
    pytest.param({"steps": "abc", "eta": [1]}, ["steps", "eta"], id="steps-and-eta"),
]


@pytest.mark.parametrize(("fields", "bad"), BAD_FOR_REUSE)
def test_reuse_params_names_the_bad_fields_and_keeps_the_rest(window, fields, bad) -> None:  # type: ignore[no-untyped-def]
    view = window.generate_view
    view.seed.setValue(123)
    view.steps.spin.setValue(7)
    hostile_picture(window, **fields)
    window.gallery_view.reuse_params_button.click()
    assert window.mode() == 0
    message = window.banner.message()
    assert window.banner.isVisible() and "hostile.png" in message
    assert all(name in message for name in bad), message
    p = view.params()
    assert p.seed == (123 if "seed" in bad else 5)
    assert p.steps == (7 if "steps" in bad else 4)


@pytest.mark.parametrize("seed", ["abc", 2**70, 2**40, -3])
def test_reuse_seed_with_a_bad_seed_names_it_and_changes_nothing(window, seed) -> None:  # type: ignore[no-untyped-def]
    window.generate_view.seed.setValue(321)
    hostile_picture(window, seed=seed)
    window.gallery_view.reuse_seed_button.click()
    assert "seed" in window.banner.message() and "hostile.png" in window.banner.message()
    assert window.generate_view.seed.value() == 321


@pytest.mark.parametrize(
    ("fields", "bad"),
    [
        pytest.param({"steps": "abc"}, "steps", id="steps-abc"),
        pytest.param({"steps": 10**12}, "steps", id="steps-10**12"),
        pytest.param({"steps": 1e308}, "steps", id="steps-1e308"),
        pytest.param({"eta": [1]}, "eta", id="eta-list"),
    ],
)
def test_dropping_a_png_with_hostile_params_on_encode_names_them(qtbot, window, fields, bad) -> None:  # type: ignore[no-untyped-def]
    item = hostile_picture(window, **fields)
    window.set_mode(1)
    assert drop_files(window.encode_view, item.png)
    wait_idle(qtbot, window)
    messages = window.services.notifier.last("warning")
    assert bad in messages and "hostile.png" in messages
    assert window.encode.x_T is not None  # its latent was still restored
    assert torch.equal(window.encode.x_T, torch.zeros(3, 32, 32))
