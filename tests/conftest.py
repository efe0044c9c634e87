"""Shared test setup: Qt renders offscreen, torch uses few threads one thread (2-core CI machines)."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# backend "auto" means torch in the suite (the pictures the tests pin were made with it); the
# OpenVINO backend is tested where a test names it (tests/core/models/test_backends.py).
os.environ.setdefault("DDIM_STUDIO_BACKEND", "torch")
# The studio's caches (weights records, converted models, thumbnails) in a folder of this run, not
# the user's own ~/.cache (the suite left a thousand weights records there); removed at exit.
if "DDIM_STUDIO_CACHE_DIR" not in os.environ:
    import atexit
    import shutil
    import tempfile

    _cache = tempfile.mkdtemp(prefix="ddim-studio-test-cache-")
    os.environ["DDIM_STUDIO_CACHE_DIR"] = _cache
    atexit.register(shutil.rmtree, _cache, True)

import torch  # noqa: E402

torch.set_num_threads(1)  # the 2-core CI machine: oversubscribed OpenMP threads crawl
