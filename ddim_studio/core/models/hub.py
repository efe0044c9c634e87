"""Fetching a diffusers UNet folder from the Hugging Face hub by id (``google/ddpm-cifar10-32``).

Only the files the studio reads are downloaded: configs and the UNet's safetensors weights, at the
repository root or in ``unet/`` and ``scheduler/``. Pickled ``.bin`` weights are fetched only when
the caller allows it (they are still opened with the tensors-only loader).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ddim_studio.core.models.protocol import ModelLoadError

_HUB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*")
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pth", ".ckpt", ".pt")
_TRUE = ("1", "on", "yes", "true", "y")


def looks_like_hub_id(source: str) -> bool:
    """Whether ``source`` has the shape ``owner/name`` of a hub repository (not a file path).

    A string ending in a weight-file suffix (``runs/model.ckpt``) is taken for a path.
    """
    return bool(_HUB_ID.fullmatch(source)) and not source.lower().endswith(_WEIGHT_SUFFIXES)


def hub_allow_patterns(allow_pickle: bool = False) -> list[str]:
    """The files :func:`download_from_hub` asks for.

    Args:
        allow_pickle: also fetch ``diffusion_pytorch_model.bin`` (pickled weights).

    Returns:
        Exact file names at the root and in ``unet/`` / ``scheduler/`` (no wildcards, so a
        pipeline repository's text encoder or VAE weights are never downloaded).
    """
    patterns = ["model_index.json", "scheduler_config.json", "scheduler/scheduler_config.json"]
    weights = ["diffusion_pytorch_model.safetensors"]
    if allow_pickle:
        weights.append("diffusion_pytorch_model.bin")
    for prefix in ("", "unet/"):
        patterns.append(f"{prefix}config.json")
        patterns.extend(f"{prefix}{name}" for name in weights)
    return patterns


def _offline_requested() -> bool:
    """``HF_HUB_OFFLINE`` read now (huggingface_hub reads it once, at import)."""
    from huggingface_hub import constants

    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE or bool(constants.HF_HUB_OFFLINE)


def download_from_hub(repo_id: str, *, allow_pickle: bool = False, cache_dir: Path | None = None) -> Path:
    """Download (or find in the cache) the UNet files of ``repo_id`` and return the local folder.

    Args:
        repo_id: ``owner/name`` on the Hugging Face hub.
        allow_pickle: also fetch pickled ``.bin`` weights.
        cache_dir: the hub cache to use (default: huggingface_hub's).

    Raises:
        ModelLoadError: the hub cannot be reached, the repository does not exist or is gated, or
            nothing usable was found (the message says how to open a local copy instead).
    """
    from huggingface_hub import snapshot_download

    from ddim_studio.core.hub_cache import default_cache_dir
    from ddim_studio.core.model_library import default_endpoint

    offline = _offline_requested()
    if not offline:
        precheck(repo_id, cache_dir, allow_pickle=allow_pickle)
    try:
        folder = snapshot_download(
            repo_id,
            allow_patterns=hub_allow_patterns(allow_pickle),
            cache_dir=cache_dir or default_cache_dir(),
            local_files_only=offline,
            endpoint=default_endpoint(),  # HF_ENDPOINT read now, not when huggingface_hub was imported
        )
    except Exception as exc:  # offline, not found, gated, HTTP and connection errors alike
        raise ModelLoadError(hub_failure_words(repo_id, exc)) from None
    return Path(folder)


#: What went wrong, by the names of the hub library's exception classes (and their bases).
_NOT_VALID = ("HFValidationError",)
_NOT_FOUND = ("RepositoryNotFoundError", "RevisionNotFoundError", "EntryNotFoundError")
_GATED = ("GatedRepoError",)
_NO_CONNECTION = ("LocalEntryNotFoundError", "OfflineModeIsEnabled")
_NETWORK = ("ConnectionError", "ConnectError", "Timeout", "TimeoutException", "gaierror", "OSError")
ELSEWHERE = "download the folder elsewhere and open it with --model PATH"  # the window says its menu


def hub_failure_words(repo_id: str, exc: BaseException) -> str:
    """One plain sentence for a failed hub download: no library text, error class or errno."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    if names & set(_NOT_VALID):
        return f"'{repo_id}' is not a model id: an id looks like owner/name (e.g. google/ddpm-cifar10-32)."
    if names & set(_NO_CONNECTION):  # first: the hub's "not in the cache and offline" is a not-found too
        return f"Could not reach the Hugging Face hub for '{repo_id}' (offline?); {ELSEWHERE}."
    if names & set(_GATED):  # before not-found: a gated repository is a kind of it
        return f"'{repo_id}' on the Hugging Face hub needs a login and accepted terms; {ELSEWHERE}."
    if names & set(_NOT_FOUND):
        return f"No model '{repo_id}' was found on the Hugging Face hub; check the id (owner/name)."
    if names & set(_NETWORK):  # connection refused, name not resolved ("[Errno -2]"), timeouts
        return f"Could not reach the Hugging Face hub for '{repo_id}' (offline?); {ELSEWHERE}."
    return f"The Hugging Face hub did not provide '{repo_id}'; {ELSEWHERE}."


def precheck(repo_id: str, cache_dir: Path | None = None, *, allow_pickle: bool = False) -> None:
    """Refuse a repository the studio cannot drive from its configs, before its weights are fetched.

    Only a verdict is acted on: when the check itself cannot reach the hub, the download below
    says so in its own words.

    Raises:
        UnsupportedModel: a pipeline, UNet or scheduler the studio cannot drive (named in words).
    """
    from ddim_studio.core.model_library import UnsupportedModel, inspect_repo

    try:
        inspect_repo(repo_id, cache_dir=cache_dir, allow_pickle=allow_pickle)
    except UnsupportedModel as exc:
        if "no safetensors weights" in str(exc) and not allow_pickle:  # the loader may still open .bin
            raise UnsupportedModel(f"{repo_id}: {missing_weights_hint(False)}.") from None
        raise
    except ModelLoadError:
        return


def missing_weights_hint(allow_pickle: bool) -> str:
    """What to say when a hub download holds no weights the studio may open."""
    if allow_pickle:
        return "the repository has no diffusion_pytorch_model.safetensors or .bin at its root or in unet/"
    return (
        "the repository has no diffusion_pytorch_model.safetensors; if it only ships pickled .bin "
        "weights, allow them with --allow-pickle (they are still opened as tensors only)"
    )
