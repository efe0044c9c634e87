"""Round three (issue 27) in the window: a settings file that broke every start (2), companion files
followed out of the gallery by Reuse params (7) and the window's harmonize bound (4).

The start-up cases run the window as ``ddim-studio`` does, offscreen, in a child process whose
``$HOME`` holds the bad settings file (``start_window.py``); the child prints what the controls show.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image
from PySide6.QtCore import QSettings

from ddim_studio.core.latents import save_latent
from ddim_studio.core.limits import MAX_HARMONIZE
from ddim_studio.core.noise import initial_noise
from ddim_studio.core.store import LATENT_SUFFIX, MASK_SUFFIX, SOURCE_SUFFIX, beside
from ddim_studio.operations.edit import edit_files, save_edit
from ddim_studio.operations.interpolation import saved_latent
from ddim_studio.ui.settings import RANGES, AppSettings
from tests.reliability.test_cli_round_two import ROOT, _model_dir

CORES = max(1, os.cpu_count() or 1)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _model_dir(tmp_path_factory.mktemp("tiny-model"))


# ---- 2. a settings file with numbers out of range: every value clamped, the window starts


def _ini(tmp_path: Path, text: str) -> AppSettings:
    path = tmp_path / "ddim-studio.ini"
    path.write_text(text, encoding="utf-8")
    return AppSettings(QSettings(str(path), QSettings.Format.IniFormat))


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        ("[defaults]\nframes=99999999999\n", "defaults/frames", 64),
        ("[defaults]\nsteps=99999999999\n", "defaults/steps", 1000),
        ("[defaults]\nencode_steps=99999999999\n", "defaults/encode_steps", 1000),
        ("[defaults]\nbatch=99999999999\n", "defaults/batch", 64),
        ("[defaults]\nbatch=-99999999999\n", "defaults/batch", 1),
        ("[defaults]\neta=inf\n", "defaults/eta", 1.0),
        ("[defaults]\neta=nan\n", "defaults/eta", 0.0),
        ("[General]\npreview_fps=inf\n", "preview_fps", 60),
        ("[General]\npreview_fps=1e400\n", "preview_fps", 60),
        ("[General]\npreview_fps=nan\n", "preview_fps", 20),
        ("[compute]\nthreads=inf\n", "compute/threads", CORES),
        ("[compute]\nthreads=1000000\n", "compute/threads", CORES),
        ("[compute]\nthreads=-5\n", "compute/threads", 0),
        ("[defaults]\nspacing=sideways\n", "defaults/spacing", "uniform"),
        ("[model]\ndevice=quantum\n", "model/device", "auto"),
    ],
    ids=lambda v: str(v).replace("\n", " ").strip() if isinstance(v, str) else None,
)
def test_every_setting_read_is_clamped_to_its_control(
    tmp_path: Path, text: str, key: str, expected: object
) -> None:
    value = _ini(tmp_path, text).get(key)
    assert value == expected and type(value) is type(expected)
    if key in RANGES:
        low, high = RANGES[key]
        assert low <= value <= high  # type: ignore[operator]


def _start_window(home: Path, model_dir: Path, ini: str) -> subprocess.CompletedProcess[str]:
    folder = home / ".config" / "DDIM Studio"
    folder.mkdir(parents=True)
    (folder / "ddim-studio.ini").write_text(ini, encoding="utf-8")
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("XDG_") and key not in ("DDIM_STUDIO_OUTPUT_DIR",)
    }
    env.update(
        HOME=str(home),
        QT_QPA_PLATFORM="offscreen",
        DDIM_STUDIO_MODEL=str(model_dir),
        DDIM_STUDIO_OUTPUT_DIR=str(home / "outputs"),
        OMP_NUM_THREADS="1",
        HF_HUB_OFFLINE="1",
        PYTHONPATH=str(ROOT),
    )
    script = Path(__file__).with_name("start_window.py")
    return subprocess.run(
        [sys.executable, str(script)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=240
    )


HUGE = "[defaults]\nframes=99999999999\nsteps=99999999999\nencode_steps=99999999999\nbatch=99999999999\n"


@pytest.mark.parametrize(
    ("ini", "expected"),
    [
        pytest.param(
            HUGE,
            {"interpolate_frames": 64, "generate_steps": 1000, "encode_steps": 1000, "generate_batch": 64},
            id="defaults-99999999999",
        ),
        pytest.param(
            "[General]\npreview_fps=inf\n[compute]\nthreads=inf\n",
            {"preview_fps": 60.0, "threads": CORES},
            id="preview_fps-inf-threads-inf",
        ),
        pytest.param(
            "[General]\npreview_fps=1e400\n[compute]\nthreads=1000000\n",
            {"preview_fps": 60.0, "threads": CORES},
            id="preview_fps-1e400-threads-1000000",
        ),
        pytest.param(
            "[General]\npreview_fps=nan\n[defaults]\nframes=nan\nsteps=-7\n"
            "[controls]\ngenerate\\batch=99999999999\ninterpolate\\frames=1e400\n",
            {"preview_fps": 20.0, "interpolate_frames": 64, "generate_batch": 64},
            id="nan-negative-and-remembered-controls",
        ),
    ],
)
def test_the_window_starts_with_a_bad_settings_file_showing_clamped_values(
    tmp_path: Path, model_dir: Path, ini: str, expected: dict[str, object]
) -> None:
    proc = _start_window(tmp_path / "home", model_dir, ini)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert "Error" not in proc.stderr, proc.stderr[-3000:]
    shown = json.loads(proc.stdout.strip().splitlines()[-1])
    assert shown["model_loaded"] and shown["visible"]
    for key, value in expected.items():
        assert shown[key] == value, (key, shown)
    dialog = shown["dialog"]
    assert 1 <= dialog["preview_fps"] <= 60 and 0 <= dialog["threads"] <= CORES
    assert 2 <= dialog["frames"] <= 64 and 1 <= dialog["steps"] <= 1000 and 1 <= dialog["batch"] <= 64


# ---- 7. Reuse params ignores companion files that are symlinks or lead out of the folder


@pytest.fixture
def gallery_edit(tmp_path: Path) -> Path:
    picture = Image.new("RGB", (8, 8), (10, 200, 30))
    item = save_edit(
        tmp_path / "gallery", picture, {"kind": "edit"}, stem="pic-edit-000001", source=picture,
        mask=Image.new("L", (8, 8), 255),
    )  # fmt: skip
    return item.png


def test_a_symlinked_source_or_mask_is_not_followed(gallery_edit: Path, tmp_path: Path) -> None:
    assert edit_files(gallery_edit) == (
        gallery_edit.with_name(gallery_edit.stem + SOURCE_SUFFIX),
        gallery_edit.with_name(gallery_edit.stem + MASK_SUFFIX),
    )
    outside = tmp_path / "elsewhere.png"
    Image.new("RGB", (8, 8), (255, 0, 0)).save(outside)
    for suffix in (SOURCE_SUFFIX, MASK_SUFFIX):
        companion = gallery_edit.with_name(gallery_edit.stem + suffix)
        companion.unlink()
        companion.symlink_to(outside)
    assert edit_files(gallery_edit) == (None, None)
    inside = gallery_edit.with_name("other.png")  # a link within the folder is still a link
    Image.new("RGB", (8, 8)).save(inside)
    source = gallery_edit.with_name(gallery_edit.stem + SOURCE_SUFFIX)
    source.unlink()
    source.symlink_to(inside)
    assert edit_files(gallery_edit)[0] is None and beside(gallery_edit, SOURCE_SUFFIX) is None


def test_a_symlinked_latent_beside_a_picture_is_not_loaded(tmp_path: Path) -> None:
    folder = tmp_path / "gallery"
    folder.mkdir()
    png = folder / "seed-000007.png"
    from ddim_studio.core.imaging import png_info

    Image.new("RGB", (8, 8)).save(png, pnginfo=png_info({"app": "ddim-studio", "kind": "sample", "seed": 7}))
    outside = save_latent(tmp_path / "planted.safetensors", torch.full((3, 8, 8), 5.0), {})
    png.with_suffix(LATENT_SUFFIX).symlink_to(outside)
    found = saved_latent(png, (3, 8, 8))
    assert found is not None  # the seed's own noise, not the planted file
    assert torch.equal(found[0], initial_noise([7], (3, 8, 8))[0][0])
    assert beside(png, LATENT_SUFFIX) is None


# ---- 4. the window's harmonize control has the one bound


def test_the_edit_views_harmonize_control_has_the_shared_bound(qtbot) -> None:  # type: ignore[no-untyped-def]
    from ddim_studio.ui.edit.edit_view import EditView

    view = EditView()
    qtbot.addWidget(view)
    assert (view.harmonize.minimum(), view.harmonize.maximum()) == (0, MAX_HARMONIZE)
