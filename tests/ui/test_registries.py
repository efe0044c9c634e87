"""Registries and model facts the window reads: samplers in the Generate panel, steps_offset, ᾱ convention."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from ddim_studio.core.samplers import SamplerSpec, register_sampler, unregister_sampler
from ddim_studio.core.sampling import StepResult, iter_sample
from ddim_studio.core.schedule import make_timesteps
from ddim_studio.ui.window_actions import model_info_rows
from tests.ui.conftest import SCHEDULER, WAIT_MS, make_tiny_model, wait_idle

CALLS: list[int] = []


def _throwaway(model, x_T, **kwargs) -> Iterator[StepResult]:  # type: ignore[no-untyped-def]
    CALLS.append(int(x_T.shape[0]))
    yield from iter_sample(model, x_T, **kwargs)


def test_a_registered_sampler_is_offered_and_used_by_generate(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    register_sampler(SamplerSpec("throwaway", "Throwaway", _throwaway, True, "A test sampler."))
    CALLS.clear()
    try:
        window.generate.on_model_ready()  # the list is read from the registry when a model is ready
        combo = window.generate_view.sampler
        names = [combo.itemData(i) for i in range(combo.count())]
        assert names[0] == "ddim" and "throwaway" in names
        assert combo.itemText(names.index("throwaway")) == "Throwaway"
        combo.setCurrentIndex(names.index("throwaway"))
        view = window.generate_view
        view.steps.spin.setValue(2)
        view.batch.setValue(1)
        view.lock.setChecked(True)
        window.generate.generate()
        wait_idle(qtbot, window)
        assert CALLS == [1]
        item = window.services.library.items[0]
        assert item.params["sampler"] == "throwaway" and item.params["kind"] == "sample"
        window.generate.apply_params({"sampler": "ddim", "steps": 3})
        assert view.params().sampler == "ddim"
    finally:
        unregister_sampler("throwaway")


def test_steps_offset_and_alpha_convention_reach_generate_and_model_info(
    qtbot, window, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path / "offset_model"
    folder.mkdir()
    make_tiny_model(folder)
    config = {**SCHEDULER, "steps_offset": 1, "set_alpha_to_one": False}
    (folder / "scheduler_config.json").write_text(json.dumps(config))
    window.services.model.load(str(folder))
    qtbot.waitUntil(
        lambda: window.services.model.info is not None and window.services.model.info.steps_offset == 1,
        timeout=WAIT_MS,
    )
    view = window.generate_view
    view.spacing.setCurrentIndex(view.spacing.findText("leading"))
    view.steps.spin.setValue(10)
    window.generate.update_timesteps()
    expected = make_timesteps(10, 1000, "leading", 1)
    assert expected[0] == 901
    assert view.timesteps.text.toPlainText() == ", ".join(str(t) for t in expected)
    rows = dict(model_info_rows(window.services.model.info))
    assert rows["Steps offset"] == "1"
    assert "set_alpha_to_one: false" in rows["ᾱ after the last step"]
