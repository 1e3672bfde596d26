"""Every values.yaml key is documented, and README's values table is generated from it."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[3]


def _values_table() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "chart_values_table", ROOT / "hack" / "chart_values_table.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_every_values_key_is_documented() -> None:
    rows, undocumented = _values_table().parse((ROOT / "charts/kubetune/values.yaml").read_text())
    assert not undocumented, f"values.yaml keys without a `# --` comment: {undocumented}"
    assert all(row.description for row in rows)
    assert {"watchNamespaces", "image.repository", "metrics.serviceMonitor.enabled"} <= {
        row.key for row in rows
    }


def test_parser_flags_an_undocumented_key() -> None:
    text = "# -- documented\na: 1\nb:\n  # -- nested\n  c: 2\n  d: 3\n"
    rows, undocumented = _values_table().parse(text)
    assert [row.key for row in rows] == ["a", "b.c"]
    assert undocumented == ["b.d"]


def test_readme_values_table_is_current() -> None:
    module = _values_table()
    rows, _ = module.parse(module.VALUES.read_text())
    readme = module.README.read_text()
    assert module.START in readme, "README.md lacks the chart values table markers"
    assert module.readme_with_table(readme, rows) == readme, "run `make chart-docs`"
