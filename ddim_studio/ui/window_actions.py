"""The menu commands of the main window (File, Model, Help), kept apart from its construction."""

from __future__ import annotations

import html
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from PySide6.QtWidgets import QMessageBox, QWidget

import ddim_studio
from ddim_studio.core.names import describe_compute
from ddim_studio.ui import dialogs
from ddim_studio.ui.menus import shortcut_rows
from ddim_studio.ui.settings_dialog import SettingsDialog

if TYPE_CHECKING:
    from ddim_studio.core.models.protocol import ModelInfo
    from ddim_studio.ui.main_window import MainWindow

HUB_DIALOG = ("Open from the Hugging Face Hub", "Model id (owner/name), e.g. google/ddpm-cifar10-32:")
HUB_ID_CHARS = 48  # room for a long owner/name hub id

ABOUT = (
    "<h3>DDIM Studio {version}</h3>"
    "<p>Sampling, inversion and latent interpolation with denoising diffusion implicit models.</p>"
    "<p>Song, Meng &amp; Ermon, <i>Denoising Diffusion Implicit Models</i>, ICLR 2021 "
    "(arXiv:2010.02502).</p><p>Outputs: {output}</p>"
)


class WindowActions:
    """Mixin for :class:`MainWindow`: the handlers its menus call."""

    # ---- File ▸ models ------------------------------------------------------------------------
    def open_model_folder(self: MainWindow) -> None:
        """Pick a diffusers model folder and load it."""
        folder = dialogs.choose_folder(self, "Open a diffusers model folder")
        if folder is not None:
            self.services.model.load(str(folder))

    def open_checkpoint(self: MainWindow) -> None:
        """Pick an original DDIM checkpoint file and load it."""
        path = dialogs.open_file(self, "Open a DDIM checkpoint", dialogs.CHECKPOINT_FILTER)
        if path is not None:
            self.services.model.load(str(path))

    def open_hub_model(self: MainWindow) -> None:
        """Ask for a Hugging Face hub id and load it."""
        repo = dialogs.text_input(self, *HUB_DIALOG, "google/ddpm-cifar10-32", chars=HUB_ID_CHARS)
        if repo:
            self.services.model.load(repo)

    def open_model_library(self: MainWindow) -> None:
        """Model ▸ Library…: the known models, what is on disk, downloads (one window at a time)."""
        from ddim_studio.ui.model_library import open_library

        view = getattr(self, "model_library_view", None)
        if view is not None and view.isVisible():
            view.raise_()
            view.activateWindow()
            return
        self.model_library_view = open_library(self, self.services.model, self.services.settings)

    def rebuild_recent_menu(self: MainWindow) -> None:
        """Fill File ▸ Recent Models."""
        menu = self.menus.recent
        menu.clear()
        recent = self.services.settings.recent_models()
        for source in recent:
            action = menu.addAction(source)
            action.triggered.connect(lambda _=False, s=source: self.services.model.load(s))
        if recent:
            menu.addSeparator()
            menu.addAction("Clear Recent Models", self.services.settings.clear_recent_models)
        default = menu.addAction("Default Model (shapes32)")
        default.triggered.connect(lambda: self.services.model.load(None, remember=True))

    # ---- File ▸ pictures ----------------------------------------------------------------------
    def open_image(self: MainWindow) -> None:
        """Open an image (or latent) in Encode."""
        self.set_mode("encode")
        self.encode.open_dialog()

    def save_current(self: MainWindow) -> None:
        """Ctrl+S: keep the current mode's result in the gallery."""
        controller = self.current_controller()
        if controller is not None:
            controller.save()

    def save_selected_as(self: MainWindow) -> Path | None:
        """Copy the selected gallery picture (and its latent) to a chosen place."""
        item = self.gallery.selected()
        if item is None:
            self.services.notifier.info("Select a picture in the gallery first.")
            return None
        target = dialogs.save_file(
            self, "Save picture as", "PNG image (*.png)", str(Path.home() / item.png.name)
        )
        if target is None:
            return None
        return copy_item(self, item.png, item.latent, target)

    def export_result(self: MainWindow, mode: str, kind: str) -> None:
        """File ▸ Export ``mode``: switch to it and export its result as ``kind`` (e.g. ``gif``)."""
        self.set_mode(mode)
        controller = self.mode_controllers.get(mode)
        if controller is not None:
            controller.export_dialog(kind)

    def open_output_folder(self: MainWindow) -> None:
        """Show the output folder in the file manager."""
        self.gallery.open_folder(None)

    def show_settings(self: MainWindow) -> None:
        """Open the settings dialog and apply what was changed."""
        info = self.services.model.info
        dialog = SettingsDialog(
            self.services.settings, self, sample_shape=info.sample_shape if info else None
        )
        compute = self._compute_settings()
        if dialog.exec():
            dialog.apply()
            if self._compute_settings() != compute and self.services.model.info is not None:
                self.services.model.reload()  # another backend or precision: load the model again

    def _compute_settings(self: MainWindow) -> tuple[str, str]:
        settings = self.services.settings
        return settings.get("compute/backend"), settings.get("compute/precision")

    def reuse_compute(self: MainWindow, params: dict) -> None:
        """Reuse params: run the model as the picture was made (backend and precision), reloading it."""
        backend, precision = params.get("backend"), params.get("precision")
        if backend not in ("torch", "openvino") or precision not in ("exact", "fast"):
            return
        info = self.services.model.info
        if info is not None and (info.backend, info.precision) == (backend, precision):
            return
        self.services.settings.set("compute/backend", backend)
        self.services.settings.set("compute/precision", precision)
        if info is not None:
            self.services.model.reload()

    # ---- Model --------------------------------------------------------------------------------
    def reload_model(self: MainWindow) -> None:
        """Model ▸ Reload Model."""
        self.services.model.reload()

    def set_device(self: MainWindow, device: str) -> None:
        """Model ▸ Device: remember it and reload the model there."""
        self.services.settings.set("model/device", device)
        self.services.model.reload()

    def set_dtype(self: MainWindow, dtype: str) -> None:
        """Model ▸ Precision: remember it and reload the model with it."""
        self.services.settings.set("model/dtype", dtype)
        self.services.model.reload()

    def show_model_info(self: MainWindow) -> None:
        """Model ▸ Model Info."""
        info = self.services.model.info
        if info is None:
            QMessageBox.information(self, "Model", "No model is loaded yet.")
            return
        rows = model_info_rows(info) + [
            ("Device", self.services.model.device_name()),
            ("Precision", self.services.model.dtype_name()),
            (
                "Computed with",
                describe_compute(info.backend, info.precision, self.services.model.device_name()),
            ),
        ]
        text = "".join(
            f"<tr><td><b>{html.escape(k)}</b>&nbsp;&nbsp;</td><td>{html.escape(str(v))}</td></tr>"
            for k, v in rows
        )
        notes = "".join(f"<li>{html.escape(n)}</li>" for n in info.notes)
        QMessageBox.information(
            self, "Model", f"<table>{text}</table>" + (f"<ul>{notes}</ul>" if notes else "")
        )

    # ---- Help ---------------------------------------------------------------------------------
    def show_shortcuts(self: MainWindow) -> None:
        """Help ▸ Keyboard Shortcuts."""
        rows = "".join(
            f"<tr><td><b>{html.escape(k)}</b>&nbsp;&nbsp;&nbsp;</td><td>{html.escape(v)}</td></tr>"
            for k, v in shortcut_rows(self.mode_specs)
        )
        QMessageBox.information(self, "Keyboard shortcuts", f"<table cellpadding='3'>{rows}</table>")

    def show_about(self: MainWindow) -> None:
        """Help ▸ About."""
        QMessageBox.about(
            self,
            "About DDIM Studio",
            ABOUT.format(
                version=getattr(ddim_studio, "__version__", "0.1.0"),
                output=html.escape(str(self.services.library.root)),
            ),
        )


def model_info_rows(info: ModelInfo) -> list[tuple[str, str]]:
    """The (label, text) rows of Model ▸ Model Info that describe the model itself."""
    final = (
        "1 (α₀ := 1, as in the DDIM paper)"
        if getattr(info, "set_alpha_to_one", True)
        else "ᾱ at t = 0 (the scheduler sets set_alpha_to_one: false)"
    )
    return [
        ("Name", info.name),
        ("Source", info.source),
        ("Family", info.family),
        *latent_rows(info),
        ("Sample shape", " × ".join(str(v) for v in info.sample_shape)),
        ("Parameters", f"{info.num_parameters:,}"),
        ("Prediction", info.prediction_type),
        ("Training timesteps T", str(info.num_train_timesteps)),
        ("Steps offset", str(getattr(info, "steps_offset", 0))),
        ("ᾱ after the last step", final),
        (
            "Config's clip_sample",
            "true — off unless Clip x₀ is ticked (clipping breaks exact inversion)"
            if getattr(info, "clip_sample_requested", False)
            else "false",
        ),
    ]


def latent_rows(info: ModelInfo) -> list[tuple[str, str]]:
    """Model Info's rows on the space the model samples in (pixel, or latent with its autoencoder)."""
    if getattr(info, "space", "pixel") != "latent":
        return [("Space", "pixel: the UNet samples the pictures themselves")]
    kind = {"vq": "VQ (decoded through its codebook)", "kl": "KL (the encoder's mean)"}
    picture = " × ".join(str(v) for v in info.picture_shape or ())
    return [
        ("Space", f"latent: the UNet samples {' × '.join(str(v) for v in info.sample_shape)} latents"),
        ("Autoencoder", kind.get(str(info.autoencoder), str(info.autoencoder))),
        ("Picture size", picture),
        ("Latent scale", f"{info.latent_scale:g}: {info.latent_scale_reason}"),
    ]


def copy_item(parent: QWidget, png: Path, latent: Path | None, target: Path) -> Path | None:
    """Copy ``png`` (and ``latent`` beside the copy) to ``target`` without overwriting; None on failure."""
    from ddim_studio.core.store import LATENT_SUFFIX, StoreError
    from ddim_studio.operations.files import atomic_write

    window: MainWindow = parent  # type: ignore[assignment]

    def copier(source: Path):  # type: ignore[no-untyped-def]
        def write(fh: BinaryIO) -> None:
            with open(source, "rb") as src:
                shutil.copyfileobj(src, fh)

        return write

    try:
        written = atomic_write(target.with_suffix(".png"), copier(png))
        if latent is not None:
            atomic_write(written.with_suffix(LATENT_SUFFIX), copier(latent))
    except (StoreError, OSError) as exc:
        window.services.notifier.error(getattr(exc, "message", None) or f"The copy failed: {exc}")
        return None
    window.services.notifier.info(f"Saved a copy as {written}.")
    return written
