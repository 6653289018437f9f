"""Every benchmark option explains itself in `--help` (a benchmark is run by people who did not write it)."""

from __future__ import annotations

import ast
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def options_without_help() -> list[str]:
    missing = []
    for path in sorted(BENCHMARKS.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            is_option = isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "add_argument"
            if is_option and not any(keyword.arg == "help" for keyword in node.keywords):
                name = node.args[0].value if node.args and isinstance(node.args[0], ast.Constant) else "?"
                missing.append(f"{path.relative_to(BENCHMARKS)}:{node.lineno} {name}")
    return missing


def test_every_benchmark_option_has_help_text() -> None:
    assert options_without_help() == []
