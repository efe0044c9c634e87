"""Which engine runs the model call, and in which precision: ``backend`` × ``precision``.

=============  =====================================================================================
backend        what runs ``model(x_t, t)``
=============  =====================================================================================
``torch``      the torch module as loaded (today's path)
``openvino``   the UNet converted once to OpenVINO and kept on disk (:mod:`openvino_unet`); CPU only
``auto``       OpenVINO for a diffusers UNet on the CPU when it is installed, torch otherwise
=============  =====================================================================================

=============  =====================================================================================
precision      arithmetic
=============  =====================================================================================
``exact``      float32 end to end; on torch bit-for-bit the loaded model (the fidelity tests use it)
``fast``       bfloat16 on CPUs with AMX or AVX512-BF16 (OpenVINO's hint, or torch autocast),
               float16 autocast on GPUs
``auto``       ``fast`` only where it was measured to keep the pictures (:data:`AUTO_FAST`; the
               numbers are in the README), ``exact`` elsewhere
=============  =====================================================================================

Nothing here fails for lack of OpenVINO or of bf16 instructions: the model falls back to torch
or to float32, and the reason comes back as a one-line note.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ddim_studio.core.models.diffusers_adapter import DiffusersUNet
from ddim_studio.core.models.protocol import DiffusionModel, ModelInfo
from ddim_studio.core.names import BACKEND_NAMES, PRECISION_NAMES, describe_compute

__all__ = [
    "AUTO_FAST",
    "BACKENDS",
    "PRECISIONS",
    "BackendReport",
    "TorchAutocastUNet",
    "apply_backend",
    "check_choice",
    "cpu_has_bf16",
    "describe",
]

BACKENDS = BACKEND_NAMES
PRECISIONS = PRECISION_NAMES
#: Where ``precision=auto`` means ``fast``, per backend: decided from the measurements in the README
#: (SWD of samples fast vs exact on the shipped model, η = 0 reconstruction error). torch's bf16
#: autocast is slower than float32 at batch 1 on the shipped model, so torch stays exact.
AUTO_FAST = {"openvino": True, "torch": False}
PREPARING = "preparing the model for this CPU…"
#: What ``auto`` means when set (e.g. ``torch``): a machine-wide default for both front ends.
BACKEND_ENV = "DDIM_STUDIO_BACKEND"
PRECISION_ENV = "DDIM_STUDIO_PRECISION"

Stage = Callable[[str], AbstractContextManager[Any]]


def check_choice(value: str, choices: tuple[str, ...], what: str) -> str:
    """``value`` lower-cased if it is one of ``choices``; a ValueError in words otherwise."""
    name = str(value).strip().lower()
    if name not in choices:
        raise ValueError(f"Unknown {what} {value!r}; choose {', '.join(choices)}.")
    return name


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AMX or AVX512-BF16)."""
    try:
        flags = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        flags = ""
    if flags:
        return any(f" {flag}" in flags for flag in ("amx_bf16", "avx512_bf16"))
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


@dataclass
class BackendReport:
    """What :func:`apply_backend` chose and why.

    Attributes:
        backend: ``torch`` or ``openvino``: what runs the calls.
        precision: ``exact`` or ``fast``: the arithmetic used.
        notes: one line each for every fallback or preparation step worth telling.
        prepare_seconds: seconds spent converting the model (0 when it came from the cache).
    """

    backend: str = "torch"
    precision: str = "exact"
    notes: list[str] = field(default_factory=list)
    prepare_seconds: float = 0.0


class TorchAutocastUNet:
    """A torch model run under ``torch.autocast`` (bf16 on the CPU, float16 on a GPU).

    The output comes back in ``x_t``'s dtype, like the wrapped model's.
    """

    def __init__(self, inner: DiffusersUNet, device_type: str, dtype: torch.dtype) -> None:
        self.inner = inner
        self.unet = inner.unet
        self.schedule = inner.schedule
        self.sample_shape = inner.sample_shape
        self.device_type = device_type
        self.autocast_dtype = dtype

    def __call__(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The wrapped model's call under autocast."""
        with torch.autocast(self.device_type, dtype=self.autocast_dtype):
            out = self.inner(x_t, t)
        return out.to(dtype=x_t.dtype)


def describe(backend: str, precision: str, device: torch.device | str = "cpu") -> str:
    """``OpenVINO, bfloat16 (fast)`` — how Model Info and the saved parameters word a choice."""
    return describe_compute(backend, precision, torch.device(device).type)


def _torch_precision(
    model: DiffusersUNet, precision: str, device: torch.device, report: BackendReport
) -> DiffusionModel:
    fast = precision == "fast" or (precision == "auto" and AUTO_FAST["torch"])
    if not fast:
        return model
    if model.dtype != torch.float32:
        report.notes.append(
            f"the model's weights are {str(model.dtype).removeprefix('torch.')}; fast precision "
            "applies to float32 weights, so they run as they are"
        )
        return model
    if device.type == "cpu":
        if not cpu_has_bf16():
            report.notes.append("this CPU has no bfloat16 instructions; the model runs in float32")
            return model
        report.precision = "fast"
        return TorchAutocastUNet(model, "cpu", torch.bfloat16)
    report.precision = "fast"
    return TorchAutocastUNet(model, device.type, torch.float16)


def _openvino_unavailable(model: DiffusersUNet, device: torch.device) -> str | None:
    """Why OpenVINO cannot run this model here (None when it can)."""
    if device.type != "cpu":
        return f"OpenVINO runs on the CPU; the model is on {device.type}, so torch runs it"
    if model.dtype != torch.float32:
        return "OpenVINO runs float32 weights; this model's weights run on torch"
    try:
        from ddim_studio.core.models.openvino_unet import import_openvino

        import_openvino()
    except Exception:  # noqa: BLE001 - ImportError, or a broken install raising anything
        return "OpenVINO is not installed, so torch runs the model (pip install 'ddim-studio[openvino]')"
    return None


def _openvino(
    model: DiffusersUNet,
    precision: str,
    report: BackendReport,
    *,
    batch: int,
    stage: Stage | None,
    cache_dir: Path | None,
) -> DiffusionModel | None:
    from ddim_studio.core.models.openvino_unet import OpenVINOUNet

    fast = precision == "fast" or (precision == "auto" and AUTO_FAST["openvino"])
    if fast and not cpu_has_bf16():
        if precision == "fast":
            report.notes.append("this CPU has no bfloat16 instructions; the model runs in float32")
        fast = False
    threads = torch.get_num_threads()
    try:
        ov_model = OpenVINOUNet(
            model, precision="fast" if fast else "exact", cache_dir=cache_dir, threads=threads
        )
        converting = ov_model.needs_conversion(batch)
        with stage(PREPARING) if (stage is not None and converting) else nullcontext():
            ov_model.prepare(batch)
    except Exception as exc:  # noqa: BLE001 - any conversion failure leaves torch running the model
        first = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        report.notes.append(f"OpenVINO could not prepare this model ({first}); torch runs it")
        return None
    report.notes.extend(ov_model.notes)
    ov_model.notes.clear()
    if ov_model.convert_seconds:
        report.prepare_seconds = ov_model.convert_seconds
        report.notes.append(
            f"prepared the model for this CPU in {ov_model.convert_seconds:.1f} s (kept for the next launch)"
        )
    report.backend = "openvino"
    report.precision = "fast" if fast else "exact"
    return ov_model  # type: ignore[return-value]  # it follows the DiffusionModel protocol at run time


def apply_backend(
    model: DiffusionModel,
    info: ModelInfo | None = None,
    *,
    backend: str = "auto",
    precision: str = "auto",
    device: torch.device | str = "cpu",
    batch: int = 1,
    stage: Stage | None = None,
    cache_dir: Path | None = None,
) -> tuple[DiffusionModel, BackendReport]:
    """Wrap ``model`` so that its calls run on ``backend`` in ``precision``.

    Args:
        model: a loaded model (a :class:`DiffusersUNet` is the one family OpenVINO runs).
        info: its description: ``backend``, ``precision`` and the notes are written into it.
        backend: ``auto``, ``torch`` or ``openvino`` (``auto``: ``$DDIM_STUDIO_BACKEND`` if set).
        precision: ``auto``, ``exact`` or ``fast`` (``auto``: ``$DDIM_STUDIO_PRECISION`` if set).
        device: where the model's weights are.
        batch: the batch size to prepare first (others are prepared on their first call).
        stage: a context manager factory shown around a conversion (the progress step).
        cache_dir: where converted models are kept (default: the user cache folder).

    Returns:
        The model to call and a :class:`BackendReport`.

    Raises:
        ValueError: an unknown backend or precision name.
    """
    backend = check_choice(backend, BACKENDS, "backend")
    precision = check_choice(precision, PRECISIONS, "precision")
    if backend == "auto":
        backend = check_choice(os.environ.get(BACKEND_ENV) or "auto", BACKENDS, f"{BACKEND_ENV} backend")
    if precision == "auto":
        precision = check_choice(
            os.environ.get(PRECISION_ENV) or "auto", PRECISIONS, f"{PRECISION_ENV} precision"
        )
    device = torch.device(device)
    report = BackendReport()
    result: DiffusionModel = model
    if isinstance(model, DiffusersUNet):
        why_not = _openvino_unavailable(model, device) if backend != "torch" else None
        if backend != "torch" and why_not is None:
            converted = _openvino(model, precision, report, batch=batch, stage=stage, cache_dir=cache_dir)
            if converted is not None:
                result = converted
        elif backend == "openvino" or (why_not and why_not.startswith("OpenVINO is not")):
            report.notes.append(why_not or "")
        if report.backend == "torch":
            _ = model.unet  # a network deferred by its load is built now: its checks belong to loading
            result = _torch_precision(model, precision, device, report)
    elif backend == "openvino" or precision == "fast":
        report.notes.append("this model runs on torch in float32 (OpenVINO and fast precision are for UNets)")
    if result is not model and getattr(model, "autoencoder", None) is not None:
        result.autoencoder = model.autoencoder  # type: ignore[attr-defined]  # a latent model stays one
    if info is not None:
        info.backend = report.backend
        info.precision = report.precision
        info.notes.extend(report.notes)
    return result, report
