"""``python -m ddim_studio.training``: run or resume the default model's training."""

from __future__ import annotations

import sys

from ddim_studio.training.run import main

sys.exit(main())
