#!/usr/bin/env bash
# One command sets up everything: system packages, a virtual environment in .venv, the project
# (editable) with its dev tools. Works with no GPU and no access to model hubs.
set -euo pipefail
cd "$(dirname "$0")/.."

# open3d needs libusb at import time.
if ! ldconfig -p 2>/dev/null | grep -q 'libusb-1.0.so.0'; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq libusb-1.0-0
fi

VENV="${IN2N_VENV:-.venv}"
PYTHON="${PYTHON:-python3.11}"
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
# torch first, pinned to the release this project is tested with (taken from the local disk where present).
"$VENV/bin/pip" install -q --disable-pip-version-check torch==2.14.1 torchvision==0.29.1
"$VENV/bin/pip" install -q --disable-pip-version-check -e ".[dev,ray]"
echo "setup done: $("$VENV/bin/python" -c 'import torch, nerfstudio, diffusers; print("torch", torch.__version__, "diffusers", diffusers.__version__)')"
