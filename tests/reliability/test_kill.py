"""The app SIGKILLed while it saves: after a restart the gallery shows everything saved before, and
not one corrupt or temporary file is listed.

Runs, all at random moments (the seed is printed, and named in every failure message):

* one fresh ``python -m ddim_studio sample --num 100000 --batch-size 1 --steps 2 --save-latents``
  process, killed by this test;
* :data:`CLI_KILLS` more of the same, forked from :mod:`kill_runs` (one import for all);
* :data:`STORE_KILLS` processes saving large pictures through ``OutputStore.save_image`` in a loop,
  where most kills land inside a save (the temp files left behind show it).

After each kill: ``OutputStore.list_items()`` lists exactly the visible PNGs, each of which opens,
verifies and decodes with Pillow; every latent beside one loads; every PNG seen before the kill is
listed; a restarted gallery (``Library`` + ``GalleryModel``) shows them all with thumbnails.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from ddim_studio.core.imaging import read_params
from ddim_studio.core.latents import load_latent
from ddim_studio.core.store import OutputStore
from tests.reliability.hostile_models import write_good_folder

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="SIGKILL and fork are POSIX")

CLI_KILLS = 4
STORE_KILLS = 5
FRESH_KILLS = 1
KILLS = CLI_KILLS + STORE_KILLS + FRESH_KILLS
DRIVER = Path(__file__).with_name("kill_runs.py")


def sample_argv(model: Path, out: Path) -> list[str]:
    return [
        "sample",
        "--model",
        str(model),
        "--num",
        "100000",
        "--batch-size",
        "1",
        "--steps",
        "2",
        "--save-latents",
        "--device",
        "cpu",
        "--out",
        str(out),
    ]


def visible_pngs(folder: Path) -> list[str]:
    return sorted(n for n in os.listdir(folder) if n.endswith(".png") and not n.startswith("."))


@pytest.fixture(scope="module")
def kills(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Run every kill; returns the seed, and per run its folder, what was seen before, how it ended."""
    root = tmp_path_factory.mktemp("kill")
    model = write_good_folder(root / "tiny-model")
    seed = int.from_bytes(os.urandom(4), "little")
    rng = random.Random(seed)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    runs = []
    for i in range(CLI_KILLS):
        out = root / f"cli-{i}"
        runs.append(
            {
                "mode": "cli",
                "out": str(out),
                "after": rng.randint(1, 30),
                "delay_ms": rng.uniform(0, 40),
                "argv": sample_argv(model, out),
            }
        )
    for i in range(STORE_KILLS):
        runs.append(
            {
                "mode": "store",
                "out": str(root / f"store-{i}"),
                "after": rng.randint(1, 8),
                "delay_ms": rng.uniform(0, 60),
            }
        )
    for run in runs:
        Path(run["out"]).mkdir()
    (root / "plan.json").write_text(json.dumps({"runs": runs}))
    driver = subprocess.Popen(
        [sys.executable, str(DRIVER), str(root / "plan.json")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=root,
    )
    fresh_out = root / "fresh"
    fresh_out.mkdir()
    fresh = subprocess.Popen(
        [sys.executable, "-m", "ddim_studio", *sample_argv(model, fresh_out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
        cwd=root,
    )
    try:
        after = rng.randint(1, 30)
        deadline = time.monotonic() + 120
        while len(visible_pngs(fresh_out)) < after and fresh.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)
        time.sleep(rng.uniform(0, 0.04))
        fresh_before = visible_pngs(fresh_out)
        fresh.send_signal(signal.SIGKILL)
        _, fresh_err = fresh.communicate(timeout=30)
        stdout, stderr = driver.communicate(timeout=300)
    finally:
        for proc in (fresh, driver):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert driver.returncode == 0, stderr[-3000:]
    results = json.loads(stdout.strip().splitlines()[-1])
    results.append(
        {
            "out": str(fresh_out),
            "before": fresh_before,
            "ended": f"signal {-fresh.returncode}" if fresh.returncode < 0 else f"exit {fresh.returncode}",
            "temps": sorted(n for n in os.listdir(fresh_out) if ".tmp-" in n),
            "stderr": fresh_err.decode(errors="replace")[-2000:],
        }
    )
    return {"seed": seed, "runs": results, "modes": [r["mode"] for r in runs] + ["fresh-cli"]}


def check_folder(folder: Path, before: list[str], why: str) -> tuple[int, int]:
    """The checks after one kill; returns (pictures listed, pictures without their latent)."""
    items = OutputStore(folder).list_items()
    listed = sorted(item.png.name for item in items)
    assert listed == visible_pngs(folder), f"{why}: a visible PNG is not listed (damaged?)"
    assert set(before) <= set(listed), f"{why}: lost {sorted(set(before) - set(listed))}"
    assert not any(n.startswith(".") or ".tmp-" in n for n in listed), why
    orphans = 0
    for item in items:
        with Image.open(item.png) as img:
            img.verify()
        with Image.open(item.png) as img:
            img.load()
            assert img.size[0] > 0 and img.mode == "RGB", why
        params = read_params(item.png)
        assert params is not None and ("seed" in params or "i" in params), why
        if item.latent is None:
            orphans += 1
        else:
            x_T, latent_params = load_latent(item.latent)
            assert x_T.shape == (3, 8, 8) or x_T.shape == (3, 32, 32), why
            assert latent_params == params, why
    return len(items), orphans


def test_every_run_was_killed_mid_run(kills: dict) -> None:
    for mode, run in zip(kills["modes"], kills["runs"], strict=True):
        why = f"seed {kills['seed']}, {mode} run {run['out']}: {run.get('stderr', '')}"
        assert run["ended"] == "signal 9", why
        assert len(run["before"]) >= 1, why


@pytest.mark.parametrize("index", range(KILLS))
def test_after_a_kill_only_complete_pictures_are_listed(kills: dict, index: int) -> None:
    run = kills["runs"][index]
    why = f"seed {kills['seed']}, {kills['modes'][index]} run {run['out']}"
    check_folder(Path(run["out"]), run["before"], why)


def test_a_restarted_gallery_shows_everything_saved_before(kills: dict, qapp) -> None:  # type: ignore[no-untyped-def]
    from ddim_studio.ui.gallery.gallery_model import GalleryModel, thumbnail
    from ddim_studio.ui.gallery.library import Library
    from ddim_studio.ui.notify import Notifier

    saved = mid_save = orphans = 0
    for run in kills["runs"]:
        folder = Path(run["out"])
        notifier = Notifier()
        library = Library(folder, notifier)
        model = GalleryModel()
        library.reset.connect(model.set_items)
        library.refresh()
        shown = {model.item(row).png.name for row in range(model.rowCount())}
        assert set(run["before"]) <= shown and shown == set(visible_pngs(folder)), (kills["seed"], run)
        assert not notifier.history, notifier.history
        for row in range(model.rowCount()):
            assert not thumbnail(model.item(row).png).isNull()
        saved += len(shown)
        mid_save += bool(run["temps"])
        orphans += sum(1 for row in range(model.rowCount()) if model.item(row).latent is None)
    print(
        f"\nkill test (seed {kills['seed']}): {len(kills['runs'])} SIGKILLs, {saved} pictures on disk "
        f"after them, all listed; {mid_save} kills left a temp file (landed inside a save), "
        f"{orphans} pictures without their latent"
    )
