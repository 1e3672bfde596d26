"""The chart's values table, generated from the `# --` comments in values.yaml.

A comment block that starts with `# --` documents the key on the line below it (the
helm-docs convention); a documented mapping is one row, its keys are part of its default.
Every key must be documented, itself or through a documented ancestor.

    python hack/chart_values_table.py          print the markdown table
    python hack/chart_values_table.py --write  replace the table in README.md
    python hack/chart_values_table.py --check  exit 1: README.md stale or a key undocumented
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
VALUES = ROOT / "charts" / "kubetune" / "values.yaml"
README = ROOT / "README.md"
START = "<!-- chart-values:start (generated from charts/kubetune/values.yaml: make chart-docs) -->"
END = "<!-- chart-values:end -->"

_KEY = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z0-9_.-]+):")


@dataclass(frozen=True)
class Row:
    key: str  # dotted path, e.g. "image.repository"
    default: Any
    description: str


def _lookup(values: dict[str, Any], dotted: str) -> Any:
    node: Any = values
    for part in dotted.split("."):
        node = node[part]
    return node


def parse(text: str) -> tuple[list[Row], list[str]]:
    """Return the documented rows and the dotted keys that nothing documents."""
    values = yaml.safe_load(text)
    rows: list[Row] = []
    undocumented: list[str] = []
    stack: list[tuple[int, str, bool]] = []  # (indent, key, documented)
    comment: list[str] | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("# --"):
            comment = [stripped[4:].strip()]
            continue
        if stripped.startswith("#"):
            if comment is not None:
                comment.append(stripped[1:].strip())
            continue
        match = _KEY.match(line)
        if not match:
            if not stripped:
                comment = None
            continue
        indent = len(match["indent"])
        while stack and stack[-1][0] >= indent:
            stack.pop()
        dotted = ".".join([k for _, k, _ in stack] + [match["key"]])
        inherited = any(documented for _, _, documented in stack)
        documented = comment is not None
        if documented and not inherited:
            rows.append(Row(dotted, _lookup(values, dotted), " ".join(comment or [])))
        default = _lookup(values, dotted)
        if not documented and not inherited and not isinstance(default, dict):
            undocumented.append(dotted)
        stack.append((indent, match["key"], documented))
        comment = None
    return rows, undocumented


def table(rows: list[Row]) -> str:
    lines = ["| Key | Default | Description |", "|---|---|---|"]
    for row in rows:
        default = json.dumps(row.default, separators=(", ", ": ")).replace("|", r"\|")
        description = row.description.replace("|", r"\|")
        lines.append(f"| `{row.key}` | `{default}` | {description} |")
    return "\n".join(lines)


def readme_with_table(readme: str, rows: list[Row]) -> str:
    """README text with the region between the markers replaced by the current table."""
    head, sep, rest = readme.partition(START)
    if not sep or END not in rest:
        raise SystemExit(f"README.md lacks the markers {START!r} ... {END!r}")
    _, _, tail = rest.partition(END)
    return f"{head}{START}\n{table(rows)}\n{END}{tail}"


def main(argv: list[str]) -> int:
    rows, undocumented = parse(VALUES.read_text())
    if undocumented:
        print(f"undocumented keys in {VALUES}: {', '.join(undocumented)}", file=sys.stderr)
        return 1
    if "--write" in argv:
        README.write_text(readme_with_table(README.read_text(), rows))
    elif "--check" in argv:
        current = README.read_text()
        if readme_with_table(current, rows) != current:
            print("README.md's chart values table is stale: run `make chart-docs`", file=sys.stderr)
            return 1
    else:
        print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
