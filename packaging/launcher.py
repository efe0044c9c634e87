"""The script PyInstaller freezes: ``ddim-studio`` exactly as the pip-installed entry point runs it."""

from __future__ import annotations

import multiprocessing
import sys

from ddim_studio.__main__ import main

if __name__ == "__main__":
    # A frozen app that starts worker processes (spawn on Windows and macOS) must call this first.
    multiprocessing.freeze_support()
    sys.exit(main())
