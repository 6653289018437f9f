"""A server that dies mid-job shows as "not connected"; restarted, the extension reconnects and follows."""

from __future__ import annotations

from pathlib import Path

import pytest
from bpy_helpers import free_port, run_bpy_script

pytestmark = pytest.mark.slow  # trains, renders or starts a process: not in the fast tier


def test_local_server_restart_mid_job(
    extension_zip: Path, blender_home: Path, tiny_ip2p_dir: Path, tmp_path: Path
) -> None:
    pytest.importorskip(
        "in2n_server.cli", reason="the in2n_server package (server/cli.py) cannot be imported"
    )
    workspace = tmp_path / "workspace"
    result = run_bpy_script(
        "restart_server.py",
        str(extension_zip),
        str(free_port()),
        str(tiny_ip2p_dir),
        str(workspace),
        home=blender_home,
        timeout=1800,
    )
    assert result["disconnected_message"].startswith("not connected")
    assert result["reconnected_message"] in {"connected", "reconnected"}
    assert result["final"]["state"] == "completed", result
    assert result["final"]["error"] == ""
    assert result["final"]["last_event_id"] > result["cancelled_at_event"] > result["events_before_kill"]
    assert result["server_stopped_on_disable"]
