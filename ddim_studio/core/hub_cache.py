"""The models on disk in huggingface_hub's cache: what is there, how large, and deleting one.

The cache layout is huggingface_hub's own (``models--owner--name/{blobs,snapshots,refs}``), so
models the library downloads are found by ``snapshot_download``/``hf_hub_download`` and by any other
tool using the cache, and models those tools downloaded show up here. A download in progress or
interrupted lives beside the blobs as ``blobs/<etag>.ddim-partial``: no snapshot points at it,
so the loader never finds half a file, and the next download resumes from it.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

PARTIAL_SUFFIX = ".ddim-partial"
WEIGHTS = "diffusion_pytorch_model.safetensors"
_PREFIX = "models--"


def default_cache_dir() -> Path:
    """huggingface_hub's cache folder (``HF_HUB_CACHE`` / ``HF_HOME`` respected, read now)."""
    env = os.environ.get("HF_HUB_CACHE")
    if env:
        return Path(env).expanduser()
    home = os.environ.get("HF_HOME")
    if home:
        return Path(home).expanduser() / "hub"
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def repo_folder(repo_id: str, cache_dir: Path | None = None) -> Path:
    """``<cache>/models--owner--name``, the folder of one model repository."""
    return (cache_dir or default_cache_dir()) / (_PREFIX + repo_id.replace("/", "--"))


def _repo_id(folder: Path) -> str | None:
    name = folder.name
    if not name.startswith(_PREFIX) or "--" not in name[len(_PREFIX) :]:
        return None
    return name[len(_PREFIX) :].replace("--", "/", 1)


def folder_size(folder: Path) -> int:
    """Bytes of the regular files under ``folder`` (symlinks not followed, so blobs count once)."""
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            path = Path(root) / name
            try:
                if not path.is_symlink():
                    total += path.stat().st_size
            except OSError:
                continue
    return total


@dataclass(frozen=True)
class DiskModel:
    """A repository in the hub cache.

    Attributes:
        repo_id: ``owner/name``.
        folder: its cache folder.
        size_bytes: bytes it takes on disk (partial downloads included).
        partial_bytes: bytes of interrupted downloads (resumable).
        snapshot: the newest snapshot folder holding UNet weights, or None (not complete).
    """

    repo_id: str
    folder: Path
    size_bytes: int
    partial_bytes: int
    snapshot: Path | None

    @property
    def complete(self) -> bool:
        """Whether a snapshot holds the UNet's weights (it can be opened offline)."""
        return self.snapshot is not None


def _complete_snapshot(folder: Path) -> Path | None:
    snapshots = folder / "snapshots"
    if not snapshots.is_dir():
        return None
    ref = folder / "refs" / "main"
    preferred = ref.read_text(encoding="utf-8").strip() if ref.is_file() else ""
    candidates = sorted(snapshots.iterdir(), key=lambda p: (p.name != preferred, -_mtime(p)))
    for snap in candidates:
        if (snap / WEIGHTS).exists() or (snap / "unet" / WEIGHTS).exists():
            return snap
    return None


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def partial_files(folder: Path) -> list[Path]:
    """The interrupted downloads of a repository folder."""
    blobs = folder / "blobs"
    return sorted(blobs.glob(f"*{PARTIAL_SUFFIX}")) if blobs.is_dir() else []


def describe(folder: Path) -> DiskModel | None:
    """A :class:`DiskModel` for one cache folder (None when it is not a model repository)."""
    repo_id = _repo_id(folder)
    if repo_id is None or not folder.is_dir():
        return None
    partial = sum(p.stat().st_size for p in partial_files(folder))
    return DiskModel(repo_id, folder, folder_size(folder), partial, _complete_snapshot(folder))


def on_disk(cache_dir: Path | None = None) -> list[DiskModel]:
    """Every model repository in the hub cache, by id."""
    cache = cache_dir or default_cache_dir()
    if not cache.is_dir():
        return []
    found = (describe(p) for p in sorted(cache.iterdir()) if p.name.startswith(_PREFIX))
    return [m for m in found if m is not None]


def find_on_disk(repo_id: str, cache_dir: Path | None = None) -> DiskModel | None:
    """The cached repository ``repo_id``, or None."""
    return describe(repo_folder(repo_id, cache_dir))


def delete(repo_id: str, cache_dir: Path | None = None) -> int:
    """Remove ``repo_id`` from the hub cache (complete and partial files); returns the bytes freed."""
    folder = repo_folder(repo_id, cache_dir)
    if not folder.is_dir():
        return 0
    size = folder_size(folder)
    shutil.rmtree(folder)
    locks = (cache_dir or default_cache_dir()) / ".locks" / folder.name
    shutil.rmtree(locks, ignore_errors=True)
    return size


def place_blob(folder: Path, commit: str, filename: str, blob: Path) -> Path:
    """Link ``snapshots/<commit>/<filename>`` to ``blob`` as huggingface_hub does (copy without symlinks)."""
    target = folder / "snapshots" / commit / filename
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.is_symlink() or target.exists():
        target.unlink()
    try:
        target.symlink_to(os.path.relpath(blob, target.parent))
    except OSError:  # no symlinks (Windows without developer mode): a copy, as huggingface_hub does
        shutil.copy2(blob, target)
    return target


def write_ref(folder: Path, revision: str, commit: str) -> None:
    """Record that ``revision`` (``main``) is ``commit``, as huggingface_hub does."""
    if revision == commit:
        return
    ref = folder / "refs" / revision
    ref.parent.mkdir(parents=True, exist_ok=True)
    ref.write_text(commit, encoding="utf-8")
