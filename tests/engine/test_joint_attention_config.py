"""Joint attention reaches the editor the IDU builds: one parameter from EditParams to the edit call."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from in2n_server.engine.pipeline import In2NPipeline, In2NPipelineConfig, fill_unset_model_defaults
from in2n_server.engine.types import EditParams


def test_the_pipelines_editor_gets_the_joint_attention_of_the_job(tiny_ip2p_dir: Path) -> None:
    config = In2NPipelineConfig(ip2p_model=str(tiny_ip2p_dir), joint_attention="anchor")
    fill_unset_model_defaults(config)  # as In2NPipeline.__init__ does
    pipeline = SimpleNamespace(editor=None, config=config, device="cpu")
    editor = In2NPipeline.get_editor(pipeline)  # the method alone: no NeRF is needed to build the editor
    assert editor.settings.joint_attention == "anchor"
    assert In2NPipelineConfig().joint_attention == EditParams(instruction="x").joint_attention == "off"
