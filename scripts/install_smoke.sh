#!/usr/bin/env bash
# Install smoke test: the wheel, built with the standard build frontend, installed with pip into a
# fresh virtual environment, must give a working `ddim-studio` (default model included), run from a
# directory that is not the source tree.
#
#   bash scripts/install_smoke.sh [path/to/ddim_studio-*.whl]
#
# Without an argument the wheel is built first (python -m build, sdist then wheel from the sdist) in
# a throw-away build environment, from a copy of the project, so the working tree is not touched.
# Environment: PYTHON (default python3, 3.10+), KEEP=1 to keep the temporary folder,
# TORCH_SPEC (default torch==2.13.0: the CPU wheel on this machine's disk; an unpinned torch would
# download a multi-GB CUDA build). Exits non-zero on the first failure.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON="${PYTHON:-python3}"
TORCH_SPEC="${TORCH_SPEC:-torch==2.13.0}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/ddim-install-smoke.XXXXXX")"
if [[ "${KEEP:-0}" == 1 ]]; then
    echo "keeping $WORK"
else
    trap 'rm -rf "$WORK"' EXIT
fi
export HF_HUB_OFFLINE=1            # the default model ships in the wheel: nothing may be downloaded
export QT_QPA_PLATFORM=offscreen   # no display needed
export PIP_DISABLE_PIP_VERSION_CHECK=1
T0=$SECONDS
step() { printf '\n== [%3ds] %s\n' "$((SECONDS - T0))" "$*"; }

# --- 1. the wheel -------------------------------------------------------------------------------
if [[ $# -ge 1 ]]; then
    WHEEL="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
    step "using the given wheel $WHEEL"
else
    step "building the wheel with python -m build (isolated build environment)"
    mkdir -p "$WORK/src"
    cp "$ROOT/pyproject.toml" "$ROOT/README.md" "$WORK/src/"
    for f in LICENSE LICENSE.txt MANIFEST.in; do
        if [[ -f "$ROOT/$f" ]]; then cp "$ROOT/$f" "$WORK/src/"; fi
    done
    (cd "$ROOT" && tar --exclude='__pycache__' --exclude='*.pyc' -cf - ddim_studio) | tar -xf - -C "$WORK/src"
    "$PYTHON" -m venv "$WORK/build-venv"
    "$WORK/build-venv/bin/python" -m pip install -q build
    "$WORK/build-venv/bin/python" -m build -q --outdir "$WORK/dist" "$WORK/src"
    WHEEL="$(ls "$WORK"/dist/ddim_studio-*-py3-none-any.whl)"
fi
ls -l "$WHEEL"

# --- 2. a fresh virtual environment -------------------------------------------------------------
step "fresh venv; $TORCH_SPEC first, then the wheel"
"$PYTHON" -m venv "$WORK/venv"
VPY="$WORK/venv/bin/python"
"$VPY" -m pip install -q --upgrade pip
"$VPY" -m pip install -q "$TORCH_SPEC"
"$VPY" -m pip install -q "$WHEEL"
"$VPY" -m pip check
"$VPY" -c 'import torch; print("torch", torch.__version__)'

# --- 3. run it from somewhere else --------------------------------------------------------------
mkdir -p "$WORK/elsewhere"
cd "$WORK/elsewhere"
export PATH="$WORK/venv/bin:$PATH"
hash -r
DDIM="$(command -v ddim-studio)"
[[ "$DDIM" == "$WORK/venv/bin/ddim-studio" ]] || { echo "FAIL: ddim-studio resolves to $DDIM" >&2; exit 1; }
# The installed package must be the one in the venv, not the source tree.
PKG="$("$VPY" -c 'import ddim_studio, pathlib; print(pathlib.Path(ddim_studio.__file__).parent)')"
case "$PKG" in
    "$WORK/venv/"*) echo "ddim_studio imported from $PKG" ;;
    *) echo "FAIL: ddim_studio imported from $PKG, not from the fresh venv" >&2; exit 1 ;;
esac
[[ -f "$PKG/resources/models/shapes32/diffusion_pytorch_model.safetensors" ]] \
    || { echo "FAIL: the default model is not installed" >&2; exit 1; }

step "ddim-studio --version"
ddim-studio --version

step "ddim-studio sample --num 4 --out $WORK/out   (cwd: $PWD)"
ddim-studio sample --num 4 --out "$WORK/out"
shopt -s nullglob
PNGS=("$WORK"/out/*.png)
shopt -u nullglob
ls -l "$WORK/out"
if [[ ${#PNGS[@]} -ne 4 ]]; then
    echo "FAIL: expected 4 PNGs in $WORK/out, found ${#PNGS[@]}" >&2
    exit 1
fi
"$VPY" - "${PNGS[@]}" <<'EOF'
import sys
from PIL import Image
for path in sys.argv[1:]:
    with Image.open(path) as im:
        im.load()
        assert im.size[0] > 0 and im.size[1] > 0, path
        print(f"  {path.rsplit('/', 1)[-1]}: {im.size[0]}x{im.size[1]} {im.mode}")
EOF

step "ddim-studio --self-test"
ddim-studio --self-test

step "install smoke test passed"
