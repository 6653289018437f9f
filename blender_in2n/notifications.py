"""Messages from outside an operator (the timer, the worker's results)."""

from __future__ import annotations

import contextlib
import sys
from typing import Any

import bpy

from .session import status


def notify(context: Any, level: str, message: str) -> None:
    """Show a message from outside an operator: status line in the panel, Blender's report, the console."""
    st = status(context)
    if level == "ERROR":
        st.error = message
    else:
        st.message = message
    print(message, file=sys.stderr if level == "ERROR" else sys.stdout)
    # Without a window (headless) the report operator fails: the status line and console carry the message.
    with contextlib.suppress(RuntimeError, AttributeError, TypeError):
        bpy.ops.in2n.report("EXEC_DEFAULT", level=level, message=message)
