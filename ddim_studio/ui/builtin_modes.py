"""The four built-in modes (Generate, Encode, Interpolate, Edit): one :class:`ModeSpec` each.

Each entry says everything the window needs about its mode: how to build the view and the
controller, the keys, the exports, the cost of a Run (computed from that mode's own controller),
the defaults for a large model and the requests that reach it from the gallery or from another
mode. A view factory imports Qt only; the rest runs once the window is attached (torch is loaded).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ddim_studio.ui.modes import ModeController, ModeSpec, Plan, chunked, register_mode

if TYPE_CHECKING:
    from PySide6.QtWidgets import QWidget

    from ddim_studio.ui.edit.edit_controller import EditController
    from ddim_studio.ui.encode.encode_controller import EncodeController
    from ddim_studio.ui.generate.generate_controller import GenerateController
    from ddim_studio.ui.interpolate.interpolate_controller import InterpolateController
    from ddim_studio.ui.main_window import MainWindow


# ---- Generate --------------------------------------------------------------------------------------
def _generate_view() -> QWidget:
    from ddim_studio.ui.generate.generate_view import GenerateView

    return GenerateView()


def _generate_controller(window: MainWindow, view: QWidget) -> ModeController:
    from ddim_studio.ui.generate.generate_controller import GenerateController

    return GenerateController(view, window.services, window)  # type: ignore[arg-type]


def _generate_plan(c: GenerateController) -> Plan | None:
    from ddim_studio.ui.generate.generate_controller import CHUNK

    p = c.view.params()
    return chunked(p.batch, CHUNK, p.steps)


def _generate_routes(window: MainWindow, c: GenerateController) -> None:
    window.gallery.reuseParams.connect(
        lambda params: (c.apply_params(params), window.reuse_compute(params), window.set_mode("generate"))
    )
    window.gallery.reuseSeed.connect(lambda seed: (c.apply_seed(seed), window.set_mode("generate")))
    c.guide.gallery_selection = window.gallery.selected

    def reuse_guided(item: Any, params: dict[str, Any]) -> None:  # Reuse params on a guided picture
        if params.get("kind") == "guide":
            c.apply_params(params)  # sampler, steps, η, seed
            window.set_mode("generate")
            c.guide.restore(item, params)

    window.gallery.reuseItem.connect(reuse_guided)


def _generate_suggest(c: GenerateController, steps: int, batch: int) -> None:
    c.view.steps.set_value(steps)
    c.view.batch.setValue(min(c.view.batch.value(), batch))


# ---- Encode ----------------------------------------------------------------------------------------
def _encode_view() -> QWidget:
    from ddim_studio.ui.encode.encode_view import EncodeView

    return EncodeView()


def _encode_controller(window: MainWindow, view: QWidget) -> ModeController:
    from ddim_studio.ui.encode.encode_controller import EncodeController

    selection = window.gallery.selected
    return EncodeController(view, window.services, gallery_selection=selection, parent=window)  # type: ignore[arg-type]


def _encode_plan(c: EncodeController) -> Plan | None:
    from ddim_studio.operations.cost import inversion_calls

    steps, refine = c.view.steps.value(), c.view.refine.value()
    return [(inversion_calls(steps, refine) + steps, 1)]  # invert (refined: up to K more a step), decode


def _encode_routes(window: MainWindow, c: EncodeController) -> None:
    window.gallery.encodeItem.connect(lambda item: (window.set_mode("encode"), c.load_item(item)))


def _steps_only(c: Any, steps: int, _batch: int) -> None:
    c.view.steps.set_value(steps)


# ---- Interpolate -----------------------------------------------------------------------------------
def _interpolate_view() -> QWidget:
    from ddim_studio.ui.interpolate.interpolate_view import InterpolateView

    return InterpolateView()


def _interpolate_controller(window: MainWindow, view: QWidget) -> ModeController:
    from ddim_studio.ui.interpolate.interpolate_controller import InterpolateController

    return InterpolateController(
        view,  # type: ignore[arg-type]
        window.services,
        gallery_selection=window.gallery.selected,
        parent=window,
    )


def _interpolate_plan(c: InterpolateController) -> Plan | None:
    steps, frames = c.view.steps.value(), c.view.frames.value()
    batch = max(1, int(c.services.settings.get("defaults/interpolate_batch")))
    pictures = sum(1 for s in c.slots.values() if s is not None and not getattr(s, "ready", True))
    encode = [(steps, pictures)] if pictures else []  # the picture ends, encoded together
    return encode + chunked(frames, batch, steps)


def _interpolate_routes(window: MainWindow, c: InterpolateController) -> None:
    window.gallery.interpolateItem.connect(
        lambda item, slot: (window.set_mode("interpolate"), c.fill_from_item(item, slot))
    )
    encode = window.mode_controllers.get("encode")
    if encode is not None and hasattr(encode, "sendToInterpolate"):
        encode.sendToInterpolate.connect(
            lambda content, slot: (c.set_slot(slot, content), window.set_mode("interpolate"))
        )


# ---- Edit ------------------------------------------------------------------------------------------
def _edit_view() -> QWidget:
    from ddim_studio.ui.edit.edit_view import EditView

    return EditView()


def _edit_controller(window: MainWindow, view: QWidget) -> ModeController:
    from ddim_studio.ui.edit.edit_controller import EditController, generate_result

    return EditController(
        view,  # type: ignore[arg-type]
        window.services,
        gallery_selection=window.gallery.selected,
        generate_result=lambda: generate_result(window.mode_controllers.get("generate")),
        parent=window,
    )


def _edit_plan(c: EditController) -> Plan | None:
    from ddim_studio.operations.cost import edit_calls
    from ddim_studio.ui.edit.edit_controller import CHUNK

    v = c.view
    try:
        per_picture = edit_calls(
            v.steps.value(),
            v.strength_value(),
            harmonize=v.harmonize.value() if v.harmonize.isEnabled() else 0,
            refine=v.refine.value(),
            invert=v.start.currentText() == "invert",
        )
    except ValueError:  # a strength that runs no step: the strength row says why
        return None
    return chunked(v.count.value(), CHUNK, per_picture)  # each chunk inverts its own copies


def _edit_routes(window: MainWindow, c: EditController) -> None:
    def reuse_extend(item: Any, params: dict[str, Any]) -> None:  # Reuse params on an extend step
        if params.get("kind") == "extend":
            window.set_mode("edit")
            c.extend.restore(item, params)

    window.gallery.reuseItem.connect(reuse_extend)
    window.gallery.editItem.connect(lambda item: (window.set_mode("edit"), c.load_item(item)))
    window.gallery.reuseEdit.connect(lambda item, params: (window.set_mode("edit"), c.restore(item, params)))
    generate_view = window.mode_views.get("generate")
    if generate_view is not None and hasattr(generate_view, "editRequested"):
        generate_view.editRequested.connect(lambda: c.from_generate() and window.set_mode("edit"))


register_mode(
    ModeSpec(
        name="generate",
        job_kind="sample",
        label="Generate",
        icon="generate",
        tooltip="Sample new images from seeds (Ctrl+1)",
        shortcut="Ctrl+1",
        run_label="Generate",
        view=_generate_view,
        controller=_generate_controller,
        run_signal="generateRequested",
        run_button="generate_button",
        plan=_generate_plan,
        routes=_generate_routes,
        suggest=_generate_suggest,
    )
)
register_mode(
    ModeSpec(
        name="encode",
        label="Encode",
        icon="encode",
        tooltip="Invert an image to its latent x_T and back (Ctrl+2)",
        shortcut="Ctrl+2",
        run_label="Encode",
        view=_encode_view,
        controller=_encode_controller,
        run_signal="encodeRequested",
        run_button="encode_button",
        plan=_encode_plan,
        routes=_encode_routes,
        suggest=_steps_only,
    )
)
register_mode(
    ModeSpec(
        name="interpolate",
        label="Interpolate",
        icon="interpolate",
        tooltip="Morph between two latents (Ctrl+3)",
        shortcut="Ctrl+3",
        run_label="Run",
        view=_interpolate_view,
        controller=_interpolate_controller,
        exports=(("gif", "Animated GIF…"), ("strip", "PNG Strip…"), ("frames", "Individual Frames…")),
        export_menu="Export Interpolation",
        run_signal="runRequested",
        run_button="run_button",
        plan=_interpolate_plan,
        routes=_interpolate_routes,
        suggest=_steps_only,
    )
)
register_mode(
    ModeSpec(
        name="edit",
        label="Edit",
        icon="edit",
        tooltip="Paint on a picture or mask a region and let the model re-imagine it (Ctrl+4)",
        shortcut="Ctrl+4",
        run_label="Edit",
        view=_edit_view,
        controller=_edit_controller,
        run_signal="editRequested",
        run_button="edit_button",
        plan=_edit_plan,
        routes=_edit_routes,
    )
)
