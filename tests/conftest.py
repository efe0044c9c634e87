"""Shared test setup: Qt renders offscreen, torch uses few threads one thread (2-core CI machines)."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# backend "auto" means torch in the suite (the pictures the tests pin were made with it); the
# OpenVINO backend is tested where a test names it (tests/core/models/test_backends.py).
os.environ.setdefault("DDIM_STUDIO_BACKEND", "torch")

import torch  # noqa: E402

torch.set_num_threads(1)  # the 2-core CI machine: oversubscribed OpenMP threads crawl
