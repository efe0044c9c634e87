"""The model library as both front ends show it: catalogue entries and what is on disk, one row each.

The window's Model ▸ Library… and ``ddim-studio models list`` read the same rows, so they never
disagree about a size or an estimate.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ddim_studio.core import hub_cache
from ddim_studio.core.catalogue import CatalogueEntry, estimated_step_seconds, load_catalogue
from ddim_studio.operations.thumbnails import cached_thumbnail

__all__ = ["LibraryRow", "format_bytes", "library_rows", "local_folder_row"]


def format_bytes(count: float) -> str:
    """``143 MB``, ``1.3 GB``, ``820 kB`` (decimal units, as download sizes are given)."""
    value = float(max(0.0, count))
    for unit in ("B", "kB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            if unit == "B":
                return f"{int(value)} B"
            return f"{value:.1f} {unit}" if value < 10 else f"{value:.0f} {unit}"
        value /= 1000
    return f"{value:.0f} TB"  # pragma: no cover


@dataclass
class LibraryRow:
    """One model as the library shows it.

    Attributes:
        id: the hub id, or a folder path for a model opened from disk.
        entry: its catalogue entry, or None (a model typed by hand or opened from a folder).
        disk: its hub cache record, or None.
        local_folder: a folder opened before (not in the hub cache).
        local_bytes: that folder's size.
    """

    id: str
    entry: CatalogueEntry | None = None
    disk: hub_cache.DiskModel | None = None
    local_folder: Path | None = None
    local_bytes: int = 0

    @property
    def on_disk_bytes(self) -> int:
        """Bytes it takes on disk now (0 when not downloaded)."""
        return self.disk.size_bytes if self.disk is not None else self.local_bytes

    @property
    def downloaded(self) -> bool:
        """Whether it can be opened without downloading."""
        return (self.disk is not None and self.disk.complete) or self.local_folder is not None

    @property
    def folder(self) -> Path | None:
        """The model folder to open (a complete download's snapshot or a local folder), or None."""
        if self.local_folder is not None:
            return self.local_folder
        return self.disk.snapshot if self.disk is not None and self.disk.complete else None

    @property
    def partial(self) -> bool:
        """Whether an interrupted download waits to be resumed."""
        return self.disk is not None and self.disk.partial_bytes > 0

    def status(self) -> str:
        """``on disk``, ``partly downloaded``, ``not downloaded`` or why this build cannot open it."""
        if self.entry is not None and not self.entry.drivable:
            return "needs latent-model support"
        if self.downloaded:
            return "on disk"
        if self.partial:
            return "partly downloaded"
        return "not downloaded"

    def step_seconds(self, gflops_per_second: float | None, batch: int = 1) -> float | None:
        """Estimated seconds per sampling step here (None without a catalogue entry or a rate)."""
        if self.entry is None or not gflops_per_second:
            return None
        return estimated_step_seconds(self.entry, gflops_per_second, batch)

    def as_dict(self, gflops_per_second: float | None = None) -> dict[str, object]:
        """A JSON-ready description (``models list --json``)."""
        entry = self.entry
        seconds = self.step_seconds(gflops_per_second)
        return {
            "id": self.id,
            "status": self.status(),
            "in_catalogue": entry is not None,
            "title": entry.title if entry else None,
            "resolution": entry.resolution if entry else None,
            "space": entry.space if entry else None,
            "parameters": entry.parameters if entry else None,
            "download_bytes": entry.download_bytes if entry else None,
            "prediction_type": entry.prediction_type if entry else None,
            "source": entry.source if entry else None,
            "licence": entry.licence if entry else None,
            "drivable": entry.drivable if entry else True,
            "on_disk_bytes": self.on_disk_bytes,
            "partial_bytes": self.disk.partial_bytes if self.disk else 0,
            "path": str(self.disk.snapshot or self.disk.folder) if self.disk else (
                str(self.local_folder) if self.local_folder else None
            ),
            "seconds_per_step": round(seconds, 3) if seconds is not None else None,
            "thumbnail": str(thumb) if (thumb := cached_thumbnail(self.folder)) else None,
        }  # fmt: skip


def local_folder_row(folder: Path) -> LibraryRow | None:
    """A row for a model folder opened before (None when it is gone or not a model folder)."""
    if not folder.is_dir():
        return None
    if not ((folder / "config.json").is_file() or (folder / "unet" / "config.json").is_file()):
        return None
    return LibraryRow(str(folder), local_folder=folder, local_bytes=hub_cache.folder_size(folder))


def library_rows(cache_dir: Path | None = None, opened_before: list[str] | None = None) -> list[LibraryRow]:
    """The catalogue in its order, then the other models in the hub cache, then folders opened before.

    Args:
        cache_dir: the hub cache (default huggingface_hub's).
        opened_before: model sources opened before (the recent list): hub ids and folders.
    """
    disk = {m.repo_id.lower(): m for m in hub_cache.on_disk(cache_dir)}
    rows = [LibraryRow(e.id, entry=e, disk=disk.pop(e.id.lower(), None)) for e in load_catalogue()]
    rows += [LibraryRow(m.repo_id, disk=m) for m in disk.values()]
    seen = {r.id.lower() for r in rows}
    for source in opened_before or ():
        path = Path(source).expanduser()
        if source.lower() in seen or not path.is_absolute():
            continue
        row = local_folder_row(path)
        if row is not None:
            rows.append(row)
            seen.add(source.lower())
    return rows
