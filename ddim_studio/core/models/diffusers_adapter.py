"""A diffusers ``UNet2DModel`` behind the :class:`DiffusionModel` protocol, and loading one from a folder.

Folder layouts opened (the UNet folder holds ``config.json`` and the weights):

* a bare UNet folder: ``config.json`` + ``diffusion_pytorch_model.safetensors`` (or ``.bin``), with
  ``scheduler_config.json`` beside them (the ``google/ddpm-*`` layout) or in ``../scheduler/``;
* a pipeline folder: ``unet/`` and ``scheduler/`` sub-folders (``model_index.json`` beside them).

The UNet is built from its config on the ``meta`` device (no random init) and the weights are
loaded by the studio's safe loader, strictly: every key, every shape.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

from ddim_studio.core.limits import check_sample_memory
from ddim_studio.core.models import known_weights
from ddim_studio.core.models.config_files import (
    UNET_LIMITS,
    check_int,
    check_sample_size,
    check_unet_config,
    read_config,
    show,
)
from ddim_studio.core.models.known_weights import positional_embedding
from ddim_studio.core.models.protocol import ModelInfo, ModelLoadError
from ddim_studio.core.models.safe_load import load_checkpoint
from ddim_studio.core.schedule import NoiseSchedule, ScheduleError

WEIGHT_NAMES = (
    "diffusion_pytorch_model.safetensors",
    "diffusion_pytorch_model.bin",
    "diffusion_pytorch_model.fp16.safetensors",
    "diffusion_pytorch_model.fp16.bin",
)
SCHEDULER_CONFIG = "scheduler_config.json"
DEFAULT_SCHEDULE_NOTE = (
    "no scheduler_config.json beside the weights or in ../scheduler/: assumed DDPM's linear schedule "
    "(beta 1e-4 to 0.02, T = 1000, epsilon prediction)"
)


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Turn ``"auto"`` into the best available device (cuda, then mps, then cpu); check any other name.

    Raises:
        ModelLoadError: an unknown device name, or a device this machine does not have.
    """
    if isinstance(device, str) and device.strip().lower() == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ModelLoadError(f"Unknown device {device!r}; use auto, cpu, cuda, cuda:N or mps.") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ModelLoadError(f"Device {device!r} was asked for but CUDA is not available; use cpu or auto.")
    if resolved.type == "mps" and not torch.backends.mps.is_available():
        raise ModelLoadError(f"Device {device!r} was asked for but MPS is not available; use cpu or auto.")
    return resolved


class DiffusersUNet:
    """A ``UNet2DModel`` as a :class:`DiffusionModel`: ``model(x_t, t)`` is the UNet's ``.sample``.

    Inputs are moved to the UNet's device and dtype; the output comes back in ``x_t``'s device and
    dtype. A UNet with twice the input channels (learned variance) returns only the first half,
    the prediction in ``schedule.prediction_type``.

    The torch network may be *deferred* (``unet=None`` and a ``build``): weights checked by an
    earlier load (:mod:`known_weights`) are built on the first use of :attr:`unet`, and a backend
    that runs a converted network kept on disk never asks for it.

    Attributes:
        schedule: the model's training noise schedule.
        sample_shape: (C, H, W) of one sample.
        config: the UNet's config.
        fingerprint: the weights file's fingerprint (``known_weights.fingerprint``), or None.
    """

    def __init__(
        self,
        unet: Any | None,
        schedule: NoiseSchedule,
        sample_shape: tuple[int, int, int],
        *,
        build: Callable[[], Any] | None = None,
        config: Mapping[str, Any] | None = None,
        fingerprint: str | None = None,
        placement: tuple[torch.device, torch.dtype] = (torch.device("cpu"), torch.float32),
    ) -> None:
        if unet is None and build is None:
            raise ValueError("DiffusersUNet needs a UNet or a function that builds it.")
        self._unet = unet.eval() if unet is not None else None
        self._build = build
        self._lock = threading.Lock()
        self._placement = placement
        self.schedule = schedule
        self.sample_shape = sample_shape
        self.config = dict(config if config is not None else getattr(unet, "config", None) or {})
        self.fingerprint = fingerprint

    @property
    def unet(self) -> Any:
        """The ``UNet2DModel`` (in eval mode), built now if it was deferred."""
        if self._unet is None:
            with self._lock:
                if self._unet is None:
                    assert self._build is not None
                    self._unet = self._build().eval()
        return self._unet

    @property
    def built(self) -> bool:
        """Whether the torch network exists (False while deferred)."""
        return self._unet is not None

    @property
    def device(self) -> torch.device:
        """Where the UNet's weights live."""
        return self._placement[0] if self._unet is None else next(self._unet.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        """The UNet's weight dtype."""
        return self._placement[1] if self._unet is None else next(self._unet.parameters()).dtype

    def time_embedding(self, t: torch.Tensor) -> torch.Tensor:
        """``unet.time_proj(t)`` in float32, without building a deferred UNet where the config allows."""
        if self._unet is None:
            emb = positional_embedding(self.config, t)
            if emb is not None:
                return emb
        with torch.no_grad():
            return self.unet.time_proj(t).float()  # type: ignore[no-any-return]

    def __call__(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Run the UNet on ``x_t`` (N, C, H, W) at integer timesteps ``t`` ((N,) or a scalar)."""
        n = x_t.shape[0]
        t = torch.as_tensor(t)
        t = t.reshape(1).expand(n) if t.ndim == 0 else t.reshape(n)
        device, dtype = self.device, self.dtype
        with torch.no_grad():
            out = self.unet(x_t.to(device=device, dtype=dtype), t.to(device=device, dtype=torch.long)).sample
        channels = self.sample_shape[0]
        if out.shape[1] == 2 * channels:
            out = out[:, :channels]
        return out.to(device=x_t.device, dtype=x_t.dtype)


def read_json(path: Path, what: str) -> dict[str, Any]:
    """Read a JSON object from ``path``; any failure is a ModelLoadError naming ``what``.

    See :func:`config_files.read_config`: not UTF-8, not JSON, nested too deeply, too large or not
    an object are all refused with a message.
    """
    return read_config(path, what, "json")


def sample_shape_from_config(config: Mapping[str, Any]) -> tuple[int, int, int]:
    """(C, H, W) from a UNet config's ``in_channels`` and ``sample_size`` (an int or [H, W]).

    Raises:
        ModelLoadError: ``sample_size`` is not an int or a pair of ints from 1 to 4096, or
            ``in_channels`` is not an int from 1 to 64; the message names the field and the value.
    """
    height, width = check_sample_size(config.get("sample_size"))
    channels = check_int(config.get("in_channels", 3), "in_channels", *UNET_LIMITS["in_channels"])
    return channels, height, width


def build_unet(config: Mapping[str, Any]) -> Any:
    """Build a ``UNet2DModel`` from its config on the ``meta`` device (shapes only, no memory).

    The config's size fields are bounded first (:func:`config_files.check_unet_config`): the
    build takes time and memory in proportion to them, before the weights could show them wrong.

    Raises:
        ModelLoadError: the config names another model class, a size out of bounds, an unknown
            block type, or values diffusers cannot build.
    """
    from diffusers import UNet2DModel

    class_name = config.get("_class_name", "UNet2DModel")
    if class_name != "UNet2DModel":
        name = class_name[:100] if isinstance(class_name, str) else show(class_name)
        raise ModelLoadError(
            f"The config describes a {name}; the studio samples unconditional UNet2DModel "
            "networks (DDPM/DDIM image models), not text-conditioned or latent ones."
        )
    check_unet_config(config)
    # Only the arguments UNet2DModel takes: diffusers logs every other key in one warning line,
    # which for a config padded with junk keys was a 900 kB line on stderr.
    accepted = set(inspect.signature(UNet2DModel.__init__).parameters) - {"self"}
    known = {key: value for key, value in config.items() if key in accepted}
    try:
        with torch.device("meta"):
            return UNet2DModel.from_config(known)
    except Exception as exc:  # ValueError for unknown blocks, TypeError/KeyError for bad values
        raise ModelLoadError(f"Cannot build a UNet2DModel from this config: {exc}") from None


def load_unet_weights(unet: Any, state_dict: Mapping[str, Any], source: str) -> None:
    """Put ``state_dict`` into a meta-device ``unet``, strictly: same keys and shapes or an error.

    Raises:
        ModelLoadError: a missing, extra or differently shaped tensor, named with both shapes.
    """
    expected = unet.state_dict()
    for key, tensor in state_dict.items():
        if not isinstance(tensor, torch.Tensor):
            raise ModelLoadError(f"'{source}': entry {key!r} is a {type(tensor).__name__}, not a tensor.")
        if not tensor.is_floating_point():
            raise ModelLoadError(
                f"'{source}': weight {key!r} holds {str(tensor.dtype).removeprefix('torch.')} values; "
                "a model's weights are floating-point numbers, so these are not weights of a model."
            )
    for key, want in expected.items():
        if key not in state_dict:
            missing = [k for k in expected if k not in state_dict]
            raise ModelLoadError(
                f"'{source}' lacks {len(missing)} weight(s) the config needs, first {key!r} "
                f"(shape {list(want.shape)}); the weights do not belong to this config."
            )
        got = state_dict[key]
        if tuple(got.shape) != tuple(want.shape):
            raise ModelLoadError(
                f"'{source}': weight {key!r} has shape {list(got.shape)} but the config needs "
                f"{list(want.shape)}; the weights do not belong to this config."
            )
    extra = [k for k in state_dict if k not in expected]
    if extra:
        raise ModelLoadError(
            f"'{source}' has {len(extra)} weight(s) the config does not use, first {extra[0]!r}; "
            "the weights do not belong to this config."
        )
    check_weights_finite(state_dict, source)
    unet.load_state_dict(dict(state_dict), strict=True, assign=True)


def check_weights_finite(state_dict: Mapping[str, torch.Tensor], source: str) -> None:
    """Refuse weights holding NaN or Inf: every picture of such a model would be NaN.

    Raises:
        ModelLoadError: naming the first weight with a non-finite value and how many it has.
    """
    for key, tensor in state_dict.items():
        finite = torch.isfinite(tensor)
        if not bool(finite.all()):
            count = int((~finite).sum())
            raise ModelLoadError(
                f"'{source}': weight {key!r} holds {count:,} of {tensor.numel():,} values that are not "
                "numbers (NaN or infinite); the file is damaged or the training diverged."
            )


def check_placement(device: str | torch.device, dtype: torch.dtype) -> torch.device:
    """Resolve ``device`` and check ``dtype`` before any loading work is done.

    Raises:
        ModelLoadError: an unavailable device or a dtype that is not a floating torch dtype.
    """
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ModelLoadError(f"dtype must be a floating torch dtype such as torch.float32, got {dtype!r}.")
    return resolve_device(device)


def place_unet(unet: Any, device: str | torch.device, dtype: torch.dtype) -> Any:
    """Move a loaded UNet to ``device`` and ``dtype``; a device or dtype that fails is a ModelLoadError."""
    target = check_placement(device, dtype)
    try:
        # torch's own .to: diffusers' override warns about fp32 modules even when there are none.
        return torch.nn.Module.to(unet, device=target, dtype=dtype).eval()
    except (RuntimeError, AssertionError) as exc:
        raise ModelLoadError(f"Cannot move the model to {target} as {dtype}: {exc}") from None


def find_unet_dir(folder: Path) -> Path:
    """The folder holding the UNet: ``folder/unet`` for a pipeline layout, else ``folder`` itself."""
    if (folder / "unet" / "config.json").is_file():
        return folder / "unet"
    return folder


def find_weights(unet_dir: Path) -> Path:
    """The UNet weight file in ``unet_dir``; a ModelLoadError lists the names looked for."""
    for name in WEIGHT_NAMES:
        if (unet_dir / name).is_file():
            return unet_dir / name
    raise ModelLoadError(
        f"No UNet weights in '{unet_dir}': looked for {', '.join(WEIGHT_NAMES)} "
        "(and for a unet/ sub-folder holding them)."
    )


def find_scheduler_config(unet_dir: Path) -> Path | None:
    """``scheduler_config.json`` beside the weights, in ``../scheduler/`` or in ``./scheduler/``."""
    for candidate in (
        unet_dir / SCHEDULER_CONFIG,
        unet_dir.parent / "scheduler" / SCHEDULER_CONFIG,
        unet_dir / "scheduler" / SCHEDULER_CONFIG,
    ):
        if candidate.is_file():
            return candidate
    return None


def _schedule_for(unet_dir: Path) -> tuple[NoiseSchedule, list[str]]:
    path = find_scheduler_config(unet_dir)
    if path is None:
        return NoiseSchedule.linear(), [DEFAULT_SCHEDULE_NOTE]
    try:
        return NoiseSchedule.from_diffusers_config(read_json(path, "scheduler config")), []
    except (ScheduleError, TypeError, ValueError, OverflowError) as exc:  # OverflowError: int(Infinity)
        raise ModelLoadError(f"The scheduler config '{path}' cannot be used: {exc}") from None


def _read_unet_config(folder: Path) -> tuple[Path, dict[str, Any], tuple[int, int, int], int]:
    """Find and check the UNet config of ``folder``: its dir, the config, (C, H, W), out_channels."""
    if not folder.is_dir():
        raise ModelLoadError(f"'{folder}' is not a folder.")
    unet_dir = find_unet_dir(folder)
    config_path = unet_dir / "config.json"
    if not config_path.is_file():
        raise ModelLoadError(
            f"'{folder}' has no config.json (nor unet/config.json); a diffusers model folder needs one."
        )
    config = read_json(config_path, "UNet config")
    sample_shape = sample_shape_from_config(config)
    check_sample_memory(sample_shape, ModelLoadError)
    out_channels = check_int(
        config.get("out_channels", sample_shape[0]), "out_channels", *UNET_LIMITS["out_channels"]
    )
    if out_channels not in (sample_shape[0], 2 * sample_shape[0]):
        raise ModelLoadError(
            f"The UNet config has {sample_shape[0]} input but {out_channels} output channels; the studio "
            "needs a noise predictor whose output has the input's channels."
        )
    return unet_dir, config, sample_shape, out_channels


def _load_unet(config: Mapping[str, Any], weights: Path, device: torch.device, dtype: torch.dtype) -> Any:
    """Build the UNet of ``config`` and load ``weights`` into it, every check made; on ``device``."""
    unet = build_unet(config)
    state_dict = load_checkpoint(weights)
    if not isinstance(state_dict, Mapping):
        raise ModelLoadError(f"'{weights.name}' does not hold a state dict.")
    load_unet_weights(unet, state_dict, weights.name)
    return place_unet(unet, device, dtype)


def load_diffusers_folder(
    folder: str | Path,
    *,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
    name: str | None = None,
) -> tuple[DiffusersUNet, ModelInfo]:
    """Load a diffusers UNet folder (or pipeline folder) as a :class:`DiffusionModel`.

    Args:
        folder: a UNet folder or a pipeline folder with ``unet/`` and ``scheduler/``.
        device: where the model runs (``"auto"`` picks cuda, mps or cpu).
        dtype: the weight dtype.
        name: the name shown for the model (default: the folder's name).

    Returns:
        The wrapped model and its description.

    Raises:
        ModelLoadError: a missing or invalid config, missing weights, weights that do not fit the
            config, or an unusable scheduler config.
    """
    target = check_placement(device, dtype)
    folder = Path(folder)
    unet_dir, config, sample_shape, out_channels = _read_unet_config(folder)
    weights = find_weights(unet_dir)
    schedule, notes = _schedule_for(unet_dir)
    if out_channels == 2 * sample_shape[0]:
        notes.append("the UNet also predicts a variance; only the first half (the prediction) is used")
    # CPU float32 (what OpenVINO runs) of weights checked before: build the torch network only if asked
    deferrable = target.type == "cpu" and dtype == torch.float32
    key = known_weights.fingerprint(weights, config, dtype) if deferrable else None
    record = known_weights.recall(key)
    if record is not None:
        model = DiffusersUNet(
            None, schedule, sample_shape, build=lambda: _load_unet(config, weights, target, dtype),
            config=config, fingerprint=key, placement=(target, dtype),
        )  # fmt: skip
        num_parameters = int(record["num_parameters"])
    else:
        unet = _load_unet(config, weights, target, dtype)
        num_parameters = sum(p.numel() for p in unet.parameters())
        known_weights.remember(key, num_parameters)
        model = DiffusersUNet(unet, schedule, sample_shape, config=config, fingerprint=key)
    info = ModelInfo(
        name=name or folder.resolve().name,
        source=str(folder),
        family="diffusers",
        sample_shape=sample_shape,
        num_parameters=num_parameters,
        prediction_type=schedule.prediction_type,
        clip_sample_requested=schedule.clip_sample,
        notes=notes,
        num_train_timesteps=schedule.num_train_timesteps,
        steps_offset=schedule.steps_offset,
        set_alpha_to_one=schedule.set_alpha_to_one,
    )
    return model, info
