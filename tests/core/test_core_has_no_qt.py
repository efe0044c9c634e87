"""The core never imports Qt: every module of ddim_studio.core imports with Qt made unimportable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import ddim_studio.core

CHECK = """
import builtins, importlib, pkgutil, sys
real_import = builtins.__import__
def guarded(name, *args, **kwargs):
    if name.split('.')[0] in {'PySide6', 'PyQt5', 'PyQt6', 'shiboken6', 'qasync', 'superqt'}:
        raise ImportError('Qt imported from the core: ' + name)
    return real_import(name, *args, **kwargs)
builtins.__import__ = guarded
import ddim_studio.core as core
names = [m.name for m in pkgutil.walk_packages(core.__path__, 'ddim_studio.core.')]
for name in names:
    importlib.import_module(name)
assert not any(k.startswith(('PySide6', 'shiboken6')) for k in sys.modules), 'Qt in sys.modules'
print(len(names))
"""


def test_core_imports_without_qt() -> None:
    out = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    count = int(out.stdout.strip().splitlines()[-1])
    modules = [p for p in Path(ddim_studio.core.__path__[0]).rglob("*.py") if p.name != "__init__.py"]
    assert count >= len(modules)
