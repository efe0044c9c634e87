"""``ddim_studio.workers`` uses QtCore only: importing it loads no QtGui or QtWidgets."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import sys
import ddim_studio.workers, ddim_studio.workers.async_api, ddim_studio.workers.runner
bad = sorted(m for m in sys.modules if m.startswith(('PySide6.QtGui', 'PySide6.QtWidgets', 'qasync')))
assert not bad, bad
assert 'PySide6.QtCore' in sys.modules
print('ok')
"""


def test_workers_import_qtcore_only():
    out = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
