"""Where the extension finds the shared protocol (`in2n_protocol`: wire constants and `EditParams`).

The built extension carries a copy inside its zip (scripts/build_extension.py); a repository checkout uses
the installed package. One source either way.
"""

from __future__ import annotations

try:  # the built extension
    from .in2n_protocol import edit_params, wire
except ImportError:  # a repository checkout (pip install -e .)
    from in2n_protocol import edit_params, wire  # type: ignore[no-redef]

__all__ = ["edit_params", "wire"]
