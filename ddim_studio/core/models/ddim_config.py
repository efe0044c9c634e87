"""The architecture of an original DDIM ``Model`` (ermongroup/ddim, pytorch_diffusion) and its config.

The original network is a DDPM UNet: ``ch`` base channels times ``ch_mult`` per level,
``num_res_blocks`` ResNet blocks per level, self-attention at the feature-map sizes listed in
``attn_resolutions``, GroupNorm(32, eps 1e-6), swish, and a sinusoidal timestep embedding
(``[sin, cos]`` with frequencies ``exp(-log(10000) i / (half - 1))``). It maps one to one onto a
diffusers ``UNet2DModel``, whose config :meth:`DDIMArchitecture.to_diffusers_config` writes.

Configs come in two layouts: the official YAML (``configs/cifar10.yml``: ``model:``,
``diffusion:``, ``data:`` sections) or a flat mapping with the same keys (``tiny_config.json``).
Without a config the architecture is read from the weight shapes; the image size is not stored in
the weights and must be given.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ddim_studio.core.limits import check_sample_memory
from ddim_studio.core.models.config_files import (
    MAX_CHANNELS,
    MAX_IMAGE_CHANNELS,
    MAX_LAYERS_PER_BLOCK,
    MAX_LEVELS,
    MAX_SAMPLE_SIZE,
    check_float,
    check_int,
    read_config,
    show,
)
from ddim_studio.core.models.protocol import ModelLoadError
from ddim_studio.core.schedule import NoiseSchedule, ScheduleError

DEFAULT_SCHEDULE_NOTE = (
    "no diffusion settings given: assumed the linear schedule of the official DDIM models "
    "(beta 1e-4 to 0.02, T = 1000)"
)
_DIFFUSION_KEYS = ("beta_schedule", "beta_start", "beta_end", "num_diffusion_timesteps")
_ASK_FOR_CONFIG = (
    "give the checkpoint's config file (the original configs/*.yml, --model-config on the command line)"
)


@dataclass(frozen=True)
class DDIMArchitecture:
    """The constructor arguments of the original ``Model`` that fix its parameter shapes."""

    ch: int
    ch_mult: tuple[int, ...]
    num_res_blocks: int
    attn_resolutions: tuple[int, ...]
    resolution: int
    in_channels: int = 3
    out_ch: int = 3
    dropout: float = 0.0
    resamp_with_conv: bool = True

    @property
    def num_levels(self) -> int:
        """How many resolutions the UNet has (``len(ch_mult)``)."""
        return len(self.ch_mult)

    def attention_levels(self) -> list[bool]:
        """Per level (0 = full resolution), whether its blocks carry self-attention."""
        return [self.resolution // 2**i in self.attn_resolutions for i in range(self.num_levels)]

    def validate(self) -> None:
        """Raise a ModelLoadError for an architecture diffusers' ``UNet2DModel`` cannot express.

        Sizes are bounded like a diffusers config's (:mod:`config_files`), under the original
        names, before anything is derived from them.
        """
        owner = "The DDIM architecture"
        check_int(len(self.ch_mult), "number of levels (len(ch_mult))", 1, MAX_LEVELS, owner)
        check_int(self.num_res_blocks, "num_res_blocks", 1, MAX_LAYERS_PER_BLOCK, owner)
        check_int(self.resolution, "resolution", 1, MAX_SAMPLE_SIZE, owner)
        check_int(self.in_channels, "in_channels", 1, MAX_IMAGE_CHANNELS, owner)
        check_int(self.out_ch, "out_ch", 1, 2 * MAX_IMAGE_CHANNELS, owner)
        for channels in [self.ch] + [self.ch * m for m in self.ch_mult]:
            check_int(channels, "channel count (ch × ch_mult)", 1, MAX_CHANNELS, owner)
        check_float(self.dropout, "dropout", 0.0, 1.0, True, owner)
        check_sample_memory((self.in_channels, self.resolution, self.resolution), ModelLoadError)
        if not self.resamp_with_conv:
            raise ModelLoadError(
                "This checkpoint resamples without convolutions (resamp_with_conv: false); the studio "
                "converts only the convolutional resampling every official DDIM model uses."
            )
        if any((self.ch * m) % 32 for m in self.ch_mult):
            raise ModelLoadError(
                f"Channel counts {[self.ch * m for m in self.ch_mult]} are not multiples of 32."
            )
        if self.resolution % 2 ** (self.num_levels - 1):
            raise ModelLoadError(
                f"Resolution {self.resolution} cannot be halved {self.num_levels - 1} times; "
                "check the config."
            )

    def to_diffusers_config(self) -> dict[str, Any]:
        """The ``UNet2DModel`` config that computes exactly what the original ``Model`` computes."""
        attention = self.attention_levels()
        return {
            "_class_name": "UNet2DModel",
            "sample_size": self.resolution,
            "in_channels": self.in_channels,
            "out_channels": self.out_ch,
            "block_out_channels": [self.ch * m for m in self.ch_mult],
            "layers_per_block": self.num_res_blocks,
            "down_block_types": ["AttnDownBlock2D" if a else "DownBlock2D" for a in attention],
            "up_block_types": ["AttnUpBlock2D" if a else "UpBlock2D" for a in reversed(attention)],
            "mid_block_type": "UNetMidBlock2D",
            "add_attention": True,
            "attention_head_dim": None,  # one head as wide as the block, like the original
            "norm_num_groups": 32,
            "norm_eps": 1e-6,
            "act_fn": "silu",
            "time_embedding_type": "positional",
            "flip_sin_to_cos": False,  # original: concat [sin, cos]
            "freq_shift": 1,  # original: frequencies over (half_dim - 1)
            "downsample_padding": 0,  # original: pad (0, 1, 0, 1), then a stride-2 conv
            "mid_block_scale_factor": 1,
            "center_input_sample": False,
            "dropout": self.dropout,
        }


def _as_int_list(value: Any, key: str) -> tuple[int, ...]:
    if isinstance(value, (int, float)):
        value = [value]
    if isinstance(value, (list, tuple)) and len(value) <= 64:
        try:
            return tuple(int(v) for v in value)
        except (TypeError, ValueError, OverflowError):
            pass
    raise ModelLoadError(f"The DDIM config's {key} {show(value)} is not a short list of integers.")


def architecture_from_mapping(
    model: Mapping[str, Any], resolution: Any, in_channels: Any
) -> DDIMArchitecture:
    """Build a :class:`DDIMArchitecture` from the ``model`` section (or a flat mapping).

    Raises:
        ModelLoadError: a required key is missing or a value has the wrong type.
    """
    if resolution is None:
        raise ModelLoadError("The DDIM config has no image size (data.image_size or resolution).")
    for field, value in (("image size", resolution), ("in_channels", in_channels)):
        if isinstance(value, bool):  # YAML `image_size: true` is not 1
            raise ModelLoadError(f"The DDIM config's {field} {value!r} is not an integer.")
    try:
        arch = DDIMArchitecture(
            ch=int(model["ch"]),
            ch_mult=_as_int_list(model["ch_mult"], "ch_mult"),
            num_res_blocks=int(model["num_res_blocks"]),
            attn_resolutions=_as_int_list(model.get("attn_resolutions", []), "attn_resolutions"),
            resolution=int(resolution),
            in_channels=int(in_channels),
            out_ch=int(model.get("out_ch", in_channels)),
            dropout=float(model.get("dropout", 0.0)),
            resamp_with_conv=bool(model.get("resamp_with_conv", True)),
        )
    except KeyError as exc:
        raise ModelLoadError(
            f"The DDIM config lacks {exc.args[0]!r}; it needs ch, ch_mult, num_res_blocks and "
            "attn_resolutions."
        ) from None
    except (TypeError, ValueError, OverflowError) as exc:  # OverflowError: int(.inf)
        raise ModelLoadError(f"The DDIM config has a value of the wrong type: {exc}") from None
    arch.validate()
    return arch


def _same_int(a: Any, b: Any) -> bool:
    try:
        return int(a) == int(b)
    except (TypeError, ValueError, OverflowError):
        return False


def _read_mapping(path: Path) -> dict[str, Any]:
    """The config as a mapping: JSON for ``.json``, YAML otherwise (see :func:`read_config`)."""
    return read_config(path, "model config", "json" if path.suffix.lower() == ".json" else "yaml")


def schedule_from_mapping(diffusion: Mapping[str, Any]) -> tuple[NoiseSchedule, list[str]]:
    """The training schedule from a ``diffusion`` section; the default linear one when it has none."""
    if not any(key in diffusion for key in _DIFFUSION_KEYS):
        return NoiseSchedule.linear(), [DEFAULT_SCHEDULE_NOTE]
    try:
        return NoiseSchedule.from_ddim_config(diffusion), []
    except (ScheduleError, TypeError, ValueError, OverflowError) as exc:
        raise ModelLoadError(f"The DDIM config's diffusion settings cannot be used: {exc}") from None


def read_ddim_config(
    path: str | Path, resolution: int | None = None
) -> tuple[DDIMArchitecture, NoiseSchedule, list[str]]:
    """Read an original DDIM config: the official YAML layout or a flat JSON/YAML mapping.

    Args:
        path: the config file (``.yml``/``.yaml``/``.json``).
        resolution: the image size, used when the config does not state one.

    Returns:
        The architecture, the training schedule, and notes about assumed values.

    Raises:
        ModelLoadError: unreadable file, missing keys, or a resolution that contradicts the config.
    """
    path = Path(path)
    data = _read_mapping(path)
    if isinstance(data.get("model"), Mapping):
        model = data["model"]
        diffusion = data.get("diffusion") or {}
        data_section = data.get("data") or {}
        if not isinstance(data_section, Mapping):
            raise ModelLoadError(f"The config '{path.name}' has a data section that is not a mapping.")
        size = data_section.get("image_size", model.get("resolution"))
        channels = model.get("in_channels", data_section.get("channels", 3))
    else:
        model = diffusion = data
        size = data.get("resolution", data.get("image_size"))
        channels = data.get("in_channels", data.get("channels", 3))
    if resolution is not None and size is not None and not _same_int(size, resolution):
        raise ModelLoadError(
            f"The config '{path.name}' says resolution {show(size)} but {resolution} was asked for."
        )
    arch = architecture_from_mapping(model, size if size is not None else resolution, channels)
    if not isinstance(diffusion, Mapping):
        raise ModelLoadError(f"The config '{path.name}' has a diffusion section that is not a mapping.")
    schedule, notes = schedule_from_mapping(diffusion)
    return arch, schedule, notes


def _level_indices(state: Mapping[str, torch.Tensor], pattern: str) -> list[int]:
    regex = re.compile(pattern)
    return sorted({int(m.group(1)) for key in state if (m := regex.match(key))})


def infer_architecture(state: Mapping[str, torch.Tensor], resolution: int | None) -> DDIMArchitecture:
    """Read the architecture from an original state dict's shapes (the image size must be given).

    Raises:
        ModelLoadError: the resolution is missing, or the weights do not determine the architecture.
    """
    try:
        ch, in_channels = (int(d) for d in state["conv_in.weight"].shape[:2])
        out_ch = int(state["conv_out.weight"].shape[0])
    except (KeyError, ValueError):
        raise ModelLoadError(
            f"The weights have no conv_in/conv_out convolutions to read sizes from; {_ASK_FOR_CONFIG}."
        ) from None
    levels = _level_indices(state, r"down\.(\d+)\.")
    if not levels or levels != list(range(len(levels))):
        raise ModelLoadError(f"The weights' down levels {levels} are not 0..L-1; {_ASK_FOR_CONFIG}.")
    ch_mult: list[int] = []
    blocks: set[int] = set()
    attention: list[bool] = []
    for i in levels:
        conv1 = state.get(f"down.{i}.block.0.conv1.weight")
        if conv1 is None or int(conv1.shape[0]) % ch:
            raise ModelLoadError(f"Cannot read the channel multiplier of level {i}; {_ASK_FOR_CONFIG}.")
        ch_mult.append(int(conv1.shape[0]) // ch)
        blocks.add(len(_level_indices(state, rf"down\.{i}\.block\.(\d+)\.")))
        attention.append(f"down.{i}.attn.0.q.weight" in state)
    if len(blocks) != 1:
        raise ModelLoadError(f"The levels have different numbers of ResNet blocks; {_ASK_FOR_CONFIG}.")
    if any(f"down.{i}.downsample.conv.weight" not in state for i in levels[:-1]):
        raise ModelLoadError("The weights have no downsampling convolutions (resamp_with_conv: false?).")
    if resolution is None:
        raise ModelLoadError(
            f"The image size of an original DDIM checkpoint is not stored in its weights; {_ASK_FOR_CONFIG}."
        )
    arch = DDIMArchitecture(
        ch=ch,
        ch_mult=tuple(ch_mult),
        num_res_blocks=blocks.pop(),
        attn_resolutions=tuple(resolution // 2**i for i, a in zip(levels, attention, strict=True) if a),
        resolution=int(resolution),
        in_channels=in_channels,
        out_ch=out_ch,
    )
    arch.validate()
    return arch
