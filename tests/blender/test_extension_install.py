"""The manifest validates, the zip holds only the extension, and it installs and unregisters cleanly."""

from __future__ import annotations

import zipfile
from pathlib import Path

import build_extension
import pytest
from bpy_helpers import free_port, run_bpy_script

pytestmark = pytest.mark.slow  # trains, renders or starts a process: not in the fast tier

REPO = Path(__file__).resolve().parents[2]


def test_zip_holds_only_the_extension(extension_zip: Path) -> None:
    names = set(zipfile.ZipFile(extension_zip).namelist())
    package = {p.name for p in (REPO / "blender_in2n").glob("*.py")}
    protocol = {f"in2n_protocol/{p.name}" for p in (REPO / "in2n_protocol").glob("*.py")}
    assert "in2n_protocol/edit_params.py" in protocol
    assert names == package | protocol | {"blender_manifest.toml"}
    assert not any(name.startswith(("server", "tests", "in2n_server")) for name in names)


def test_built_zip_passes_blenders_validator(extension_zip: Path) -> None:
    # build() already validated the staged folder and the zip; validate again explicitly here.
    build_extension.run_tool(build_extension.find_blender_ext(), "validate", str(extension_zip))


def test_install_register_and_disable_leave_nothing(extension_zip: Path, blender_home: Path) -> None:
    result = run_bpy_script("install_extension.py", str(extension_zip), str(free_port()), home=blender_home)
    before, after = result["before"], result["after"]
    assert before["enabled"] and before["timer"] and before["scene_prop"] and before["wm_prop"]
    assert len(before["classes"]) == 8
    assert before["prefs_host"] == "127.0.0.1"
    assert before["protocol"] == "bl_ext.user_default.blender_in2n.in2n_protocol.wire"
    assert before["threads"] == ["in2n-worker"]
    assert after == {
        "classes": [],
        "scene_prop": False,
        "wm_prop": False,
        "threads": [],
        "enabled": False,
        "timer": False,
        "session": False,
    }


def test_edit_properties_follow_the_one_definition(extension_zip: Path, blender_home: Path) -> None:
    """Property ranges == the definition's; model-tuned values are sent only when
    overridden."""
    from blender_in2n import job_request
    from in2n_protocol import edit_params, wire

    result = run_bpy_script("edit_properties.py", str(extension_zip), home=blender_home)
    assert result["tiers"] == list(wire.TIERS)
    numeric = {*job_request.MODEL_TUNED, *job_request.SENT_AS_IS} - {
        "tier",
        "schedule",
        *job_request.EDIT_SWITCHES,
    }
    assert set(result["ranges"]) == numeric
    table = edit_params.wire_table()
    for name, got in result["ranges"].items():
        assert (got["min"], got["max"]) == (table[name]["min"], table[name]["max"]), name
        assert got["default"] == pytest.approx(job_request.property_range(name)["default"]), name
    tuned = ("guidance_scale", "image_guidance_scale", "upper_bound", "edit_rate")
    assert not set(tuned) & set(result["default_body"])  # the server's model's recommended values apply
    assert result["override_body"]["guidance_scale"] == 9.0
    assert set(tuned) <= set(result["override_body"])
    assert result["default_body"]["schedule"] == "rolling"
    # Edit Selected Objects Only: on by default, forces masks, sends a masked, cropped edit only on a
    # scene captured with masks of the selection (the default body has none: no scene yet)
    assert result["local_default"] is True and result["forced_masks"] is True
    assert "edit_region" not in result["default_body"] and "crop_to_mask" not in result["default_body"]
    assert (result["local_body"]["edit_region"], result["local_body"]["crop_to_mask"]) == ("masked", True)
    assert "edit_region" not in result["whole_body"] and "crop_to_mask" not in result["whole_body"]
    assert result["export_masked_only_default"] is False
