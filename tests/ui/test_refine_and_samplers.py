"""The window's refined inversion (Encode's Refine and latent health) and DPM-Solver++ choices."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from PySide6.QtCore import Qt

from ddim_studio.core.latents import save_latent
from ddim_studio.core.schedule import make_timesteps
from ddim_studio.ui.encode.encode_view import HEALTH_WORDS
from ddim_studio.workers.jobs import EncodeJob
from tests.ui.conftest import wait_idle, wait_loaded

ETA_NOTE = "DPM-Solver++ is deterministic: η applies to DDIM only"


def choose(combo: Any, value: str) -> None:
    """Pick ``value`` in a combo box as a person does (the change and the ``activated`` signal)."""
    index = combo.findData(value)
    index = index if index >= 0 else combo.findText(value)
    assert index >= 0, value
    combo.setCurrentIndex(index)
    combo.activated.emit(index)


def spy_jobs(controller: Any, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Record every job ``controller`` submits (the job still runs)."""
    jobs: list[Any] = []
    real = controller.tracker.run

    def run(job: Any, **kwargs: Any) -> Any:
        jobs.append(job)
        return real(job, **kwargs)

    monkeypatch.setattr(controller.tracker, "run", run)
    return jobs


def test_refine_sets_the_job_and_its_cost_and_the_health_shows(qtbot, window, picture, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    window.set_mode(1)
    view, ctrl = window.encode_view, window.encode
    view.steps.spin.setValue(6)
    assert view.refine.value() == 0 and view.refine_cost.text() == "inversion: 6 calls"
    view.refine.setValue(3)
    assert view.refine_cost.text() == "inversion: up to 30 calls"  # 6 steps × (2 + 3)
    assert view.refine.maximum() == 10
    assert ctrl.load_path(picture)
    wait_loaded(qtbot, window)
    jobs = spy_jobs(ctrl, monkeypatch)
    qtbot.mouseClick(view.encode_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window)
    job = jobs[0]
    assert isinstance(job, EncodeJob) and job.refine == 3 and job.steps == 6
    assert ctrl.params["refine"] == 3
    assert view.progress.label.text().endswith("model calls")
    # the health readout of the x_T just found
    assert ctrl.x_T is not None
    assert view.health_values["std"].text() == f"{float(ctrl.x_T.std()):.2f}"
    assert view.health_values["mean"].text() != "—" and view.health_values["autocorr"].text() != "—"
    assert view.health_verdict.text() in HEALTH_WORDS.values()


def test_a_latent_file_far_from_noise_gets_a_warning(qtbot, window, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    window.set_mode(1)
    view = window.encode_view
    half = 0.5 * torch.randn(3, 32, 32, generator=torch.Generator().manual_seed(0))
    path = save_latent(tmp_path / "half.safetensors", half, {"steps": 3, "spacing": "uniform"})
    assert window.encode.load_path(path)
    wait_loaded(qtbot, window)
    wait_idle(qtbot, window)
    assert view.health_values["std"].text() == "0.50"
    assert view.health_verdict.text() == HEALTH_WORDS["far"]
    assert view.health_warning.isVisible()
    text = view.health_warning.text()
    assert "Interpolating" in text and "variations" in text
    # a true noise latent reads as noise, without the warning
    noise = torch.randn(3, 32, 32, generator=torch.Generator().manual_seed(1))
    assert window.encode.load_path(save_latent(tmp_path / "noise.safetensors", noise, {"steps": 3}))
    wait_loaded(qtbot, window)
    wait_idle(qtbot, window)
    assert view.health_verdict.text() == HEALTH_WORDS["gaussian"] and not view.health_warning.isVisible()


def test_dpmpp_disables_eta_says_why_and_moves_a_default_spacing(window) -> None:  # type: ignore[no-untyped-def]
    view = window.generate_view
    view.eta.set_value(0.5)
    assert view.spacing.currentText() == "uniform" and view.eta.isEnabled()
    choose(view.sampler, "dpmpp-2m")
    assert not view.eta.isEnabled() and ETA_NOTE in view.eta_note.text() and not view.eta_note.isHidden()
    assert ETA_NOTE in view.eta.toolTip()
    assert view.params().eta == 0.0 and view.params().sampler == "dpmpp-2m"
    assert view.spacing.currentText() == "trailing"
    assert not view.spacing_note.isHidden() and "trailing" in view.spacing_note.text()
    choose(view.spacing, "uniform")  # the person changes it back
    assert view.spacing_note.isHidden()
    choose(view.sampler, "ddim")
    assert view.eta.isEnabled() and view.params().eta == 0.5 and view.eta_note.isHidden()
    choose(view.sampler, "dpmpp-2m")
    assert view.spacing.currentText() == "uniform"  # a spacing the person chose is kept


def test_ddim_gets_the_default_spacing_back_while_untouched(window) -> None:  # type: ignore[no-untyped-def]
    view = window.generate_view
    choose(view.sampler, "dpmpp-2m")
    assert view.spacing.currentText() == "trailing"
    choose(view.sampler, "ddim")
    assert view.spacing.currentText() == "uniform" and view.spacing_note.isHidden()


def test_a_sampler_set_by_the_program_keeps_the_spacing(window) -> None:  # type: ignore[no-untyped-def]
    view = window.generate_view
    view.sampler.set_name("dpmpp-2m")  # e.g. the saved controls restored at start
    assert view.spacing.currentText() == "uniform" and view.spacing_note.isHidden()
    assert not view.eta.isEnabled()  # η still follows the sampler


def test_reuse_params_restores_the_sampler_and_its_spacing(window) -> None:  # type: ignore[no-untyped-def]
    params = {
        "kind": "sample",
        "sampler": "dpmpp-2m",
        "spacing": "uniform",
        "steps": 7,
        "eta": 0.0,
        "seed": 3,
    }
    window.gallery.reuseParams.emit(params)
    view = window.generate_view
    p = view.params()
    assert (p.sampler, p.spacing, p.steps, p.seed) == ("dpmpp-2m", "uniform", 7, 3)
    assert not view.eta.isEnabled() and ETA_NOTE in view.eta_note.text()
    window.generate.apply_params({"kind": "sample", "sampler": "ddim", "eta": 0.3, "spacing": "quadratic"})
    assert view.eta.isEnabled() and view.params().eta == 0.3 and view.params().spacing == "quadratic"


def test_a_dpmpp_picture_is_generated_and_saved_with_its_sampler(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    view = window.generate_view
    view.steps.spin.setValue(4)
    view.batch.setValue(1)
    choose(view.sampler, "dpmpp-2m")
    window.generate.generate()
    wait_idle(qtbot, window)
    assert window.generate.result is not None
    assert window.generate.result.timesteps == make_timesteps(4, 1000, "trailing")
    assert "DPM-Solver++" in view.summary.text()


def test_samplers_paper_view_shows_both_samplers_at_four_step_counts(qtbot, window, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    view = window.generate_view
    jobs = spy_jobs(window.generate.paper, monkeypatch)
    qtbot.mouseClick(view.samplers_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, window, timeout=120_000)
    captions = view.paper_strip.captions()
    assert captions == [f"{name} {s}" for name in ("DDIM", "DPM++") for s in (5, 10, 20, 50)]
    assert "DPM-Solver++" in view.paper_title.text() and "spacing" in view.paper_title.toolTip()
    assert all(view.paper_strip.image(i) is not None for i in range(8))
    assert [(j.sampler, j.steps, j.spacing, j.eta) for j in jobs] == [
        (name, s, spacing, 0.0)
        for name, spacing in (("ddim", "uniform"), ("dpmpp-2m", "trailing"))
        for s in (5, 10, 20, 50)
    ]
    assert len({j.seeds for j in jobs}) == 1  # the same x_T everywhere
    assert "Paper view done" in view.progress.label.text()


def test_interpolate_offers_the_sampler_and_uses_it(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    window.set_mode(2)
    view, ctrl = window.interpolate_view, window.interpolate
    names = [view.sampler.itemData(i) for i in range(view.sampler.count())]
    assert "ddim" in names and "dpmpp-2m" in names
    choose(view.sampler, "dpmpp-2m")
    assert view.spacing.currentText() == "trailing" and not view.spacing_note.isHidden()
    assert ctrl.fill_from_seed("A", 1) and ctrl.fill_from_seed("B", 2)
    view.frames.setValue(3)
    view.steps.spin.setValue(3)
    ctrl.run()
    wait_idle(qtbot, window)
    assert ctrl.run_params["sampler"] == "dpmpp-2m" and ctrl.run_params["spacing"] == "trailing"
    assert len(ctrl.frames) == 3


def test_encode_decodes_with_the_chosen_sampler_and_restores_a_pictures_own(
    qtbot, window, picture, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    window.set_mode(1)
    view, ctrl = window.encode_view, window.encode
    view.steps.spin.setValue(3)
    choose(view.sampler, "dpmpp-2m")
    assert view.spacing.currentText() == "trailing"
    jobs = spy_jobs(ctrl, monkeypatch)
    assert ctrl.load_path(picture)
    wait_loaded(qtbot, window)
    ctrl.encode()
    wait_idle(qtbot, window)
    assert jobs[-1].sampler == "dpmpp-2m" and ctrl.params["sampler"] == "dpmpp-2m"
    item = ctrl.add_to_gallery()
    assert item is not None
    choose(view.sampler, "ddim")
    assert ctrl.load_path(item.png)  # a studio picture: restored with its own sampler and spacing
    wait_loaded(qtbot, window)
    wait_idle(qtbot, window)
    assert jobs[-1].sampler == "dpmpp-2m" and jobs[-1].spacing == "trailing"
    assert view.sampler.name() == "dpmpp-2m"
