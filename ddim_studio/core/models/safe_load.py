"""Loading tensors from files without ever running code that came with them.

Two formats reach the studio:

* **safetensors**: a length-prefixed JSON header and raw bytes. The header length is checked
  against the file size before anything is allocated, and every tensor's byte range is checked
  against the data section, so a truncated or lying file is a :class:`ModelLoadError`, not a
  ``MemoryError`` or a crash.
* **PyTorch pickles** (``.bin``, ``.pth``, ``.ckpt``, ``.pt``): a pickle can call any Python
  function while it loads. Two independent layers keep that from happening:

  1. Before torch sees the file, the pickle's opcodes are scanned and every global it would
     import must be on a short allow-list (``OrderedDict``, torch's tensor rebuild functions,
     storage classes, dtypes). The zip container must look exactly like what ``torch.save``
     writes (one ``data.pkl``, no unknown members).
  2. The file is then read with ``torch.load(..., weights_only=True)``, torch's restricted
     unpickler. ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` only overrides ``weights_only`` when the
     call leaves it unset (torch 2.5 – 2.13), but it is removed from the environment for the
     duration of the call all the same, so no torch version can turn this into a full unpickle.

Every failure is a :class:`ModelLoadError` whose message says what is wrong with the file.
"""

from __future__ import annotations

import math
import os
import pickle
import pickletools
import re
import tarfile
import threading
import zipfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import torch

from ddim_studio.core.limits import MAX_CHECKPOINT_FILE_BYTES, check_regular_file
from ddim_studio.core.models.config_files import UnparsableText, parse_text
from ddim_studio.core.models.protocol import ModelLoadError

SAFETENSORS_SUFFIXES = (".safetensors",)
PICKLE_SUFFIXES = (".bin", ".pth", ".ckpt", ".pt")

#: safetensors itself refuses headers above 100 MB; a real header is a few hundred kB at most.
MAX_SAFETENSORS_HEADER = 100 * 1024 * 1024
#: ``data.pkl`` of a state dict is kilobytes (≈ 100 bytes per tensor); anything this large is not a
#: checkpoint. Bounds the uncompressed ``data.pkl`` of the zip format and the pickles of the legacy one.
MAX_PICKLE_BYTES = 64 * 1024 * 1024
#: Opcodes scanned in all the pickles of one file: a state dict takes ≈ 30 per tensor, so this allows
#: 30 000 tensors (large UNets have about 1000) and stops a pickle of 250 million ``NONE`` opcodes
#: (255 kB deflated) after about a second instead of tying the loader up for minutes.
MAX_PICKLE_OPS = 1_000_000

_SAFETENSORS_ITEMSIZE = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1,
    "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
    "I32": 4, "U32": 4, "F32": 4,
    "I64": 8, "U64": 8, "F64": 8,
}  # fmt: skip

_SAFE_GLOBALS = frozenset(
    {
        "collections.OrderedDict",
        "collections.Counter",
        "torch.nn.parameter.Parameter",
        "torch.Tensor",
        "torch.Size",
        "torch.device",
        "_codecs.encode",  # how protocol 2 stores bytes
        "builtins.set",
        "builtins.frozenset",
        "builtins.bytearray",
        "builtins.complex",
        "torch._utils._rebuild_tensor",
        "torch._utils._rebuild_tensor_v2",
        "torch._utils._rebuild_tensor_v3",
        "torch._utils._rebuild_parameter",
        "torch._utils._rebuild_parameter_with_state",
        "torch._tensor._rebuild_from_type_v2",
    }
    | {f"{cls.__module__}.{cls.__name__}" for cls in torch._storage_classes}
    | {f"{cls.__module__}.{cls.__name__}" for cls in torch._tensor_classes}
)

# Members torch.save writes into its zip, relative to the single top-level folder.
_ZIP_MEMBER = re.compile(
    r"data\.pkl|version|\.format_version|\.storage_alignment|byteorder"
    r"|\.data/serialization_id|\.data/version|data/\w+|data/|\.data/|"
)
_STRING_OPS = frozenset(
    {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "STRING", "BINSTRING", "SHORT_BINSTRING"}
)
_PUT_OPS = frozenset({"PUT", "BINPUT", "LONG_BINPUT"})
_GET_OPS = frozenset({"GET", "BINGET", "LONG_BINGET"})
_SILENT_OPS = frozenset({"PROTO", "FRAME"})
_ENV_LOCK = threading.Lock()


def _is_dtype_global(qualname: str) -> bool:
    """Whether ``qualname`` names a torch dtype such as ``torch.float32``."""
    module, _, name = qualname.rpartition(".")
    return module == "torch" and isinstance(getattr(torch, name, None), torch.dtype)


def _refuse_code(source: str, what: str) -> ModelLoadError:
    return ModelLoadError(
        f"Refusing to load '{source}': it contains code ({what}), not only tensors, and loading it "
        "would run that code. Only open checkpoints you trust; if you trust this one, convert it to "
        "safetensors in a separate Python session (safetensors.torch.save_file(state_dict, "
        "'model.safetensors')) and open the .safetensors file instead."
    )


class _Budget:
    """Opcodes left for the pickles of one file (shared by the legacy format's five pickles)."""

    def __init__(self, ops: int = MAX_PICKLE_OPS) -> None:
        self.ops = ops


def _too_much_work(source: str) -> ModelLoadError:
    return ModelLoadError(
        f"'{source}' is not a checkpoint the studio opens: its pickle has more than {MAX_PICKLE_OPS:,} "
        "instructions, far more than any model's weights need."
    )


def check_pickle(stream: IO[bytes], source: str, budget: _Budget | None = None) -> None:
    """Scan one pickle's opcodes (up to its STOP) and refuse any global outside the allow-list.

    Nothing is unpickled: ``pickletools.genops`` only decodes opcodes. ``STACK_GLOBAL`` takes its
    module and name from earlier string pushes (directly or through the memo); when they cannot be
    resolved the pickle is refused.

    Args:
        stream: a binary stream positioned at the start of a pickle.
        source: the file name used in messages.

    Raises:
        ModelLoadError: a disallowed global or extension opcode, or bytes that are not a pickle.
    """
    memo: dict[Any, Any] = {}
    pushed: list[Any] = []
    budget = budget or _Budget()
    try:
        for op, arg, _pos in pickletools.genops(stream):
            budget.ops -= 1
            if budget.ops < 0:
                raise _too_much_work(source)
            name = op.name
            if name in ("GLOBAL", "INST"):
                module, _, attr = str(arg).partition(" ")
                _check_global(f"{module}.{attr}", source)
            elif name == "STACK_GLOBAL":
                if len(pushed) < 2 or not all(isinstance(v, str) for v in pushed[-2:]):
                    raise _refuse_code(source, "an import whose name is computed at load time")
                _check_global(f"{pushed[-2]}.{pushed[-1]}", source)
            elif name in ("EXT1", "EXT2", "EXT4"):
                raise _refuse_code(source, "an import through the copyreg extension registry")
            if name in _STRING_OPS:
                pushed.append(arg)
            elif name in _PUT_OPS:
                memo[arg] = pushed[-1] if pushed else None
            elif name == "MEMOIZE":
                memo[len(memo)] = pushed[-1] if pushed else None
            elif name in _GET_OPS:
                pushed.append(memo.get(arg))
            elif name not in _SILENT_OPS:
                pushed.append(None)
    except ModelLoadError:
        raise
    except Exception as exc:  # genops: ValueError on bad opcodes or a missing STOP, EOF, etc.
        raise ModelLoadError(
            f"'{source}' is not a readable PyTorch checkpoint (its pickle data is corrupt: {exc})."
        ) from None


def _check_global(qualname: str, source: str) -> None:
    if qualname.startswith("__builtin__."):  # protocol 2 spelling; unpicklers map it to builtins
        qualname = "builtins." + qualname[len("__builtin__.") :]
    if qualname in _SAFE_GLOBALS or _is_dtype_global(qualname):
        return
    raise _refuse_code(source, f"a reference to {qualname}")


def _zip_pickle(zf: zipfile.ZipFile, source: str) -> None:
    """Check that a zip is shaped like ``torch.save`` output, then scan its ``data.pkl``."""
    names = zf.namelist()
    if not names:
        raise ModelLoadError(f"'{source}' is an empty zip archive, not a PyTorch checkpoint.")
    duplicates = sorted(n for n, count in Counter(names).items() if count > 1)
    if duplicates:
        raise ModelLoadError(f"'{source}' is a malformed checkpoint: {duplicates[0]!r} appears twice.")
    prefixes = {n.split("/", 1)[0] for n in names}
    if len(prefixes) != 1 or any("/" not in n for n in names):
        raise ModelLoadError(
            f"'{source}' is not a PyTorch checkpoint: torch.save puts every member in one folder, "
            f"this archive has {sorted(prefixes)[:4]}."
        )
    prefix = prefixes.pop()
    pickles = [n for n in names if n.endswith(".pkl")]
    if pickles != [f"{prefix}/data.pkl"]:
        raise ModelLoadError(
            f"'{source}' is not a plain PyTorch checkpoint: expected one '{prefix}/data.pkl', "
            f"found {pickles[:4] or 'none'}."
        )
    for name in names:
        if not _ZIP_MEMBER.fullmatch(name[len(prefix) + 1 :]):
            raise ModelLoadError(
                f"'{source}' is not a plain PyTorch checkpoint: unexpected member {name!r} "
                "(TorchScript archives and other containers are not opened)."
            )
    info = zf.getinfo(pickles[0])
    if info.file_size > MAX_PICKLE_BYTES:
        raise ModelLoadError(f"'{source}': its data.pkl is {info.file_size:,} bytes, too large for weights.")
    # Scanned while it is inflated: a deflated pickle of useless opcodes is stopped by the budget
    # long before it is all decompressed.
    with zf.open(info) as member:
        check_pickle(_ZipStream(member, source), source)  # type: ignore[arg-type]


def _zip_damaged(source: str, exc: BaseException) -> ModelLoadError:
    return ModelLoadError(
        f"'{source}' is not a checkpoint torch can read safely: its zip archive is damaged or "
        f"uses a feature torch.save never writes ({type(exc).__name__}: {exc})."
    )


class _ZipStream:
    """A zip member read for :func:`check_pickle`: what zipfile raises (a bad CRC, zlib or bz2
    errors…) is a :class:`ModelLoadError` about the zip, not mistaken for a corrupt pickle."""

    def __init__(self, member: IO[bytes], source: str) -> None:
        self._member, self._source, self._pos = member, source, 0

    def _do(self, read: Any, size: int) -> bytes:
        try:
            data: bytes = read(size)
        except Exception as exc:
            raise _zip_damaged(self._source, exc) from None
        self._pos += len(data)
        return data

    def read(self, size: int = -1) -> bytes:
        return self._do(self._member.read, size)

    def readline(self, size: int = -1) -> bytes:
        return self._do(self._member.readline, size)

    def tell(self) -> int:
        return self._pos


def _prescan(path: Path) -> None:
    """Check every pickle that ``torch.load`` would read from ``path`` before it reads them."""
    source = path.name
    with path.open("rb") as fh:
        magic = fh.read(4)
    if magic == b"PK\x03\x04":  # torch.load's own test for the zip format
        try:
            with zipfile.ZipFile(path) as zf:
                _zip_pickle(zf, source)
        except ModelLoadError:
            raise
        except Exception as exc:
            # Reading an untrusted zip fails in many ways besides BadZipFile: NotImplementedError
            # (a "version needed" above zipfile's, an unknown compression method), RuntimeError (an
            # encrypted member), zlib/bz2/lzma errors (a compression torch.save never uses), EOFError,
            # OSError, ValueError... Whatever zipfile raises, torch will not be given this file.
            raise _zip_damaged(source, exc) from None
        return
    if tarfile.is_tarfile(path):
        raise ModelLoadError(
            f"'{source}' uses PyTorch's pre-1.0 tar format, which the studio does not open; "
            "re-save it with a current torch.save or as safetensors."
        )
    # Legacy format: magic number, protocol, sys_info, the object, storage keys; then raw bytes.
    budget = _Budget()
    with path.open("rb") as fh:
        for _ in range(5):
            check_pickle(fh, source, budget)
            if fh.tell() > MAX_PICKLE_BYTES:
                raise ModelLoadError(
                    f"'{source}': its pickled part is over {MAX_PICKLE_BYTES:,} bytes, too large for weights."
                )


@contextmanager
def _weights_only_environment() -> Iterator[None]:
    """Hide ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` from torch for the duration of one load."""
    with _ENV_LOCK:
        saved = os.environ.pop("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", None)
        try:
            yield
        finally:
            if saved is not None:
                os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] = saved


def _check_file(path: Path) -> int:
    """Return the size of ``path`` or raise a ModelLoadError saying why it cannot be read.

    Only regular files up to :data:`limits.MAX_CHECKPOINT_FILE_BYTES` (a FIFO would block the
    reader, a device would feed it without end).
    """
    size = check_regular_file(
        path, MAX_CHECKPOINT_FILE_BYTES, "a checkpoint", lambda _k, msg: ModelLoadError(msg)
    )
    if size == 0:
        raise ModelLoadError(f"'{path}' is empty.")
    return size


def _unpickler_detail(exc: BaseException) -> str:
    """The useful line of torch's long weights-only error message."""
    text = str(exc)
    match = re.search(r"WeightsUnpickler error:\s*(.+)", text)
    if match:
        return match.group(1).strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def load_pickle_checkpoint(path: str | Path) -> Any:
    """Load a ``.bin``/``.pth``/``.ckpt``/``.pt`` file with tensors only, on the CPU.

    Args:
        path: the checkpoint file.

    Returns:
        Whatever the file holds (usually a state dict, or a list/dict of them), built only from
        tensors, containers and plain values.

    Raises:
        ModelLoadError: the file holds code or objects other than tensors, or cannot be read.
    """
    path = Path(path)
    _check_file(path)
    try:
        _prescan(path)
    except OSError as exc:
        raise ModelLoadError(f"Cannot read '{path}': {exc.strerror or exc}.") from None
    try:
        with _weights_only_environment():
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise ModelLoadError(
            f"Refusing to load '{path.name}': torch's tensors-only loader cannot read it "
            f"({_unpickler_detail(exc)}); it holds objects other than plain tensors or uses a pickle "
            "feature that loader lacks. If you trust the file, convert it to safetensors and open that."
        ) from None
    except Exception as exc:  # RuntimeError, EOFError, KeyError, MemoryError … from torch
        detail = " ".join(str(exc).split())[:300]  # pybind's messages run over several lines
        if "incompatible function arguments" in detail:  # torch's C++ reader given a negative size…
            detail = "a tensor record has an impossible size or offset"
        raise ModelLoadError(
            f"'{path.name}' is not a readable PyTorch checkpoint ({type(exc).__name__}: {detail})."
        ) from None


def _check_safetensors_header(path: Path, size: int) -> None:
    """Validate the header length, JSON and tensor byte ranges of a safetensors file."""
    name = path.name
    if size < 8:
        raise ModelLoadError(f"'{name}' is truncated: {size} bytes is too short for a safetensors file.")
    with path.open("rb") as fh:
        header_len = int.from_bytes(fh.read(8), "little")
        if header_len > size - 8 or header_len > MAX_SAFETENSORS_HEADER or header_len < 2:
            raise ModelLoadError(
                f"'{name}' is not a valid safetensors file: its header claims {header_len} bytes but "
                f"the file has {size} (truncated or corrupt; download it again)."
            )
        raw = fh.read(header_len)
    try:
        header = parse_text(raw, "json")
    except UnparsableText as exc:  # also nested too deeply, or an integer too long for Python
        raise ModelLoadError(
            f"'{name}' is not a valid safetensors file: its header is not JSON safetensors can read "
            f"(the header {exc.reason})."
        ) from None
    if not isinstance(header, dict):
        raise ModelLoadError(f"'{name}' is not a valid safetensors file: its header is not a JSON object.")
    data_len = size - 8 - header_len
    for key, entry in header.items():
        if key != "__metadata__":
            _check_safetensors_entry(name, key, entry, data_len)


def _check_safetensors_entry(name: str, key: str, entry: Any, data_len: int) -> None:
    try:
        itemsize = _SAFETENSORS_ITEMSIZE[entry["dtype"]]
        shape = [int(d) for d in entry["shape"]]
        begin, end = (int(o) for o in entry["data_offsets"])
    except (KeyError, TypeError, ValueError, OverflowError):  # OverflowError: int(Infinity)
        raise ModelLoadError(
            f"'{name}' is not a valid safetensors file: tensor {key!r} has a malformed or unsupported entry."
        ) from None
    if any(d < 0 for d in shape) or not 0 <= begin <= end:
        raise ModelLoadError(f"'{name}' is not a valid safetensors file: tensor {key!r} has a bad shape.")
    if end > data_len:
        raise ModelLoadError(
            f"'{name}' is truncated: tensor {key!r} ends at byte {end} of the data but the file holds "
            f"{data_len}; download it again."
        )
    if end - begin != math.prod(shape) * itemsize:
        raise ModelLoadError(
            f"'{name}' is corrupt: tensor {key!r} of shape {shape} does not fill its {end - begin} bytes."
        )


def load_safetensors(path: str | Path, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """Load every tensor of a ``.safetensors`` file after checking its header against the file size.

    Args:
        path: the file.
        device: where the tensors are created.

    Returns:
        Tensor name → tensor.

    Raises:
        ModelLoadError: the file is missing, truncated, or its header is malformed.
    """
    from safetensors.torch import load_file

    path = Path(path)
    size = _check_file(path)
    _check_safetensors_header(path, size)
    try:
        tensors = load_file(path, device=str(device))
    except Exception as exc:  # SafetensorError, OSError, RuntimeError
        raise ModelLoadError(f"'{path.name}' is not a readable safetensors file ({exc}).") from None
    if torch.device(device).type == "cpu":
        # On the CPU load_file's tensors are views of the file mapped into memory: a file rewritten
        # in place changed a loaded model, and one truncated under it would crash the process at
        # the next call. A copy belongs to the process alone (the mapping is file cache, let go here).
        tensors = {name: tensor.clone() for name, tensor in tensors.items()}
    return tensors


def load_checkpoint(path: str | Path) -> Any:
    """Load a tensor file by its suffix: safetensors directly, pickles with tensors only.

    Args:
        path: a ``.safetensors``, ``.bin``, ``.pth``, ``.ckpt`` or ``.pt`` file.

    Returns:
        A state dict for safetensors; whatever tensors/containers a pickle holds otherwise.

    Raises:
        ModelLoadError: an unknown suffix or any failure of the loaders above.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in SAFETENSORS_SUFFIXES:
        return load_safetensors(path)
    if suffix in PICKLE_SUFFIXES:
        return load_pickle_checkpoint(path)
    raise ModelLoadError(
        f"'{path.name}' has an unknown weight format {suffix or '(no suffix)'!r}; the studio opens "
        f"{', '.join(SAFETENSORS_SUFFIXES + PICKLE_SUFFIXES)}."
    )
