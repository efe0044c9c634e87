"""Fixtures of the model tests: the ermongroup/ddim reference data and small saved models.

The reference data are looked up file by file, first in the repository's copy
(``tests/fixtures/ermongroup_ddim``: the config, key listings, README, the tiny model and its
reference outputs, 3.1 MB), then under ``$DDIM_STUDIO_FIXTURES`` (the fixtures root or its
``ermongroup_ddim`` folder), then in ``<repo>/../shared/fixtures``. A missing file fails the test:
the repository carries every file, so a skip would only hide a broken checkout.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
SUBDIR = "ermongroup_ddim"


def _candidates(name: str) -> list[Path]:
    places = [REPO / "tests" / "fixtures" / SUBDIR]
    env = os.environ.get("DDIM_STUDIO_FIXTURES")
    if env:
        places += [Path(env) / SUBDIR, Path(env)]
    places.append(REPO.parent / "shared" / "fixtures" / SUBDIR)
    return [place / name for place in places]


def find_fixture(name: str) -> Path | None:
    """The first existing copy of an ermongroup_ddim fixture file, or None."""
    return next((path for path in _candidates(name) if path.is_file()), None)


def require_fixture(name: str) -> Path:
    """The fixture file, or fail the test saying where it was looked for."""
    path = find_fixture(name)
    if path is None:
        pytest.fail(f"fixture {name} not found in {[str(p.parent) for p in _candidates(name)]}")
    return path


@pytest.fixture
def tiny_checkpoint() -> Path:
    """The tiny original DDIM model's state dict (original key names)."""
    return require_fixture("tiny_model.safetensors")


@pytest.fixture
def tiny_config() -> Path:
    """The tiny model's flat JSON config."""
    return require_fixture("tiny_config.json")


@pytest.fixture
def tiny_reference() -> Path:
    """The official code's outputs on the tiny model."""
    return require_fixture("tiny_reference_outputs.safetensors")


@pytest.fixture
def fixture_file():
    """``fixture_file(name)``: the path of any ermongroup_ddim fixture file, or a skip."""
    return require_fixture
