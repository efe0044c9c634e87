"""The model library's hub work (listing a repository, downloading it, the cache), for the window.

The window's Model Library reaches the core's hub code through here (``ddim_studio/layers.py``:
``ui/`` imports from ``core/`` only types, constants and pure helpers); it runs these calls in a
background task.
"""

from __future__ import annotations

from ddim_studio.core import hub_cache
from ddim_studio.core.model_library import DownloadProgress, PullPlan, inspect_repo, pull
from ddim_studio.core.models.diffusers_adapter import resolve_device

__all__ = ["DownloadProgress", "PullPlan", "hub_cache", "inspect_repo", "pull", "resolve_device"]
