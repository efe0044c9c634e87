"""DDIM Studio: sampling, inversion and latent interpolation with pretrained diffusion models."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("ddim-studio")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.1.0"
