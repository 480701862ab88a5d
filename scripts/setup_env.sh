#!/usr/bin/env bash
# Create ./.venv and install sdmr with everything the tests and the quick start need.
# Idempotent: a second run only checks. Torch goes in first so no package pulls a second copy.
#   TORCH_SPEC   what to install for torch (default: the pinned pair this project is tested with)
#   SDMR_EXTRAS  pip extras of sdmr to install (default: sim,dev,baselines,onnx; add openvino for that backend)
#   SDMR_PCL=1   also install and build the real-PCL backend (scripts/install_pcl.sh; root + apt-get)
set -euo pipefail
cd "$(dirname "$0")/.."
TORCH_SPEC=${TORCH_SPEC:-"torch==2.14.1 torchvision==0.29.1"}
SDMR_EXTRAS=${SDMR_EXTRAS:-"sim,dev,baselines,onnx"}

# Offscreen OpenGL (EGL, Mesa) for the depth renderer; only installed where it is missing.
if ! ldconfig -p 2>/dev/null | grep -q "libEGL_mesa"; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq libegl1 libegl-mesa0 libgl1-mesa-dri libgles2 >/dev/null
  else
    echo "warning: Mesa EGL not found; install libegl1 libegl-mesa0 libgl1-mesa-dri for rendering" >&2
  fi
fi

# Open3D (the baselines extra) loads libusb-1.0 at import time; Debian's slim images lack it.
if [[ ",${SDMR_EXTRAS}," == *",baselines,"* ]] && ! ldconfig -p 2>/dev/null | grep -q "libusb-1.0.so.0"; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    apt-get install -y -qq libusb-1.0-0 >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq libusb-1.0-0 >/dev/null; }
  else
    echo "warning: libusb-1.0 not found; install libusb-1.0-0 for open3d (the pip backend falls back to scipy without it)" >&2
  fi
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
PIP=".venv/bin/python -m pip"
$PIP install -q --upgrade pip
# shellcheck disable=SC2086
.venv/bin/python -c "import torch, torchvision" 2>/dev/null || $PIP install -q $TORCH_SPEC
$PIP install -q -e ".[${SDMR_EXTRAS}]"
.venv/bin/python -c "import sdmr, torch; print(f'sdmr {sdmr.__version__} ready (torch {torch.__version__})')"
if [ "${SDMR_PCL:-0}" = 1 ]; then bash scripts/install_pcl.sh; fi
