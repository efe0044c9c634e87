"""Downloading a model from the Hugging Face hub: checked first, with progress, cancellable, resumable.

:func:`inspect_repo` fetches a repository's file list and its small JSON files only, and refuses
(:class:`UnsupportedModel`) what the studio cannot drive before a byte of weights is asked for.
:func:`pull` then fetches the safetensors weights with ``huggingface_hub``'s own HTTP download
(its endpoint, headers, retries and cache layout), reporting :class:`DownloadProgress` and
checking a cancel flag between chunks. Bytes go to ``blobs/<etag>.ddim-partial`` and become a blob
only when complete and checked against the hub's SHA-256, so a cancelled or killed download leaves
nothing the loader would open, and the next pull resumes it with an HTTP Range request.

Every function takes ``endpoint`` (default: ``HF_ENDPOINT`` read now, not at import) and
``cache_dir`` (default: huggingface_hub's cache).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ddim_studio.core import hub_cache
from ddim_studio.core.catalogue import find_entry, latent_models_supported
from ddim_studio.core.download_progress import DownloadCancelled, DownloadProgress, Meter, bar_class
from ddim_studio.core.models.config_files import UnparsableText, parse_text
from ddim_studio.core.models.hub import looks_like_hub_id
from ddim_studio.core.models.hub_check import RepoVerdict, UnsupportedModel, check_repository
from ddim_studio.core.models.protocol import ModelLoadError

__all__ = [
    "DownloadCancelled", "DownloadProgress", "PullPlan", "UnsupportedModel", "check_hub_id",
    "default_endpoint", "hub_offline", "inspect_repo", "pull",
]  # fmt: skip

_TRUE = ("1", "on", "yes", "true", "y")
_SHA256 = re.compile(r"[0-9a-f]{64}")
#: Configs are fetched whole; anything larger than this is not a config.
_MAX_CONFIG_BYTES = 1 << 20
#: Bytes handed over per progress step (see :func:`_small_chunks`).
CHUNK_BYTES = 256 * 1024


def default_endpoint() -> str:
    """The hub address: ``HF_ENDPOINT`` if set now, else huggingface_hub's."""
    env = os.environ.get("HF_ENDPOINT", "").strip()
    if env:
        return env.rstrip("/")
    from huggingface_hub import constants

    return constants.ENDPOINT


def hub_offline() -> bool:
    """Whether ``HF_HUB_OFFLINE`` asks for no network (read now; huggingface_hub reads it at import)."""
    from huggingface_hub import constants

    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE or bool(constants.HF_HUB_OFFLINE)


@dataclass
class PullPlan:
    """What :func:`inspect_repo` found: the files to fetch, their sizes and the verdict."""

    repo_id: str
    commit: str
    revision: str
    verdict: RepoVerdict
    configs: list[str]
    weights: dict[str, int]
    config_bytes: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        """Bytes of every file the pull fetches."""
        return self.config_bytes + sum(self.weights.values())


def _words(exc: BaseException) -> str:
    """A hub error in plain words (no exception class)."""
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError

    if isinstance(exc, GatedRepoError):
        return "the model is gated: accept its terms on the hub and log in first"
    if isinstance(exc, RepositoryNotFoundError):
        return "no such model on the hub (or it is private)"
    if isinstance(exc, RevisionNotFoundError):
        return "the hub has no such revision of it"
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else "the connection failed"
    return text[:200]


def _hub_error(repo_id: str, exc: BaseException) -> ModelLoadError:
    return ModelLoadError(f"Could not fetch {repo_id} from the Hugging Face hub: {_words(exc)}.")


def check_hub_id(repo_id: str) -> str:
    """``repo_id`` stripped, if it has the shape ``owner/name``; else a ModelLoadError in words."""
    repo_id = repo_id.strip()
    if not looks_like_hub_id(repo_id):
        raise ModelLoadError(f"'{repo_id[:80]}' is not a hub model id; ids look like google/ddpm-cifar10-32.")
    return repo_id


def _config_files(verdict_files: set[str]) -> list[str]:
    wanted = ["model_index.json", "config.json", "scheduler_config.json"]
    for sub in ("unet", "scheduler", "vqvae", "vae"):
        wanted += [f"{sub}/config.json", f"{sub}/scheduler_config.json"]
    return [name for name in wanted if name in verdict_files]


def inspect_repo(
    repo_id: str,
    *,
    revision: str = "main",
    endpoint: str | None = None,
    cache_dir: Path | None = None,
    allow_pickle: bool = False,
) -> PullPlan:
    """Check ``repo_id`` from its file list and configs (a few kB), before any weights.

    ``allow_pickle`` only serves the ``--allow-pickle`` hub loader's own check: a plan made with it
    may list no safetensors to pull.

    Raises:
        UnsupportedModel: a pipeline, UNet or scheduler the studio cannot drive, no safetensors
            weights, or a latent model this build cannot sample; the message says which in words.
        ModelLoadError: the hub cannot be reached or has no such model, or offline mode is on.
    """
    from huggingface_hub import HfApi, hf_hub_download

    repo_id = check_hub_id(repo_id)
    if hub_offline():
        raise ModelLoadError(f"The hub is switched off (offline mode), so {repo_id} cannot be downloaded.")
    endpoint = endpoint or default_endpoint()
    cache_dir = cache_dir or hub_cache.default_cache_dir()  # HF_HUB_CACHE read now, as the pull does
    try:
        info = HfApi(endpoint=endpoint).model_info(repo_id, revision=revision, files_metadata=True)
    except Exception as exc:  # not found, gated, HTTP and connection errors alike
        raise _hub_error(repo_id, exc) from None
    sizes = {s.rfilename: int(s.size or 0) for s in info.siblings or ()}
    commit = str(info.sha or revision)

    def read(name: str) -> dict[str, Any]:
        if sizes.get(name, 0) > _MAX_CONFIG_BYTES:
            raise UnsupportedModel(f"{repo_id}'s {name} is too large to be a config.")
        try:
            path = hf_hub_download(repo_id, name, revision=revision, cache_dir=cache_dir, endpoint=endpoint)
            data = parse_text(Path(path).read_bytes()[: _MAX_CONFIG_BYTES + 1])
        except UnparsableText as exc:
            raise ModelLoadError(f"{repo_id}'s {name} {exc.reason}.") from None
        except Exception as exc:
            raise _hub_error(repo_id, exc) from None
        if not isinstance(data, dict):
            raise ModelLoadError(f"{repo_id}'s {name} is not a JSON object.")
        return data

    folder = hub_cache.repo_folder(repo_id, cache_dir)
    existed = folder.exists()
    try:
        verdict = check_repository(repo_id, set(sizes), read, allow_pickle=allow_pickle)
        if verdict.kind == "latent" and not latent_models_supported():
            raise UnsupportedModel(
                f"{repo_id} is a latent diffusion model; this version of the studio cannot sample latent "
                "models yet, so it was not downloaded."
            )
    except UnsupportedModel:
        if not existed:  # the configs fetched for the check are no model: leave no trace in the cache
            hub_cache.delete(repo_id, cache_dir)
        raise
    prefixes = [verdict.unet_prefix] + (["vqvae/", "vae/"] if verdict.kind == "latent" else [])
    weights = {
        f"{p}{hub_cache.WEIGHTS}": sizes[f"{p}{hub_cache.WEIGHTS}"]
        for p in prefixes
        if f"{p}{hub_cache.WEIGHTS}" in sizes
    }
    configs = _config_files(set(sizes))
    entry = find_entry(repo_id)
    notes = list(verdict.notes) + (list(entry.notes) if entry else [])
    return PullPlan(
        repo_id, commit, revision, verdict, configs, weights, sum(sizes[c] for c in configs), notes
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _small_chunks() -> None:
    """Make ``http_get`` hand over bytes in chunks of at most :data:`CHUNK_BYTES`.

    huggingface_hub reads ``constants.DOWNLOAD_CHUNK_SIZE`` (10 MB) at every download; with chunks
    that large the bar moves, and a cancel lands, once per 10 MB (seconds apart on a slow line).
    Lowering it changes nothing else (the bytes and the file are the same).
    """
    from huggingface_hub import constants

    if constants.DOWNLOAD_CHUNK_SIZE > CHUNK_BYTES:
        constants.DOWNLOAD_CHUNK_SIZE = CHUNK_BYTES


def _fetch_weights(
    plan: PullPlan, filename: str, meter: Meter, endpoint: str, cache_dir: Path | None
) -> None:
    """Fetch one weight file into the cache, resuming a partial one; link it into the snapshot."""
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.file_download import http_get
    from huggingface_hub.utils import build_hf_headers

    folder = hub_cache.repo_folder(plan.repo_id, cache_dir)
    url = hf_hub_url(plan.repo_id, filename, revision=plan.commit, endpoint=endpoint)
    meta = get_hf_file_metadata(url, endpoint=endpoint)
    etag = (meta.etag or "").strip('"').removeprefix("W/").strip('"')
    if not re.fullmatch(r"[A-Za-z0-9._-]{1,128}", etag):
        raise ModelLoadError(f"The hub gave no usable version tag for {plan.repo_id}'s {filename}.")
    size = int(meta.size if meta.size is not None else plan.weights[filename])
    blob = folder / "blobs" / etag
    meter.filename = filename
    if not blob.is_file():
        partial = blob.with_name(etag + hub_cache.PARTIAL_SUFFIX)
        partial.parent.mkdir(parents=True, exist_ok=True)
        resume = partial.stat().st_size if partial.is_file() else 0
        if resume > size:
            partial.unlink()
            resume = 0
        meter.add(resume, force=True, arrived=False)
        headers = build_hf_headers()
        if urlsplit(meta.location).netloc != urlsplit(url).netloc:
            headers.pop("authorization", None)  # never send a token to a storage host
        _small_chunks()
        with partial.open("ab") as fh:
            http_get(meta.location, fh, resume_size=resume, headers=headers, expected_size=size,
                     tqdm_class=bar_class(meter))  # fmt: skip
        if _SHA256.fullmatch(etag) and _sha256(partial) != etag:
            partial.unlink()
            raise ModelLoadError(
                f"{plan.repo_id}'s {filename} arrived damaged (its checksum differs); download it again."
            )
        os.replace(partial, blob)
    else:
        meter.add(blob.stat().st_size, force=True, arrived=False)
    hub_cache.place_blob(folder, plan.commit, filename, blob)


def pull(
    repo_id: str,
    *,
    on_progress: Callable[[DownloadProgress], None] | None = None,
    cancelled: Callable[[], bool] = lambda: False,
    revision: str = "main",
    endpoint: str | None = None,
    cache_dir: Path | None = None,
    plan: PullPlan | None = None,
) -> Path:
    """Check and download ``repo_id`` into the hub cache; returns its snapshot folder.

    Args:
        repo_id: ``owner/name``.
        on_progress: called with a :class:`DownloadProgress` while bytes arrive (from this thread).
        cancelled: polled between chunks; True stops the download (what arrived stays, to resume).
        revision: the branch or commit.
        endpoint: the hub address (default ``HF_ENDPOINT``).
        cache_dir: the hub cache (default huggingface_hub's).
        plan: a plan :func:`inspect_repo` already made (skips the check).

    Raises:
        UnsupportedModel: the model cannot be driven (nothing but its configs was fetched).
        DownloadCancelled: ``cancelled()`` became true.
        ModelLoadError: the hub cannot be reached, or a file arrived damaged.
    """
    from filelock import FileLock, Timeout

    endpoint = endpoint or default_endpoint()
    plan = plan or inspect_repo(repo_id, revision=revision, endpoint=endpoint, cache_dir=cache_dir)
    lock = FileLock(str(pull_lock_path(plan.repo_id, cache_dir)), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise ModelLoadError(
            f"{plan.repo_id} is already being downloaded by another window or command; wait for it to end."
        ) from None
    try:
        return _pull_locked(plan, on_progress, cancelled, endpoint, cache_dir)
    finally:
        lock.release()


def pull_lock_path(repo_id: str, cache_dir: Path | None = None) -> Path:
    """The lock one pull of ``repo_id`` holds (two pulls would append to the same partial file)."""
    folder = hub_cache.repo_folder(repo_id, cache_dir)
    path = folder.parent / ".locks" / folder.name / "ddim-studio-pull.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _pull_locked(
    plan: PullPlan,
    on_progress: Callable[[DownloadProgress], None] | None,
    cancelled: Callable[[], bool],
    endpoint: str,
    cache_dir: Path | None,
) -> Path:
    meter = Meter(plan.repo_id, plan.total_bytes, on_progress, cancelled)
    meter.add(plan.config_bytes, force=True, arrived=False)
    folder = hub_cache.repo_folder(plan.repo_id, cache_dir)
    try:
        for filename in plan.weights:
            _fetch_weights(plan, filename, meter, endpoint, cache_dir)
    except (DownloadCancelled, ModelLoadError):
        raise
    except OSError as exc:
        raise ModelLoadError(f"Could not save {plan.repo_id}: {exc.strerror or exc}.") from None
    except Exception as exc:  # HTTP and connection errors
        raise _hub_error(plan.repo_id, exc) from None
    hub_cache.write_ref(folder, plan.revision, plan.commit)
    (folder / "snapshots" / plan.commit).mkdir(parents=True, exist_ok=True)
    meter.add(0, force=True)
    return folder / "snapshots" / plan.commit
