"""packaging/: the desktop entry, the AppStream metainfo, the icons and the PyInstaller spec agree
with the project and pass their validators (each validator test skips where the tool is missing:
``apt install desktop-file-utils appstream``)."""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PIL import Image

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[2]
PACKAGING = ROOT / "packaging"
DESKTOP = PACKAGING / "ddim-studio.desktop"
APP_ID = "io.github.ddimstudio.DDIMStudio"
METAINFO = PACKAGING / f"{APP_ID}.metainfo.xml"
ICONS = PACKAGING / "icons"


def _version() -> str:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]


def _desktop_entry() -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read(DESKTOP, encoding="utf-8")
    return parser["Desktop Entry"]


def test_desktop_entry_launches_the_installed_script() -> None:
    entry = _desktop_entry()
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["scripts"]
    assert entry["Type"] == "Application"
    assert entry["Exec"].split()[0] in scripts
    assert entry["Icon"] == "ddim-studio"
    assert (ICONS / "ddim-studio-256.png").is_file()


@pytest.mark.skipif(shutil.which("desktop-file-validate") is None, reason="desktop-file-utils not installed")
def test_desktop_entry_passes_desktop_file_validate() -> None:
    proc = subprocess.run(["desktop-file-validate", str(DESKTOP)], capture_output=True, text=True)
    assert proc.returncode == 0 and not (proc.stdout + proc.stderr).strip(), proc.stdout + proc.stderr


def test_metainfo_matches_the_project() -> None:
    root = ET.parse(METAINFO).getroot()
    assert root.get("type") == "desktop-application"
    assert root.findtext("id") == APP_ID
    assert root.find("launchable[@type='desktop-id']").text == DESKTOP.name
    assert root.find("content_rating") is not None
    assert root.find("description/p") is not None
    releases = [r.get("version") for r in root.findall("releases/release")]
    assert releases and releases[0] == _version(), "the newest <release> must be the pyproject version"
    shots = [img.text for img in root.findall("screenshots/screenshot/image")]
    assert len(shots) >= 3
    for url in shots:
        match = re.search(r"/(docs/screenshots/[^/]+\.png)$", url)
        assert match and (ROOT / match.group(1)).is_file(), f"{url} is not a screenshot in the repository"


@pytest.mark.skipif(shutil.which("appstreamcli") is None, reason="appstream not installed")
def test_metainfo_passes_appstreamcli_validate() -> None:
    proc = subprocess.run(
        ["appstreamcli", "validate", "--no-net", str(METAINFO)], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("size", [16, 32, 48, 64, 128, 256, 512])
def test_png_icons_are_square_rgba_of_their_size(size: int) -> None:
    with Image.open(ICONS / f"ddim-studio-{size}.png") as im:
        assert im.format == "PNG" and im.size == (size, size) and im.mode == "RGBA"
        assert im.getchannel("A").getextrema() == (0, 255)  # transparent corners, opaque body


def test_windows_and_macos_icons() -> None:
    with Image.open(ICONS / "ddim-studio.ico") as ico:
        assert ico.format == "ICO"
        assert {(16, 16), (32, 32), (48, 48), (256, 256)} <= set(ico.info["sizes"])
    with Image.open(ICONS / "ddim-studio.icns") as icns:
        assert icns.format == "ICNS"
        assert (512, 512, 2) in icns.info["sizes"]  # 1024 px, the largest macOS asks for


def test_spec_reads_the_version_and_bundles_the_resources() -> None:
    spec = (PACKAGING / "ddim-studio.spec").read_text(encoding="utf-8")
    compile(spec, "ddim-studio.spec", "exec")  # valid Python
    assert 'tomllib.loads((ROOT / "pyproject.toml")' in spec
    assert '"ddim_studio" / "resources"' in spec
    for icon in ("ddim-studio.ico", "ddim-studio.icns"):
        assert icon in spec and (ICONS / icon).is_file()
    assert (PACKAGING / "launcher.py").is_file()
