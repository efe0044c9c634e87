"""The library's rows: the catalogue first, then other cached models, then folders opened before."""

from __future__ import annotations

from pathlib import Path

from ddim_studio.core import hub_cache
from ddim_studio.operations.models import format_bytes, library_rows


def _fake_cached(cache: Path, repo_id: str, payload: bytes, *, partial: bool = False) -> None:
    folder = hub_cache.repo_folder(repo_id, cache)
    (folder / "blobs").mkdir(parents=True)
    blob = folder / "blobs" / ("a" * 64 + (hub_cache.PARTIAL_SUFFIX if partial else ""))
    blob.write_bytes(payload)
    if not partial:
        hub_cache.place_blob(folder, "c" * 40, hub_cache.WEIGHTS, blob)
        hub_cache.write_ref(folder, "main", "c" * 40)


def test_rows_merge_the_catalogue_the_cache_and_folders_opened_before(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    _fake_cached(cache, "google/ddpm-church-256", b"x" * 5000)
    _fake_cached(cache, "someone/other-model", b"y" * 300, partial=True)
    opened = tmp_path / "my-model"
    opened.mkdir()
    (opened / "config.json").write_text("{}")
    rows = library_rows(cache, [str(opened), "google/ddpm-cifar10-32", str(tmp_path / "gone")])
    ids = [r.id for r in rows]
    assert ids[:10] == [r.id for r in rows if r.entry is not None]  # the catalogue first, in its order
    church = rows[ids.index("google/ddpm-church-256")]
    assert church.status() == "on disk" and church.on_disk_bytes == 5000 + 40  # blob + ref, not the link
    other = rows[ids.index("someone/other-model")]
    assert other.entry is None and other.status() == "partly downloaded" and other.partial
    mine = rows[ids.index(str(opened))]
    assert mine.downloaded and mine.local_folder == opened and mine.as_dict()["path"] == str(opened)
    assert str(tmp_path / "gone") not in ids and len(ids) == 12


def test_sizes_read_as_people_read_them() -> None:
    assert [format_bytes(n) for n in (0, 999, 1500, 2_600_000, 454_700_000, 1_317_600_000)] == [
        "0 B", "999 B", "1.5 kB", "2.6 MB", "455 MB", "1.3 GB",
    ]  # fmt: skip
