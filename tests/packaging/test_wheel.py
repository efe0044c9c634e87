"""The wheel a user installs: built with the standard build frontend, then listed with zipfile.

``python -m build --no-isolation`` builds the sdist and then the wheel *from the sdist*, exactly as
``pip install`` from an index would, so a resource missing from either shows up here. The build
runs in a temporary copy of the project so the working tree (its ``build/`` and ``*.egg-info``)
is left alone. ``--no-isolation`` needs the build backend in this environment: ``build`` and
``setuptools>=77`` are in the ``test`` extra.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "ddim_studio"
RESOURCES = ROOT / "resources"  # installed as the package ddim_studio.resources
DEFAULT_MODEL_FILES = (
    "config.json",
    "diffusion_pytorch_model.safetensors",
    "scheduler_config.json",
    "README.md",
)
#: What the build reads besides the package itself.
PROJECT_FILES = ("pyproject.toml", "README.md", "LICENSE", "LICENSE.txt", "MANIFEST.in")
BUILD_TIMEOUT_S = 120


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _source_files(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix not in {".pyc", ".pyo"}
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(wheel, sdist) built from a clean copy of the project."""
    src = tmp_path_factory.mktemp("src")
    for name in PROJECT_FILES:
        if (ROOT / name).is_file():
            shutil.copy2(ROOT / name, src / name)
    for folder in (PACKAGE, RESOURCES):
        shutil.copytree(
            folder, src / folder.name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo")
        )
    dist = tmp_path_factory.mktemp("dist")
    proc = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), str(src)],
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
    )
    assert proc.returncode == 0, f"python -m build failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    wheels = list(dist.glob("*.whl"))
    sdists = list(dist.glob("*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, sorted(p.name for p in dist.iterdir())
    return wheels[0], sdists[0]


@pytest.fixture(scope="module")
def wheel(built: tuple[Path, Path]) -> Iterator[zipfile.ZipFile]:
    with zipfile.ZipFile(built[0]) as zf:
        yield zf


def _dist_info() -> str:
    version = _pyproject()["project"]["version"]
    return f"ddim_studio-{version}.dist-info"


def test_wheel_is_pure_python_and_named_by_the_pyproject_version(built: tuple[Path, Path]) -> None:
    version = _pyproject()["project"]["version"]
    assert built[0].name == f"ddim_studio-{version}-py3-none-any.whl"
    assert built[1].name == f"ddim_studio-{version}.tar.gz"


def test_wheel_contains_the_default_model_byte_for_byte(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    for name in DEFAULT_MODEL_FILES:
        arcname = f"ddim_studio/resources/models/shapes32/{name}"
        assert arcname in names, f"{arcname} is not in the wheel"
        assert wheel.read(arcname) == (RESOURCES / "models" / "shapes32" / name).read_bytes(), arcname
    weights = wheel.getinfo("ddim_studio/resources/models/shapes32/diffusion_pytorch_model.safetensors")
    assert weights.file_size > 1_000_000  # the real weights, not a Git LFS pointer


def test_wheel_contains_the_icons_and_style_sheets(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    icons = {n for n in names if n.startswith("ddim_studio/resources/icons/") and n.endswith(".svg")}
    assert "ddim_studio/resources/icons/app.svg" in icons
    expected_icons = {f"ddim_studio/resources/icons/{p.name}" for p in (RESOURCES / "icons").glob("*.svg")}
    assert expected_icons and expected_icons <= icons
    for sheet in ("dark.qss", "light.qss"):
        assert f"ddim_studio/resources/style/{sheet}" in names


def test_wheel_contains_the_model_catalogue(wheel: zipfile.ZipFile) -> None:
    """Model ▸ Library… and ``models list`` read it from the installed package."""
    import json

    data = json.loads(wheel.read("ddim_studio/resources/models/catalogue.json"))
    assert "google/ddpm-cifar10-32" in {m["id"] for m in data["models"]}


def test_wheel_contains_every_source_file_and_resource(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    expected = {p.relative_to(ROOT).as_posix() for p in _source_files(PACKAGE)}
    missing = sorted(expected - names)
    assert not missing, f"missing from the wheel: {missing}"


def test_wheel_contains_every_resource_file_byte_for_byte(wheel: zipfile.ZipFile) -> None:
    """Every file of the top-level resources/ is in the wheel as ddim_studio/resources/…, unchanged."""
    names = set(wheel.namelist())
    files = _source_files(RESOURCES)
    assert len(files) > 30  # the model, the icons, the style sheets
    for path in files:
        arcname = f"ddim_studio/resources/{path.relative_to(RESOURCES).as_posix()}"
        assert arcname in names, f"{arcname} is not in the wheel"
        assert wheel.read(arcname) == path.read_bytes(), arcname


def test_wheel_holds_nothing_but_the_package(wheel: zipfile.ZipFile) -> None:
    dist_info = _dist_info()
    stray = [
        n
        for n in wheel.namelist()
        if not (n.startswith("ddim_studio/") or n.startswith(dist_info + "/"))
        or "__pycache__" in n
        or n.endswith((".pyc", ".pyo"))
    ]
    assert not stray, f"unexpected files in the wheel: {stray[:20]}"


def test_wheel_declares_the_entry_point_and_dependencies(wheel: zipfile.ZipFile) -> None:
    dist_info = _dist_info()
    entry_points = wheel.read(f"{dist_info}/entry_points.txt").decode()
    lines = [line.strip() for line in entry_points.splitlines()]
    section = lines.index("[console_scripts]")
    scripts = dict(
        (k.strip(), v.strip())
        for k, v in (line.split("=", 1) for line in lines[section + 1 :] if "=" in line)
    )
    assert scripts.get("ddim-studio") == "ddim_studio.__main__:main"
    section = lines.index("[gui_scripts]")  # Windows: a windowed ddim-studio-gui.exe, no console
    gui = dict(
        (k.strip(), v.strip())
        for k, v in (line.split("=", 1) for line in lines[section + 1 :] if "=" in line and "[" not in line)
    )
    assert gui.get("ddim-studio-gui") == "ddim_studio.__main__:gui_main"
    from packaging.requirements import Requirement  # compared normalised: specifier order, marker quotes

    metadata = wheel.read(f"{dist_info}/METADATA").decode()
    requires = {
        str(Requirement(line.split(":", 1)[1].strip()))
        for line in metadata.splitlines()
        if line.startswith("Requires-Dist:")
    }
    for dependency in _pyproject()["project"]["dependencies"]:
        assert str(Requirement(dependency)) in requires, f"{dependency} not declared in METADATA"


def test_wheel_and_sdist_carry_the_license(wheel: zipfile.ZipFile, built: tuple[Path, Path]) -> None:
    dist_info = _dist_info()
    license_text = (ROOT / "LICENSE").read_bytes()
    assert wheel.read(f"{dist_info}/licenses/LICENSE") == license_text
    metadata = wheel.read(f"{dist_info}/METADATA").decode()
    assert "License-Expression: MIT" in metadata and "License-File: LICENSE" in metadata
    version = _pyproject()["project"]["version"]
    with tarfile.open(built[1]) as tf:
        assert f"ddim_studio-{version}/LICENSE" in tf.getnames()


def test_sdist_carries_the_resources_too(built: tuple[Path, Path]) -> None:
    version = _pyproject()["project"]["version"]
    with tarfile.open(built[1]) as tf:
        names = set(tf.getnames())
    prefix = f"ddim_studio-{version}/"
    for path in _source_files(RESOURCES):
        assert prefix + path.relative_to(ROOT).as_posix() in names
