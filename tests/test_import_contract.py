"""The import contract between the layers (docs/architecture.md, "Layers and their rules").

Static rules are read from the source with `ast` (every import, also those inside functions);
"at import time" rules are checked twice: statically (module-level imports outside `if TYPE_CHECKING:`)
and by importing the module in a fresh interpreter and looking at `sys.modules`, which also catches what
comes in through other modules.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {
    "blender_in2n": ROOT / "blender_in2n",
    "in2n_protocol": ROOT / "in2n_protocol",
    "in2n_server": ROOT / "server",
}
HTTP = ("fastapi", "starlette", "sse_starlette", "uvicorn")
HEAVY = ("torch", "nerfstudio")
BLENDER = ("bpy", "mathutils", "bpy_extras", "gpu")
# The extension's modules that run without Blender (protocol, HTTP client, background worker, camera
# maths, PNG codec, job body, light maps): tests and the server import them in plain Python.
BPY_FREE = tuple(
    f"blender_in2n.{name}"
    for name in ("protocol", "errors", "client", "worker", "camera_math", "png", "job_request", "light_maps")
)


@dataclass(frozen=True)
class Rule:
    layer: str
    """Modules the rule is about: this module and everything under it."""
    forbidden: tuple[str, ...]
    """Modules they must not import (these and everything under them)."""
    at_import_time_only: bool = False
    """Only imports that run when the module is imported count (not those inside functions)."""
    why: str = ""


RULES = (
    Rule(
        "blender_in2n",
        ("torch", "nerfstudio", "diffusers", "in2n_server", "server"),
        why="the extension runs inside Blender: standard library and bpy only, talks to the server by HTTP",
    ),
    Rule(
        "in2n_server",
        ("blender_in2n",),
        why="the server shares only the protocol (in2n_protocol) with the extension, not the Blender package",
    ),
    Rule(
        "in2n_server.engine", ("in2n_server.api", "in2n_server.jobs", *HTTP), why="the engine knows no HTTP"
    ),
    Rule(
        "in2n_server.editor", ("in2n_server.api", "in2n_server.jobs", *HTTP), why="the editor knows no HTTP"
    ),
    Rule("in2n_server.api", ("nerfstudio",), why="routes translate HTTP; the engine is behind EditSession"),
    Rule("in2n_server.api", ("torch",), at_import_time_only=True, why="the API starts without torch"),
    Rule("in2n_server.export", ("in2n_server.jobs",), why="export raises its own errors"),
    *(
        Rule(layer, ("ray",), why="only the job backend knows where jobs run")
        for layer in ("in2n_server.api", "in2n_server.engine", "in2n_server.editor", "in2n_server.export")
    ),
    *(
        Rule(module, BLENDER, why="a bpy-free module of the extension runs without Blender")
        for module in BPY_FREE
    ),
    Rule(
        "in2n_server.jobs", ("in2n_server.api", *HTTP), why="jobs are the domain; routes call them, not back"
    ),
    Rule(
        "in2n_server.jobs.service",
        ("ray", "in2n_server.jobs.ray_backend"),
        at_import_time_only=True,
        why="the embedded worker is the default: Ray is imported only for --ray",
    ),
)
# Modules that must import without torch or nerfstudio (the server's HTTP side, `in2n-server --help`).
LIGHT_MODULES = sorted(
    {f"in2n_server.api.{p.stem}" for p in (ROOT / "server" / "api").glob("*.py") if p.stem != "__init__"}
    | {"in2n_server.api", "in2n_server.app", "in2n_server.cli", "in2n_server.ingest"}
)


@dataclass(frozen=True)
class Import:
    file: Path
    line: int
    names: tuple[str, ...]
    """The imported module and, for `from m import x`, also `m.x` (x may be a submodule)."""
    at_import_time: bool


def module_name(path: Path) -> str:
    for package, folder in PACKAGES.items():
        if path.is_relative_to(folder):
            parts = [package, *path.relative_to(folder).with_suffix("").parts]
            return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
    raise ValueError(f"{path} is in no package")


def imports_of(path: Path, module: str | None = None) -> list[Import]:
    """Every import in `path`, resolved to absolute module names."""
    module = module or module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[Import] = []

    def visit(node: ast.AST, deferred: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                visit(child, True)
            elif isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                visit(child, True)  # never runs
            elif isinstance(child, ast.Import):
                for alias in child.names:
                    found.append(Import(path, child.lineno, (alias.name,), not deferred))
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split(".")[: len(package.split(".")) - (child.level - 1)]
                    target = ".".join([*base, child.module] if child.module else base)
                else:
                    target = child.module or ""
                names = (target, *(f"{target}.{alias.name}" for alias in child.names))
                found.append(Import(path, child.lineno, names, not deferred))
            else:
                visit(child, deferred)

    visit(ast.parse(path.read_text(encoding="utf-8"), str(path)), False)
    return found


def within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def violations(files: list[tuple[Path, str]], rules: tuple[Rule, ...] = RULES) -> list[str]:
    """What breaks the rules in `files` (each a path and its module name)."""
    problems = []
    for path, module in files:
        for rule in rules:
            if not within(module, rule.layer):
                continue
            for imported in imports_of(path, module):
                if rule.at_import_time_only and not imported.at_import_time:
                    continue
                bad = sorted({f for f in rule.forbidden for n in imported.names if within(n, f)})
                if bad:
                    when = " at import time" if rule.at_import_time_only else ""
                    problems.append(
                        f"{shown(path)}:{imported.line}: {module} imports {imported.names[0]}; "
                        f"{rule.layer} must not import {', '.join(bad)}{when} ({rule.why})"
                    )
    return problems


def shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def source_files() -> list[tuple[Path, str]]:
    files = sorted(p for folder in PACKAGES.values() for p in folder.rglob("*.py"))
    return [(path, module_name(path)) for path in files]


def loaded_by_importing(module: str, watched: tuple[str, ...]) -> list[str]:
    """Which of `watched` are in `sys.modules` after importing `module` in a fresh interpreter."""
    code = (
        "import importlib, json, sys\n"
        f"importlib.import_module({module!r})\n"
        f"print(json.dumps([m for m in {watched!r} if m in sys.modules]))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_every_layer_imports_only_what_it_may() -> None:
    problems = violations(source_files())
    assert not problems, "import contract broken:\n" + "\n".join(problems)


@pytest.mark.slow  # a fresh interpreter per module
@pytest.mark.parametrize("module", LIGHT_MODULES)
def test_the_http_side_imports_without_torch_or_nerfstudio(module: str) -> None:
    loaded = loaded_by_importing(module, HEAVY)
    assert loaded == [], f"importing {module} loads {', '.join(loaded)} (it must stay importable without)"


def test_the_checker_sees_violations(tmp_path: Path) -> None:
    """The rules are not vacuous: a file breaking each one is reported, lazy and relative imports too."""
    cases = {
        "in2n_server.engine.probe": ("from ..jobs.errors import ConflictError\n", "in2n_server.jobs"),
        "in2n_server.editor.probe": ("from fastapi import HTTPException\n", "fastapi"),
        "in2n_server.export.probe": ("def f():\n    from .. import jobs\n", "in2n_server.jobs"),
        "in2n_server.api.probe": ("import torch.nn\n", "torch at import time"),
        "in2n_server.api.lazy": ("def f():\n    from nerfstudio.cameras import cameras\n", "nerfstudio"),
        "blender_in2n.probe": ("def f():\n    import in2n_server.engine\n", "in2n_server"),
        "blender_in2n.client": ("def f():\n    import bpy\n", "bpy"),
        "blender_in2n.protocol": ("from mathutils import Matrix\n", "mathutils"),
        "in2n_server.engine.wire_probe": ("from blender_in2n import camera_math\n", "blender_in2n"),
        "in2n_server.jobs.probe": ("def f():\n    from ..api import errors\n", "in2n_server.api"),
    }
    for module, (source, expected) in cases.items():
        path = tmp_path / f"{module}.py"
        path.write_text(source)
        problems = violations([(path, module)])
        assert len(problems) == 1 and f"must not import {expected}" in problems[0], (source, problems)
    allowed = {
        "in2n_server.api.ok": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import torch\n"
        "def f():\n    import torch\n",
        "in2n_server.jobs.ok": "from ..engine import workdir\nfrom .errors import ConflictError\n",
        "blender_in2n.capture": "import bpy\nfrom mathutils import Matrix\n",
    }
    for module, source in allowed.items():
        path = tmp_path / f"{module}.py"
        path.write_text(source)
        assert violations([(path, module)]) == [], source


def non_stdlib_imports(files: list[tuple[Path, str]]) -> list[str]:
    """Imports in `files` of anything but the standard library and the protocol itself."""
    allowed = set(sys.stdlib_module_names) | {"__future__", "in2n_protocol"}
    return [
        f"{shown(path)}:{imported.line}: {module} imports {imported.names[0]}"
        for path, module in files
        for imported in imports_of(path, module)
        if imported.names[0].split(".")[0] not in allowed
    ]


def test_the_protocol_is_standard_library_only(tmp_path: Path) -> None:
    """It travels inside the extension zip and loads in any Blender's Python, without server packages."""
    files = [(path, module) for path, module in source_files() if within(module, "in2n_protocol")]
    assert len(files) >= 3 and not non_stdlib_imports(files), non_stdlib_imports(files)
    probe = tmp_path / "probe.py"
    probe.write_text("import json\nfrom . import wire\ndef f():\n    from pydantic import Field\n")
    assert [p.split(" imports ")[1] for p in non_stdlib_imports([(probe, "in2n_protocol.probe")])] == [
        "pydantic"
    ]


@pytest.mark.slow  # a fresh interpreter per module
@pytest.mark.parametrize("module", BPY_FREE)
def test_bpy_free_modules_import_without_blender(module: str) -> None:
    """Also through the other modules of the extension they import (the static rule sees direct imports)."""
    assert loaded_by_importing(module, BLENDER) == [], f"importing {module} loads Blender's API"
