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


def _core_imports(path: Path) -> list[tuple[str, str, int]]:
    """(module, name, line) of each ``from ddim_studio.core… import name`` / ``import ddim_studio.core…``."""
    found: list[tuple[str, str, int]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ddim_studio.core"):
            found.extend((node.module, alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.Import):
            found.extend(
                (alias.name, "*", node.lineno)
                for alias in node.names
                if alias.name.startswith("ddim_studio.core")
            )
    return found


def test_the_window_takes_from_the_core_only_the_allowlisted_types_constants_and_pure_helpers() -> None:
    """ui/ imports core/ only for what ``ddim_studio/layers.py`` lists; the rest goes through operations/."""
    from ddim_studio.layers import allowed

    offenders = [
        f"{path.relative_to(PACKAGE)}:{line}: from {module} import {name}"
        for path in sorted((PACKAGE / "ui").rglob("*.py"))
        for module, name, line in _core_imports(path)
        if not allowed(module, name)
    ]
    assert offenders == []


def test_the_allowlist_names_only_what_exists_and_is_used() -> None:
    """Every allowlisted name is real, and used by the window (a stale entry would widen the door)."""
    import importlib

    from ddim_studio.layers import ALLOWED

    used = {(m, n) for p in (PACKAGE / "ui").rglob("*.py") for m, n, _line in _core_imports(p)}
    for module, names in ALLOWED.items():
        imported = importlib.import_module(module)
        for name in names:
            if name == "*":  # a module of constants only: used at all
                assert any(m == module for m, _n in used), module
                continue
            assert hasattr(imported, name), f"{module}.{name}"
            assert (module, name) in used, f"{module}.{name} is allowed but not used by ui/"


def test_the_allowlist_check_catches_a_forbidden_import(tmp_path: Path) -> None:
    from ddim_studio.layers import allowed

    bad = tmp_path / "bad.py"
    bad.write_text("from ddim_studio.core.latents import load_latent\nimport ddim_studio.core.sampling\n")
    found = _core_imports(bad)
    assert found == [("ddim_studio.core.latents", "load_latent", 1), ("ddim_studio.core.sampling", "*", 2)]
    assert [allowed(m, n) for m, n, _ in found] == [False, False]
    assert allowed("ddim_studio.core.store", "SavedItem") and not allowed(
        "ddim_studio.core.store", "OutputStore"
    )


def test_the_lazy_operations_names_are_the_typed_ones() -> None:
    """``from ddim_studio.operations import X`` is typed for mypy (a TYPE_CHECKING block) and lazy at
    run time: both name the same objects, and ``__all__`` lists exactly the lazy names."""
    import importlib

    import ddim_studio.operations as operations

    source = (PACKAGE / "operations" / "__init__.py").read_text(encoding="utf-8")
    typed = {
        alias.name: node.module
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.ImportFrom)
        and node.module
        and node.module.startswith("ddim_studio.operations.")
        for alias in node.names
    }
    lazy = operations._EXPORTS  # type: ignore[attr-defined]
    assert sorted(operations.__all__) == sorted(lazy) == sorted(typed)
    for name, module in lazy.items():
        assert typed[name] == f"ddim_studio.operations.{module}"
        assert getattr(operations, name) is getattr(importlib.import_module(typed[name]), name)
