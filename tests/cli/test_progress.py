"""The command line's progress: one overall bar per command (total = every model call), the
config's clip_sample reported in one line, and ``loading model…`` on a terminal."""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from ddim_studio.cli import main, progress
from ddim_studio.core.imaging import read_params


class Bars:
    """Records every bar the command line opens and how far each got."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.made: list[Any] = []
        real = progress.progress

        def record(total: int, desc: str) -> Any:
            bar = real(total, desc)
            self.made.append(bar)
            return bar

        monkeypatch.setattr(progress, "progress", record)

    def only(self) -> Any:
        assert len(self.made) == 1, f"expected one bar, got {len(self.made)}"
        return self.made[0]


def run(*argv: str) -> None:
    assert main(list(argv)) == 0


def test_sample_has_one_bar_over_every_batch(tiny_model_dir: Path, tmp_path: Path, monkeypatch) -> None:
    bars = Bars(monkeypatch)
    run("sample", "--model", str(tiny_model_dir), "--num", "5", "--batch-size", "2", "--steps", "4",
        "--out", str(tmp_path))  # fmt: skip
    bar = bars.only()
    assert bar.total == 3 * 4 and bar.n == 12  # 3 batches × S calls, all counted on one bar
    assert bar.unit == "step" and "{remaining}" in progress.BAR_FORMAT and "{elapsed}" in progress.BAR_FORMAT


def test_resumed_sample_counts_only_the_batches_it_runs(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    base = [
        "sample",
        "--model",
        str(tiny_model_dir),
        "--batch-size",
        "1",
        "--steps",
        "3",
        "--out",
        str(tmp_path),
    ]
    run(*base, "--num", "2")
    bars = Bars(monkeypatch)
    run(*base, "--num", "4")  # seeds 0 and 1 exist: two batches run
    bar = bars.only()
    assert bar.total == 2 * 3 and bar.n == 6


def test_encode_and_interpolate_bars_cover_every_phase(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    pictures = []
    for i, color in enumerate([(200, 30, 60), (20, 90, 200)]):
        pictures.append(tmp_path / f"p{i}.png")
        Image.new("RGB", (8, 8), color).save(pictures[-1])
    bars = Bars(monkeypatch)
    run(
        "encode",
        *map(str, pictures),
        "--model",
        str(tiny_model_dir),
        "--steps",
        "5",
        "--out",
        str(tmp_path / "e"),
    )
    bar = bars.only()
    assert bar.total == 2 * (5 + 5) and bar.n == bar.total  # per picture: encode S + decode S
    bars.made.clear()
    run("interpolate", str(pictures[0]), str(pictures[1]), "--frames", "5", "--batch-size", "2",
        "--model", str(tiny_model_dir), "--steps", "3", "--out", str(tmp_path / "i"))  # fmt: skip
    bar = bars.only()
    assert bar.total == 3 + 3 * 3 and bar.n == bar.total  # encode both ends once, 3 batches of frames


def test_config_clip_sample_is_reported_once_and_recorded(
    tiny_model_dir: Path, tmp_path: Path, capsys
) -> None:
    run(
        "sample", "--model", str(tiny_model_dir), "--num", "1", "--steps", "2", "--out", str(tmp_path / "off")
    )
    err = capsys.readouterr().err
    notes = [line for line in err.splitlines() if "clip_sample" in line]
    assert len(notes) == 1 and "off" in notes[0] and "--clip-sample" in notes[0]
    assert read_params(tmp_path / "off" / "seed-000000.png")["clip_sample"] is False
    run("sample", "--model", str(tiny_model_dir), "--num", "1", "--steps", "2", "--clip-sample",
        "--out", str(tmp_path / "on"))  # fmt: skip
    notes = [line for line in capsys.readouterr().err.splitlines() if "clip_sample" in line]
    assert len(notes) == 1 and "it is on" in notes[0]
    assert read_params(tmp_path / "on" / "seed-000000.png")["clip_sample"] is True


def test_loading_model_is_shown_on_a_terminal_and_erased(
    tiny_model_dir: Path, tmp_path: Path, monkeypatch
) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    term = Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    run("sample", "--model", str(tiny_model_dir), "--num", "1", "--steps", "1", "--out", str(tmp_path))
    text = term.getvalue()
    assert text.startswith("loading model…") and "\r\x1b[K" in text
