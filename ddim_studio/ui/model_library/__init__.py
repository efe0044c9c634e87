"""Model ▸ Library…: the model catalogue, the models on disk, downloads (view + controller)."""

from __future__ import annotations

from ddim_studio.ui.model_library.controller import ModelLibraryController, open_library
from ddim_studio.ui.model_library.view import ModelLibraryView

__all__ = ["ModelLibraryController", "ModelLibraryView", "open_library"]
