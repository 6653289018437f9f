"""`in2n-server`'s flags come from `Settings` (tyro): every field is a flag whose help is its docstring."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from in2n_server import config
from in2n_server.cli import settings_from_args


def field_docstrings() -> dict[str, str]:
    """Settings' fields and the docstrings under them, read from the source as tyro reads them."""
    tree = ast.parse(Path(config.__file__).read_text())
    body = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Settings").body
    docs = {}
    for field, doc in zip(body, body[1:], strict=False):
        if (
            isinstance(field, ast.AnnAssign)
            and isinstance(doc, ast.Expr)
            and isinstance(doc.value, ast.Constant)
        ):
            docs[field.target.id] = " ".join(doc.value.value.split())
    return docs


@pytest.mark.slow  # starts a process
def test_help_lists_every_setting_with_its_docstring() -> None:
    env = dict(os.environ, COLUMNS="1000")
    command = [
        sys.executable,
        "-c",
        "import sys; from in2n_server.cli import main; sys.exit(main())",
        "--help",
    ]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    text = " ".join(re.sub(r"[│╭╮╰╯─]", " ", done.stdout).split())
    docs = field_docstrings()
    assert len(docs) >= 15
    for name, doc in docs.items():
        flag = "--allow-root" if name == "allow_roots" else "--" + name.replace("_", "-")
        assert flag in text, flag
        assert doc in text, (name, doc)


def test_flags_fill_the_settings(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("IN2N_TOKEN", "from-env")
    first, second = tmp_path / "a", tmp_path / "b"
    settings = settings_from_args(
        ["--allow-root", str(first), "--allow-root", str(second), "--max-upload-mb", "1.5"]
        + ["--device", "cpu", "--model", "demo", "--checkpoint-every", "40", "--ray", "auto"]
    )
    assert settings.allow_roots == [first.resolve(), second.resolve()]
    assert settings.max_upload_bytes == int(1.5 * 1024 * 1024)
    assert (settings.device, settings.model, settings.checkpoint_every, settings.ray) == (
        "cpu",
        "demo",
        40,
        "auto",
    )
    assert settings.token == "from-env"  # left out on the command line: the environment's
    assert settings_from_args(["--token", "flag"]).token == "flag"
