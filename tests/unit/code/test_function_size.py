"""No function in operator/ or optimizer/ over 80 lines or 7 parameters (the project's
rule; ruff's complexity rules catch branches and statements, not lines)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
MAX_LINES = 80
MAX_PARAMETERS = 7


def functions() -> list[tuple[str, str, int, int]]:
    found = []
    for folder in ("operator", "optimizer"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            tree = ast.parse(path.read_text())
            for node in ast.walk(tree):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    args = node.args
                    named = [*args.posonlyargs, *args.args, *args.kwonlyargs]
                    params = len([a for a in named if a.arg not in ("self", "cls")])
                    lines = (node.end_lineno or node.lineno) - node.lineno + 1
                    found.append((str(path.relative_to(ROOT)), node.name, lines, params))
    return found


def test_functions_are_short_and_take_few_parameters() -> None:
    found = functions()
    assert len(found) > 100  # the scan sees the code
    too_big = [
        f"{path}:{name} ({lines} lines, {params} parameters)"
        for path, name, lines, params in found
        if (lines > MAX_LINES or params > MAX_PARAMETERS)
    ]
    assert not too_big, "split these into named steps:\n" + "\n".join(too_big)
