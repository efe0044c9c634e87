"""A diffusers UNet run by OpenVINO on the CPU, converted once and kept on disk.

The torch module is traced once by ``openvino.convert_model`` (17.6 s for the 256-px UNet here)
and saved as an IR (``unet.xml`` + ``unet.bin``, float32 weights) in the user's cache folder,
under a key made of the weights' hash, the architecture, the sample shape and the batch size: a
second launch reads the IR instead of converting again. OpenVINO's own ``CACHE_DIR`` (beside the
IR) keeps the compiled blobs, so compiling a cached IR takes a fraction of a second. Shapes are
static (they compile and run fastest); another batch size is the IR reshaped and kept as a second IR.

A cache entry (:mod:`~ddim_studio.core.models.ir_cache`) holds a manifest with the sizes and hashes
of both files, written last: a missing manifest (a conversion cut short), a truncated or altered
file is converted again, with a note. The least recently used entries go when the cache outgrows
its budget.
A cache folder that cannot be written (a full disk) leaves the converted model in memory for this
run, with a note.

Each call runs as an asynchronous infer request that the call polls: a stop flag registered by
:func:`~ddim_studio.core.models.interrupt.interruptible` cancels the request mid-call.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import warnings
from pathlib import Path
from typing import Any

import torch

from ddim_studio.core.models.diffusers_adapter import DiffusersUNet
from ddim_studio.core.models.interrupt import StopChecks
from ddim_studio.core.models.ir_cache import IRCache
from ddim_studio.core.resources import CACHE_ENV, cache_dir

__all__ = ["CACHE_ENV", "OpenVINOUNet", "cache_root", "import_openvino", "weights_key"]

#: Set to a folder to keep converted models there instead of the user cache folder.
#: Bumped when the conversion changes, so older cache entries are not reused.
FORMAT_VERSION = 2
#: How often a running call looks at its stop flags (milliseconds).
POLL_MS = 5
#: OpenVINO's names of the two precisions.
HINTS = {"exact": "f32", "fast": "bf16"}


def import_openvino() -> Any:
    """``import openvino``; an ImportError when it is not installed (or cannot load)."""
    import openvino

    return openvino


def cache_root() -> Path:
    """Where converted models live: ``$DDIM_STUDIO_CACHE_DIR`` or the user cache folder."""
    return cache_dir("openvino")


def weights_key(unet: torch.nn.Module, sample_shape: tuple[int, int, int], version: str) -> str:
    """A hash of the weights, the architecture, the sample shape and the OpenVINO version."""
    digest = hashlib.blake2b(digest_size=16)
    config = dict(getattr(unet, "config", {}) or {})
    header = {"format": FORMAT_VERSION, "openvino": version, "shape": list(sample_shape)}
    digest.update(json.dumps([header, config], sort_keys=True, default=str).encode())
    for name, tensor in unet.state_dict().items():
        flat = tensor.detach().to("cpu").contiguous().reshape(-1)
        digest.update(f"{name}:{flat.dtype}:{list(tensor.shape)}".encode())
        digest.update(flat.view(torch.uint8).numpy().data)
    return digest.hexdigest()


class _Given(torch.nn.Module):
    """Stands in for the UNet's ``time_proj`` while tracing: returns the embedding it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.value: torch.Tensor | None = None

    def forward(self, _timesteps: torch.Tensor) -> torch.Tensor:
        assert self.value is not None
        return self.value


class _Wrapped(torch.nn.Module):
    """``(x, t_emb) -> unet(x, t).sample`` with the sinusoidal ``t_emb = time_proj(t)`` as an input.

    The sinusoid of t is computed by torch in float32 before each call, whatever precision the
    network runs in: in bfloat16 (8 bits of mantissa) a timestep such as 999 would be off by 2 and
    its sine meaningless, so it is never left to the plugin's choice of precision.
    """

    def __init__(self, unet: torch.nn.Module, given: _Given) -> None:
        super().__init__()
        self.unet = unet
        self.given = given

    def forward(self, x: torch.Tensor, t_emb: torch.Tensor) -> torch.Tensor:
        self.given.value = t_emb
        steps = torch.zeros(x.shape[0], dtype=torch.long)  # ignored: time_proj returns t_emb
        return self.unet(x, steps).sample


def trace_to_openvino(ov: Any, unet: torch.nn.Module, x: torch.Tensor, t: torch.Tensor) -> Any:
    """``ov.convert_model`` of the UNet with inputs ``(x, time_proj(t))``; the UNet is left unchanged."""
    original = unet.time_proj
    given = _Given()
    with torch.no_grad():
        t_emb = original(t).float()  # type: ignore[operator]
    unet.time_proj = given
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the tracer's warnings about shape asserts in diffusers
            return ov.convert_model(_Wrapped(unet, given).eval(), example_input=(x, t_emb))
    finally:
        unet.time_proj = original
        given.value = None


class OpenVINOUNet:
    """A diffusers ``UNet2DModel`` run by OpenVINO: ``model(x_t, t)`` like :class:`DiffusersUNet`.

    Attributes:
        source: the model the IR was converted from (its torch network is built only to convert).
        schedule: the model's training noise schedule.
        sample_shape: (C, H, W) of one sample.
        precision: ``exact`` (f32) or ``fast`` (bf16).
        stop_checks: the stop flags a running call polls (see ``interruptible``).
        notes: what happened while preparing (conversion time, a damaged cache…), one line each.
        convert_seconds: time spent converting (0 when every IR came from the cache).
    """

    def __init__(
        self,
        source: DiffusersUNet,
        *,
        precision: str = "exact",
        cache_dir: Path | None = None,
        threads: int | None = None,
    ) -> None:
        self.ov = import_openvino()
        self.source = source
        self.schedule = source.schedule
        self.sample_shape = tuple(source.sample_shape)
        self.precision = precision
        self.stop_checks = StopChecks()
        self.notes: list[str] = []
        self.convert_seconds = 0.0
        self.core = self.ov.Core()
        self.threads = threads
        root = Path(cache_dir) if cache_dir is not None else cache_root()
        self.cache = IRCache(root, self._weights_key(root))
        self._compiled: dict[int, Any] = {}
        self._requests: dict[int, Any] = {}
        self._memory_models: dict[int, Any] = {}
        self._lock = threading.Lock()
        self.embedding_size = int(source.time_embedding(torch.zeros(1, dtype=torch.long)).shape[-1])

    @property
    def unet(self) -> torch.nn.Module:
        """The torch UNet the IR is converted from (built now if its load deferred it)."""
        return self.source.unet  # type: ignore[no-any-return]

    def _weights_key(self, root: Path) -> str:
        """:func:`weights_key` of the source, read from the alias of its file's fingerprint when known.

        Hashing the weights needs the torch network; a file already hashed on this machine (same
        path, size, time and config: ``source.fingerprint``) has its key kept beside the IRs, so
        a model whose IR is on disk runs without building the torch network at all.
        """
        shape = (int(self.sample_shape[0]), int(self.sample_shape[1]), int(self.sample_shape[2]))
        alias = None
        if self.source.fingerprint:
            name = f"{self.source.fingerprint}-{FORMAT_VERSION}-{self.ov.__version__}-{shape}"
            alias = root / "aliases" / f"{hashlib.blake2b(name.encode(), digest_size=16).hexdigest()}.txt"
            try:
                key = alias.read_text("ascii").strip()
                if len(key) == 32 and all(c in "0123456789abcdef" for c in key):
                    return key
            except (OSError, ValueError):
                pass
        key = weights_key(self.unet, shape, self.ov.__version__)
        if alias is not None:
            try:
                alias.parent.mkdir(parents=True, exist_ok=True)
                alias.write_text(key, "ascii")
            except OSError:  # a full disk: the next launch hashes the weights again
                pass
        return key

    # ---- preparing ------------------------------------------------------------------------------
    def needs_conversion(self, batch: int) -> bool:
        """Whether preparing ``batch`` will trace the torch module (no usable IR on disk)."""
        return batch not in self._compiled and not any(
            self.cache.valid(b) is not None for b in self._cached_batches(batch)
        )

    def _cached_batches(self, batch: int) -> list[int]:
        """Batches whose IR may serve ``batch``: ``batch`` itself first, then any other stored."""
        others = []
        if self.cache.root.is_dir():
            prefix = f"{self.cache.key}-b"
            for entry in self.cache.root.iterdir():
                if entry.name.startswith(prefix) and entry.name[len(prefix) :].isdigit():
                    others.append(int(entry.name[len(prefix) :]))
        return [batch] + sorted(b for b in others if b != batch)

    def _convert(self, batch: int) -> Any:
        start = time.perf_counter()
        x = torch.randn((batch, *self.sample_shape), generator=torch.Generator().manual_seed(0))
        t = torch.full((batch,), 500, dtype=torch.long)
        model = trace_to_openvino(self.ov, self.unet, x, t)
        self._reshape(model, batch)
        self.convert_seconds += time.perf_counter() - start
        return model

    def _reshape(self, model: Any, batch: int) -> None:
        model.reshape({0: [batch, *self.sample_shape], 1: [batch, self.embedding_size]})

    def _source(self, batch: int) -> Any:
        """An xml path (cached) or an in-memory model for ``batch``; converts or reshapes as needed."""
        xml = self.cache.valid(batch)
        if xml is not None:
            return xml
        if self.cache.exists(batch):
            self.notes.append("the converted model kept on disk was damaged; it was converted again")
            self.cache.discard(batch)
        model = None
        for other in self._cached_batches(batch)[1:]:
            other_xml = self.cache.valid(other)
            if other_xml is not None:  # a reshape of a stored IR: no tracing
                model = self.core.read_model(str(other_xml))
                self._reshape(model, batch)
                break
        if model is None:
            model = self._convert(batch)
        try:
            return self.cache.store(self.ov, model, batch)
        except OSError as exc:
            self.notes.append(
                f"the converted model could not be kept on disk ({exc.strerror or exc}); "
                "it is converted again at the next launch"
            )
            return model

    def _config(self, cached_batch: int | None) -> dict[str, Any]:
        config: dict[str, Any] = {"INFERENCE_PRECISION_HINT": HINTS[self.precision]}
        if cached_batch is not None:  # the compiled blob lives beside its IR
            config["CACHE_DIR"] = str(self.cache.blob_dir(cached_batch, HINTS[self.precision]))
        if self.threads:
            config["INFERENCE_NUM_THREADS"] = int(self.threads)
        return config

    def prepare(self, batch: int) -> None:
        """Compile the network for ``batch`` pictures (converting it first if nothing is cached)."""
        batch = max(1, int(batch))
        if batch in self._compiled:
            return
        source = self._source(batch)
        if isinstance(source, Path):
            try:
                compiled = self.core.compile_model(str(source), "CPU", self._config(batch))
                self.cache.mark_used(batch)
            except RuntimeError:  # a damaged entry that passed the manifest, or an unwritable CACHE_DIR
                self.notes.append("the converted model kept on disk could not be read; converted again")
                self.cache.discard(batch)
                compiled = self.core.compile_model(self._convert(batch), "CPU", self._config(None))
        else:
            compiled = self.core.compile_model(source, "CPU", self._config(None))
        if len(self._compiled) >= 4:  # a few batch sizes at a time: each holds the weights
            oldest = next(iter(self._compiled))
            self._compiled.pop(oldest)
            self._requests.pop(oldest, None)
        self._compiled[batch] = compiled
        self._requests[batch] = compiled.create_infer_request()

    def precision_used(self) -> str:
        """OpenVINO's precision of the compiled network (``f32``/``bf16``), or the hint if none."""
        for compiled in self._compiled.values():
            hint = compiled.get_property("INFERENCE_PRECISION_HINT")
            return str(hint.get_type_name() if hasattr(hint, "get_type_name") else hint).lower()
        return HINTS[self.precision]

    # ---- calling ---------------------------------------------------------------------------------
    def __call__(self, x_t: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Run the network on ``x_t`` (N, C, H, W) at integer timesteps ``t`` ((N,) or a scalar)."""
        n = x_t.shape[0]
        t = torch.as_tensor(t)
        t = t.reshape(1).expand(n) if t.ndim == 0 else t.reshape(n)
        x = x_t.detach().to(device="cpu", dtype=torch.float32).contiguous().numpy()
        t = t.detach().to(device="cpu", dtype=torch.long)
        steps = self.source.time_embedding(t).numpy()  # the sinusoid in float32 (see _Wrapped)
        with self._lock:
            self.prepare(n)
            request = self._requests[n]
            self._run(request, x, steps)
            out = torch.from_numpy(request.get_output_tensor(0).data.copy())
        channels = self.sample_shape[0]
        if out.shape[1] == 2 * channels:
            out = out[:, :channels]
        return out.to(device=x_t.device, dtype=x_t.dtype)

    def _run(self, request: Any, x: Any, steps: Any) -> None:
        """One inference; polled so a stop flag cancels it part-way."""
        error = self.stop_checks.requested()
        if error is not None:
            raise error("The run was cancelled.")
        if not self.stop_checks.watching():
            request.infer({0: x, 1: steps})
            return
        request.start_async({0: x, 1: steps})
        while not request.wait_for(POLL_MS):
            error = self.stop_checks.requested()
            if error is not None:
                request.cancel()
                try:
                    request.wait()
                except RuntimeError:  # "Infer Request was canceled"
                    pass
                raise error("The run was cancelled.")
