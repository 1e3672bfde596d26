"""Text output of the CLI: aligned tables, CSV, JSON and YAML, numbers, ages and
durations. Pure functions."""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Sequence
from typing import Any

import yaml
from kubetune.operator.controller.types import count

__all__ = ["count"]  # `output.count`, as the status's messages count

MISSING = "-"


def number(value: float | int | None, digits: int = 6) -> str:
    """A number for a table: up to `digits` significant digits; `-` when missing."""
    if value is None:
        return MISSING
    if isinstance(value, int) or (
        math.isfinite(value) and value == int(value) and abs(value) < 1e15
    ):
        return str(int(value))
    return f"{value:.{digits}g}"


def hyperparameter(text: str | None, digits: int = 5) -> str:
    """A hyperparameter's text shortened for a table: numbers to `digits` significant
    digits (the exact text is in CSV, JSON and YAML), anything else as is."""
    if text is None:
        return MISSING
    try:
        value = float(text)
    except ValueError:
        return text
    return text if "." not in text and "e" not in text.lower() else number(value, digits)


def duration(seconds: float | None) -> str:
    """`<1s`, `45s`, `3m05s`, `2h07m`, `3d04h`; `-` when missing. Each unit truncated
    (5.9 s is `5s`). Under a second is `<1s`, not `0s`: a trial's start and end are
    recorded to the second (as Kubernetes writes times), so 0 means that it ended within
    the second it started in, not that it took no time; tenths would be made up."""
    if seconds is None:
        return MISSING
    if seconds < 1:
        return "<1s"
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns separated by three spaces, as kubectl prints them (no trailing blanks)."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    lines = []
    for row in (headers, *rows):
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row)]
        lines.append("   ".join(cells).rstrip())
    return "\n".join(lines) + "\n"


def to_csv(headers: Sequence[str], records: Sequence[dict[str, Any]]) -> str:
    """RFC 4180 CSV with a header row; missing values are empty cells."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(headers), lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerow({k: "" if v is None else v for k, v in record.items()})
    return buffer.getvalue()


def _json_safe(value: Any) -> Any:
    """NaN and infinities are not JSON: they become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


def to_json(data: Any) -> str:
    return json.dumps(_json_safe(data), indent=2) + "\n"


class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    """PyYAML's safe dumper (libyaml's where installed), with more text quoted: PyYAML
    quotes a string only where YAML 1.1 as PyYAML reads it would take it for another
    type, but kubectl (go-yaml v2, `cli/kubectl_yaml.py`) also reads `1e-05`, `1e5`,
    `+.5`, `08`, `0o17` and `y`/`n` as numbers and booleans, and the API server then
    refuses a manifest whose hyperparameter (text) was pasted from `best -o yaml`."""


_MAYBE_NOT_TEXT = re.compile(r"[-+.0-9]|[yYnN]\Z")
"""Where go-yaml v2 (and YAML 1.2) may read a plain scalar as a number or a boolean
beyond PyYAML's YAML 1.1: it tries numbers only on text that begins with a digit, a sign
or a point, and its words are PyYAML's but for y, Y, n and N. Quoting all such text
(`3x3` too) is simpler than mirroring Go's number syntax, and reads back the same."""


def _represent_text(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    style = "'" if _MAYBE_NOT_TEXT.match(text) else None  # None: plain where PyYAML may
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(str, _represent_text)


def to_yaml(data: Any) -> str:
    """YAML whose text reads back as text in any YAML reader, kubectl's included."""
    text: str = yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True)
    return text
