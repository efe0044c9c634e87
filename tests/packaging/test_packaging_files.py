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
APP_ID = "io.github.ddimstudio.DDIMStudio"
DESKTOP = PACKAGING / f"{APP_ID}.desktop"  # Flathub: the desktop file and the icon carry the app id
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
    assert entry["Icon"] == APP_ID
    assert (ICONS / f"{APP_ID}-256.png").is_file()


def test_desktop_file_and_icons_are_named_after_the_app_id() -> None:
    """Flathub requires ``<app-id>.desktop`` and an icon named ``<app-id>``; the window tells
    Wayland the same name (``QGuiApplication.setDesktopFileName``)."""
    from ddim_studio.ui.app import APP_ID as WINDOW_APP_ID

    assert WINDOW_APP_ID == APP_ID
    assert sorted(p.name for p in PACKAGING.glob("*.desktop")) == [f"{APP_ID}.desktop"]
    icons = sorted(p.name for p in ICONS.iterdir())
    assert icons and all(name.startswith(f"{APP_ID}-") or name.startswith(f"{APP_ID}.") for name in icons), (
        icons
    )


def test_metainfo_describes_every_mode() -> None:
    """The AppStream description lists the window's four modes, each with a screenshot."""
    root = ET.parse(METAINFO).getroot()
    items = [li.text or "" for li in root.findall("description/ul/li")]
    modes = ("Generate", "Encode", "Interpolate", "Edit")
    assert [item.split(":")[0] for item in items] == list(modes), items
    assert "four modes" in " ".join(p.text or "" for p in root.findall("description/p"))
    captions = [c.text or "" for c in root.findall("screenshots/screenshot/caption")]
    assert [c.split(":")[0] for c in captions] == list(modes), captions


def test_the_project_and_its_weights_state_their_licence() -> None:
    license_text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert license_text.startswith("MIT License") and "2026 DDIM Studio developers" in license_text
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["license"] == "MIT" and project["license-files"] == ["LICENSE"]
    card = (ROOT / "resources" / "models" / "shapes32" / "README.md").read_text(encoding="utf-8")
    assert "MIT" in card and "trained by this repository" in card


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
    with Image.open(ICONS / f"{APP_ID}-{size}.png") as im:
        assert im.format == "PNG" and im.size == (size, size) and im.mode == "RGBA"
        assert im.getchannel("A").getextrema() == (0, 255)  # transparent corners, opaque body


def test_windows_and_macos_icons() -> None:
    with Image.open(ICONS / f"{APP_ID}.ico") as ico:
        assert ico.format == "ICO"
        assert {(16, 16), (32, 32), (48, 48), (256, 256)} <= set(ico.info["sizes"])
    with Image.open(ICONS / f"{APP_ID}.icns") as icns:
        assert icns.format == "ICNS"
        assert (512, 512, 2) in icns.info["sizes"]  # 1024 px, the largest macOS asks for


def test_spec_reads_the_version_and_bundles_the_resources() -> None:
    spec = (PACKAGING / "ddim-studio.spec").read_text(encoding="utf-8")
    compile(spec, "ddim-studio.spec", "exec")  # valid Python
    assert 'tomllib.loads((ROOT / "pyproject.toml")' in spec
    assert '"ddim_studio" / "resources"' in spec
    assert f'BUNDLE_ID = "{APP_ID}"' in spec
    # OpenVINO loads its CPU plugin and IR frontend by name from openvino/libs: a bundle built
    # without them listed fell back to torch (found by building one).
    assert '"openvino/libs"' in spec and "binaries=binaries" in spec
    for icon in (
        'f"{BUNDLE_ID}.ico"',
        'f"{BUNDLE_ID}.icns"',
        'f"{BUNDLE_ID}.desktop"',
        'f"{BUNDLE_ID}-256.png"',
    ):
        assert icon in spec
    for name in (f"{APP_ID}.ico", f"{APP_ID}.icns", f"{APP_ID}-256.png"):
        assert (ICONS / name).is_file()
    assert (PACKAGING / f"{APP_ID}.desktop").is_file()
    assert (PACKAGING / "launcher.py").is_file()
