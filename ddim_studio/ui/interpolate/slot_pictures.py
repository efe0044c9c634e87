"""Interpolate's slots take pictures off the GUI thread: decoded in the loader's decoder process,
one pending picture per slot (a newer one, a seed, a latent file or Esc drops it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ddim_studio.core.imaging import pil_to_tensor
from ddim_studio.operations.interpolation import ENCODED, SAVED_LATENT, saved_latent
from ddim_studio.operations.pictures import OpenedPicture, decode_picture
from ddim_studio.ui.slots import SlotContent

SLOTS = ("A", "B")
SLOT_SIDE = 256  # the display copy of a picture opened into a slot (the slot shows the fitted one)


class SlotPictures:
    """Mixin for the Interpolate controller (``services``, ``view``, ``slots``, ``set_slot``...)."""

    services: Any
    view: Any
    slots: dict[str, SlotContent | None]
    set_slot: Any  # (name, content) -> None
    model_name: Any  # () -> str

    def open_slot_picture(self, name: str, path: Path) -> None:
        """Start opening the picture at ``path`` into slot ``name`` (it shows "opening …" meanwhile)."""
        height, width = self.services.model.size()

        def failed(message: str) -> None:
            self.services.notifier.error(message)
            content = self.slots[name]
            if content is not None and content.model != self.model_name():  # a refill for a new model
                self.set_slot(name, None)
            else:
                self.set_slot(name, content)

        self.view.slot(name).show_content(None, f"opening {path.name}…")
        self.services.loader.submit(
            decode_picture,
            lambda opened: self._fill_from_picture(name, path, opened),
            failed,
            key=f"slot {name}",
            args=(path, (width, height), False, SLOT_SIDE),
            isolated=True,
        )

    def _fill_from_picture(self, name: str, path: Path, opened: OpenedPicture) -> None:
        for warning in opened.warnings:
            self.services.notifier.warning(f"{path.name}: {warning}")
        content = SlotContent(
            "image",
            path.name,
            opened.fitted_pixels,
            image=pil_to_tensor(opened.fitted)[0],
            params={"source": path.name},
            how=ENCODED,
            path=path,
        )
        info = self.services.model.info
        own = saved_latent(path, tuple(info.sample_shape)) if info is not None else None  # a small file
        if own is not None:
            content.latent, content.params, content.how = own[0], own[1], SAVED_LATENT
            if own[1].get("kind") == "sample" and "seed" in own[1]:
                content.label = f"seed {own[1]['seed']} · {path.name}"
        self.set_slot(name, content)

    def opening(self) -> list[str]:
        """The slots whose picture is still being opened."""
        return [n for n in SLOTS if self.services.loader.busy(f"slot {n}")]
