"""A TuningJob kept in a directory instead of a cluster (for local runs, issue 15):
`tuningjob.yaml` holds the object (apiVersion, kind, metadata, spec, optionally status)
and `status.yaml`, when present, its status (camelCase, as the operator writes it);
`logs/` each trial Job's output (`logs/<job>.log`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from kubetune.analytics.errors import KubetuneError, NotFoundError

MANIFEST = "tuningjob.yaml"
STATUS = "status.yaml"
LOGS = "logs"


def _mapping(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise KubetuneError(f"{path} is not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise KubetuneError(f"{path} must hold a mapping, not {type(data).__name__}")
    return data


def read_directory(directory: Path | str) -> dict[str, Any]:
    """The TuningJob object stored in `directory`, as the API server would return it."""
    directory = Path(directory)
    manifest = directory / MANIFEST
    if not manifest.is_file():
        raise NotFoundError(f"no TuningJob in {directory}: {MANIFEST} is missing")
    body = _mapping(manifest)
    status = directory / STATUS
    if status.is_file():
        body["status"] = _mapping(status)
    body.setdefault("metadata", {}).setdefault("name", directory.name)
    return body
