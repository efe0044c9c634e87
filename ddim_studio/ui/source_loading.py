"""Taking a picture in: dropped files and gallery pictures, decoded off the GUI thread.

A 36-megapixel photo takes seconds to decode and fit, so :func:`open_off_thread` runs
``operations.pictures.decode_picture`` in the decoder process behind the services' loader and
hands the result to the controller on the GUI thread; a newer open of the same key, or Esc /
Cancel, drops an older one.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ddim_studio.core.store import SavedItem
from ddim_studio.operations.pictures import DISPLAY_SIDE, OpenedPicture, decode_picture, refit
from ddim_studio.ui.context import Services


def open_off_thread(
    services: Services,
    path: Path,
    on_opened: Callable[[OpenedPicture], None],
    *,
    key: str,
    with_params: bool = False,
    on_error: Callable[[str], None] | None = None,
) -> int:
    """Decode and fit the picture at ``path`` in the loader thread; ``on_opened`` gets it on the GUI
    thread (unless a newer open of ``key`` or a cancel came first). A failure is reported in one line."""
    height, width = services.model.size()

    def failed(message: str) -> None:
        services.notifier.error(message)
        if on_error is not None:
            on_error(message)

    args = (path, (width, height), with_params, DISPLAY_SIDE)
    return services.loader.submit(decode_picture, on_opened, failed, key=key, args=args, isolated=True)


def refit_off_thread(
    services: Services, opened: OpenedPicture, on_opened: Callable[[OpenedPicture], None], *, key: str
) -> int:
    """Fit a picture again for the current model size (its file is decoded again, off the GUI thread)."""
    height, width = services.model.size()
    isolated = isinstance(opened.source, Path)
    args = (opened, (width, height))
    return services.loader.submit(
        refit, on_opened, services.notifier.error, key=key, args=args, isolated=isolated
    )


class PictureSource:
    """Mixin for a controller with ``services``, ``view.progress`` and ``load_path(path) -> bool``:
    drops, gallery items, and the picture being opened (``loader_key``; Esc / Cancel drops it)."""

    services: Any
    view: Any
    load_path: Any  # (path: Path) -> bool, the controller's own
    loader_key: str = ""

    def load_paths(self, paths: list[Path]) -> None:
        """Load the first of the dropped files (and say so when there were more)."""
        if len(paths) > 1:
            self.services.notifier.info(f"Several files were dropped; using {Path(paths[0]).name}.")
        if paths:
            self.load_path(Path(paths[0]))

    def load_item(self, item: SavedItem | None) -> None:
        """Load a gallery picture (its PNG; a controller's ``load_path`` decides what that restores)."""
        if item is None:
            self.services.notifier.info("Select a picture in the gallery first.")
            return
        self.load_path(item.png)

    def open_source(self, path: Path, on_opened: Callable[[OpenedPicture], None], **kwargs: Any) -> None:
        """Start opening ``path`` off the GUI thread, with "Opening …" and Cancel in the progress row."""
        self.view.progress.start(f"Opening {path.name}…")
        open_off_thread(
            self.services,
            path,
            on_opened,
            key=self.loader_key,
            on_error=lambda _m: self.view.progress.finish("The picture could not be opened", full=False),
            **kwargs,
        )

    def opening(self) -> bool:
        """Whether a picture is being opened."""
        return bool(self.services.loader.busy(self.loader_key))

    def cancel_open(self) -> bool:
        """Drop the picture being opened; True if there was one."""
        if not self.services.loader.cancel(self.loader_key):
            return False
        self.view.progress.finish("Cancelled opening the picture", full=False)
        return True
