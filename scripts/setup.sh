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

# The Blender version matrix: each extra bpy in its own venv (scripts/blender_versions.txt).
python_for() {  # the interpreter for Python X.Y: on PATH, or through pyenv
    if command -v "python$1" >/dev/null 2>&1 && "python$1" -c "" 2>/dev/null; then echo "python$1"; return; fi
    if command -v pyenv >/dev/null 2>&1; then
        local version; version=$(pyenv versions --bare 2>/dev/null | grep -E "^$1(\.[0-9]+)?$" | sort -V | tail -1)
        if [ -n "$version" ]; then echo "$(pyenv root)/versions/$version/bin/python$1"; return; fi
    fi
    return 1
}
MISSING=""
while read -r BPY PY BVENV _; do
    case "$BPY" in ""|\#*) continue ;; esac
    [ "$BVENV" = "$VENV" ] || [ "$BVENV" = ".venv" ] && continue  # the main venv has its bpy already
    if ! BPYTHON=$(python_for "$PY"); then
        MISSING="$MISSING bpy $BPY needs Python $PY;"; continue
    fi
    [ -x "$BVENV/bin/python" ] || "$BPYTHON" -m venv "$BVENV"
    "$BVENV/bin/python" -m pip install -q --disable-pip-version-check "bpy==$BPY" numpy
done < scripts/blender_versions.txt
if [ -n "$MISSING" ]; then
    echo "WARNING: not found:$MISSING install it (e.g. 'pyenv install 3.13', or your system's python3.13" >&2
    echo "package) and run this setup again; until then that version's test in the Blender matrix fails." >&2
fi
echo "setup done: $("$VENV/bin/python" -c 'import torch, nerfstudio, diffusers; print("torch", torch.__version__, "diffusers", diffusers.__version__)')"
