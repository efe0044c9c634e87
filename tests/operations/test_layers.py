"""The layers import downwards only: the library never imports its CLI; core never imports operations."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "ddim_studio"


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_only_the_entry_points_import_the_cli() -> None:
    offenders = [
        str(p.relative_to(PACKAGE))
        for p in PACKAGE.rglob("*.py")
        if p != PACKAGE / "__main__.py"
        and (PACKAGE / "cli") not in p.parents
        and any(n == "ddim_studio.cli" or n.startswith("ddim_studio.cli.") for n in _imports(p))
    ]
    assert offenders == []


def test_core_and_operations_import_no_front_end() -> None:
    offenders = []
    for folder, banned in (
        ("core", ("ddim_studio.operations", "ddim_studio.ui", "ddim_studio.workers", "ddim_studio.cli")),
        ("operations", ("ddim_studio.ui", "ddim_studio.workers", "ddim_studio.cli", "PySide6")),
    ):
        for path in (PACKAGE / folder).rglob("*.py"):
            bad = sorted(n for n in _imports(path) if n.startswith(banned))
            if bad:
                offenders.append((str(path.relative_to(PACKAGE)), bad))
    assert offenders == []
