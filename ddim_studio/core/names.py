"""Names shared by the core, the command line and the window, defined once (no torch import here).

The command line and the window read these before torch is imported, so that the window is drawn
at once; ``core.schedule``, ``core.models.loader``, ``core.samplers`` and ``core.store`` re-export
them next to the code that uses them.
"""

from __future__ import annotations

#: How the S timesteps τ are chosen (see ``core.schedule.make_timesteps``).
SPACINGS = ("uniform", "quadratic", "leading", "trailing", "linspace")
#: Weight precisions a model can be loaded in (``core.models.loader.DTYPES`` maps them to torch).
DTYPE_NAMES = ("float32", "float16", "bfloat16")
#: What runs the model call, and in which arithmetic (``core.models.backends``).
BACKEND_NAMES = ("auto", "torch", "openvino")
PRECISION_NAMES = ("auto", "exact", "fast")
#: The sampler used when none is named (``core.samplers``).
DEFAULT_SAMPLER = "ddim"
#: The most refinement iterations K per inversion step: the window's Refine controls offer 0 … this,
#: and the core, the command line and saved parameters take no more.
MAX_REFINE = 10
#: The suffix of a latent file written beside its picture.
LATENT_SUFFIX = ".safetensors"
#: The most harmonize repeats R an edit takes (each multiplies its decode's model calls by R + 1),
#: the same bound at the command line, in the window and in saved parameters
#: (``core.limits.MAX_HARMONIZE`` re-exports it next to the studio's other bounds).
MAX_HARMONIZE = 10
#: The widest feather of a mask or a seam, in pixels (Edit, Restore, Extend; window and command line).
MAX_FEATHER = 32
#: ``app`` in the parameters of every saved picture, and their format version.
APP = "ddim-studio"
PARAMS_VERSION = 1


def describe_compute(backend: str, precision: str, device: str = "cpu") -> str:
    """``OpenVINO, bfloat16 (fast)`` — how Model Info and ``--json`` word a backend and precision."""
    engine = "OpenVINO" if backend == "openvino" else "torch"
    if precision == "fast":
        return f"{engine}, {'bfloat16' if device == 'cpu' else 'float16'} (fast)"
    return f"{engine}, float32 (exact)"
