"""What the app writes comes back exactly: latents bit for bit, parameters in any script, any name.

The unit tests of ``core/latents.py`` and ``core/imaging.py`` check the file formats on their own;
these go through the writers the app uses: ``OutputStore.save_image`` (the CLI and the store) and
the gallery's ``Library.save`` (every mode of the window), then read back as the gallery does.
"""

from __future__ import annotations

import shutil
import struct
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from ddim_studio.core.imaging import load_image, read_params
from ddim_studio.core.latents import load_latent
from ddim_studio.core.saved_params import validate_params
from ddim_studio.core.store import OutputStore, StoreError

PARAMS = {
    "prompt": "η = 0.5, 日本語, ✓, Ünïcødé, עברית, emoji 🦊, tab\tand newline\n",
    "model": "モデル/ünet",
    "eta": 0.5,
    "steps": 20,
    "seed": 7,
    "timesteps": [999, 500, 1],
    "nested": {"ключ": ["значение", None, True]},
}

#: float32 bit patterns that a value comparison would not tell apart or would call unequal. NaN and
#: ±inf are not among them any more: a latent holding them is refused when saved and when loaded
#: (issue 17: one NaN made every pixel grey); see test_latents_params_hostile.py.
SPECIAL_BITS = [
    0x80000000,  # -0.0
    0x00000001,  # the smallest subnormal
    0x807FFFFF,  # the largest negative subnormal
    0x007FFFFF,  # the largest subnormal
    0x4479FFFF,  # 999.99994, just inside the ±1000 a latent may hold
    0xC479FFFF,  # -999.99994
]


def latent_with_specials(shape: tuple[int, ...], seed: int = 0) -> torch.Tensor:
    x = torch.randn(shape, generator=torch.Generator().manual_seed(seed))
    bits = torch.tensor(
        [struct.unpack("<i", struct.pack("<I", b))[0] for b in SPECIAL_BITS], dtype=torch.int32
    )
    x.view(-1)[: len(bits)] = bits.view(torch.float32)
    return x


def same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    return (
        a.dtype == b.dtype == torch.float32
        and a.shape == b.shape
        and torch.equal(a.contiguous().view(torch.int32), b.contiguous().view(torch.int32))
    )


def picture(seed: int = 0) -> Image.Image:
    return Image.effect_noise((16, 16), 30 + seed).convert("RGB")


@pytest.mark.parametrize("shape", [(3, 32, 32), (2, 4, 8, 8), (1, 4, 4)])
def test_latent_round_trips_bit_exact_through_the_output_store(
    tmp_path: Path, shape: tuple[int, ...]
) -> None:
    x = latent_with_specials(shape)
    store = OutputStore(tmp_path)
    item = store.save_image(picture(), PARAMS, stem="x", latent=x)
    assert item.latent is not None
    loaded, params = load_latent(item.latent)
    assert same_bits(loaded, x) and params == PARAMS
    (listed,) = OutputStore(tmp_path).list_items()  # a fresh store: what a restarted app sees
    assert listed.png == item.png and listed.latent == item.latent and listed.params == PARAMS
    assert same_bits(load_latent(listed.latent)[0], x)
    assert read_params(listed.png) == PARAMS


def test_a_non_contiguous_half_precision_latent_is_stored_as_its_float32_value(tmp_path: Path) -> None:
    x = torch.randn(8, 3, 8, generator=torch.Generator().manual_seed(1)).half().permute(1, 0, 2)
    item = OutputStore(tmp_path).save_image(picture(), {}, stem="h", latent=x)
    assert item.latent is not None
    assert same_bits(load_latent(item.latent)[0], x.float())


def test_latent_and_params_round_trip_through_the_gallery_library(qapp, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """``Library.save`` is how Generate, Encode and Interpolate save; a new Library is a restart."""
    from ddim_studio.ui.gallery.library import Library
    from ddim_studio.ui.notify import Notifier

    x = latent_with_specials((3, 16, 16), seed=2)
    library = Library(tmp_path, Notifier())
    image = picture()
    item = library.save(image, PARAMS, stem="sample 日本", latent=x)
    assert item is not None and item.latent is not None and item.png.name == "sample 日本.png"
    restarted = Library(tmp_path, Notifier())
    (listed,) = restarted.refresh()
    assert listed.png == item.png
    assert {k: listed.params[k] for k in PARAMS} == PARAMS  # plus the app's version and time stamp
    assert listed.params["app"] == "ddim-studio" and "created" in listed.params
    loaded, latent_params = load_latent(listed.latent)
    assert same_bits(loaded, x) and latent_params == listed.params
    assert load_image(listed.png).image.tobytes() == image.tobytes()  # pixels exact too


json_leaf = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=40)
)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
)
ROUND_TRIP = settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@ROUND_TRIP
@given(st.dictionaries(st.text(max_size=20), json_value, max_size=6))
def test_any_params_round_trip_through_png_and_latent(tmp_path: Path, params: dict[str, Any]) -> None:
    folder = tmp_path / "params"
    shutil.rmtree(folder, ignore_errors=True)
    item = OutputStore(folder).save_image(picture(), params, stem="p", latent=torch.zeros(3, 2, 2))
    checked = validate_params(params)[0]  # every reader validates the fields it knows
    assert read_params(item.png) == checked
    assert item.latent is not None and load_latent(item.latent)[1] == checked
    (listed,) = OutputStore(folder).list_items()
    assert listed.params == checked


@ROUND_TRIP
@given(st.text(min_size=1, max_size=80))
def test_any_name_is_refused_or_saved_inside_the_folder_and_listed(tmp_path: Path, stem: str) -> None:
    folder = tmp_path / "names"
    shutil.rmtree(folder, ignore_errors=True)
    store = OutputStore(folder)
    try:
        item = store.save_image(picture(), {"stem": stem}, stem=stem, latent=torch.ones(3, 2, 2))
    except StoreError as exc:
        assert exc.kind == "bad_name" and str(exc)
        assert not folder.exists() or not any(folder.iterdir())
        return
    assert item.png.parent == folder and item.latent is not None and item.latent.parent == folder
    assert item.png.stem == item.latent.stem and len(item.png.name.encode("utf-8")) <= 255
    assert sorted(p.name for p in folder.iterdir()) == sorted([item.png.name, item.latent.name])
    (listed,) = store.list_items()  # never hidden (a leading dot) nor skipped
    assert listed.png == item.png and listed.params == {"stem": stem}
