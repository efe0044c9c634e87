"""What Encode and Edit share about taking a picture in: dropped files and gallery pictures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ddim_studio.core.store import SavedItem


class PictureSource:
    """Mixin for a controller with ``services`` and ``load_path(path) -> bool``: drops and gallery items."""

    services: Any
    load_path: Any  # (path: Path) -> bool, the controller's own

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
