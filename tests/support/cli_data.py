"""Data of the CLI and analytics tests: the time the records are computed at, and a
TuningJob written as a run directory (what local mode leaves behind)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

NOW = datetime(2026, 1, 2, tzinfo=UTC)


def write_directory(body: dict[str, Any], directory: Path) -> Path:
    """The TuningJob as a directory: tuningjob.yaml (without status) and status.yaml."""
    directory.mkdir(parents=True, exist_ok=True)
    manifest = {k: v for k, v in body.items() if k != "status"}
    (directory / "tuningjob.yaml").write_text(yaml.safe_dump(manifest))
    (directory / "status.yaml").write_text(yaml.safe_dump(body["status"]))
    return directory
