"""A loaded model and the run settings every ``ddim-studio`` command shares (imports torch).

Each command resolves its inputs, runs an operation (``ddim_studio.operations``) under a progress
bar (``ddim_studio.cli.progress``) and saves through ``operations.save_picture`` with parameters
from ``operations.build_params`` — the same functions the window uses.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from ddim_studio.cli.progress import say, status
from ddim_studio.core.models import load_model, resolve_device
from ddim_studio.core.models.backends import apply_backend
from ddim_studio.core.models.latent import picture_shape
from ddim_studio.core.models.loader import DTYPES
from ddim_studio.core.samplers import get_sampler
from ddim_studio.core.sampling import resolve_timesteps
from ddim_studio.operations import build_params, check_output_folder, save_picture
from ddim_studio.operations.model_summary import describe_space, model_space
from ddim_studio.operations.sample import sampler_for


class Session:
    """A loaded model and the run settings shared by every command."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        spec = get_sampler(args.sampler)
        eta = float(getattr(args, "eta", 0.0))
        if eta > 0 and not spec.supports_eta:
            raise ValueError(
                f"--eta {eta:g} applies to DDIM only: {spec.label} is deterministic; "
                "drop --eta or use --sampler ddim."
            )
        self.sampler = sampler_for(args.sampler, eta).name
        if getattr(args, "spacing", None) is None:  # none given: the sampler's own default
            args.spacing = spec.default_spacing
        # Checked before the model loads, created by the first save: a bad argument makes nothing.
        self.out: Path = check_output_folder(args.out)
        self.device = resolve_device(args.device)
        with status("loading model…"):
            self.model, self.info = load_model(
                args.model,
                config=args.model_config,
                device=self.device,
                dtype=DTYPES[args.dtype],
                latent_scale=args.latent_scale,
            )
        self.picture = picture_shape(self.model)  # (C, H, W) of pictures: a latent model's decoded size
        if self.info.space == "latent":
            say(describe_space(self.info))
        # OpenVINO on the CPU where installed: converted once ("preparing the model for this CPU…").
        self.model, report = apply_backend(
            self.model, self.info, backend=getattr(args, "backend", "auto"),
            precision=getattr(args, "precision", "auto"), device=self.device,
            batch=max(1, min(int(getattr(args, "batch_size", 1)), int(getattr(args, "num", 1) or 1))),
            stage=status,
        )  # fmt: skip
        for note in report.notes:
            say(f"note: {note}.")
        if self.info.clip_sample_requested:
            say(clip_sample_note(bool(args.clip_sample)))
        self.timesteps = resolve_timesteps(self.model, args.steps, args.spacing, None)

    def params(self, kind: str, **extra: Any) -> dict[str, Any]:
        """What made an output: embedded in PNGs and latent files (see ``operations.build_params``)."""
        return build_params(
            kind,
            info=self.info,
            steps=self.args.steps,
            spacing=self.args.spacing,
            sampler=self.sampler,
            timesteps=self.timesteps,
            clip_sample=self.args.clip_sample,
            **extra,
        )

    def space(self) -> dict[str, Any]:
        """Pixel or latent, the autoencoder, the latent shape and scale (``--json``: ``model_space``)."""
        return model_space(self.info)

    def settings(self) -> dict[str, Any]:
        """The keyword arguments every operation of this session takes."""
        return {
            "steps": self.args.steps,
            "spacing": self.args.spacing,
            "clip_sample": self.args.clip_sample,
            "sampler": self.sampler,
            "device": self.device,
            "quantize": not self.args.no_quantize,
        }

    def save(
        self, stem: str, image: Image.Image, params: dict[str, Any], latent: torch.Tensor | None
    ) -> list[Path]:
        """Write ``<stem>.png`` (and ``<stem>.safetensors``) atomically, never overwriting."""
        item = save_picture(self.out, image, params, stem=stem, latent=latent)
        return [item.png] + ([item.latent] if item.latent is not None else [])


def clip_sample_note(used: bool) -> str:
    """The one stderr line for a model whose config asks for ``clip_sample: true``."""
    if used:
        return "note: the model's config asks for clip_sample: true; it is on (--clip-sample)."
    return (
        "note: the model's config asks for clip_sample: true; it is off here because clipping breaks "
        "exact inversion (add --clip-sample to use it)."
    )
