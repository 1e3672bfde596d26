"""The image mapping of hack/images.yaml: image repository → local entrypoint and PATH."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml


class ImageMappingError(ValueError):
    """hack/images.yaml is malformed; the message names the entry and the fix."""


@dataclass(frozen=True)
class LocalImage:
    """What an image means on this machine: absolute entrypoint argv and PATH dirs."""

    entrypoint: list[str]
    path: list[str]


def image_repository(image: str) -> str:
    """``registry.example:5000/team/app:1.0@sha256:…`` → ``team/app``; ``python:3.11`` →
    ``python``. The first component is a registry when it has a '.' or ':' or is
    localhost, as in Docker's reference grammar; ``docker.io/library/`` is dropped."""
    name = image.split("@", 1)[0]
    parts = name.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = parts[1:]
    last = parts[-1]
    if ":" in last:
        parts[-1] = last.split(":", 1)[0]
    if len(parts) == 2 and parts[0] == "library":
        parts = parts[1:]
    return "/".join(parts)


def _absolute(root: Path, entry: str) -> str:
    return entry if entry.startswith("/") else str(root / entry)


def _entrypoint(root: Path, entrypoint: list[str]) -> list[str]:
    """Every word that looks like a relative path (has a '/', is not a flag) is resolved
    against the repository root; other words (``python3``, ``--flag``) pass unchanged."""
    return [_absolute(root, w) if "/" in w and not w.startswith("-") else w for w in entrypoint]


def load_images(path: Path, root: Path) -> dict[str, LocalImage]:
    """Parses the mapping file; relative paths are resolved against ``root``."""
    raw = yaml.safe_load(path.read_text()) or {}
    if not isinstance(raw, dict):
        raise ImageMappingError(f"{path}: expected a mapping of image repository → entry")
    images: dict[str, LocalImage] = {}
    for key, value in raw.items():
        if not isinstance(value, dict):
            raise ImageMappingError(
                f"{path}: {key}: expected {{entrypoint: [...], path: [...]}}, got {value!r}"
            )
        unknown = set(value) - {"entrypoint", "path"}
        if unknown:
            raise ImageMappingError(
                f"{path}: {key}: unknown keys {sorted(unknown)}; allowed: entrypoint, path"
            )
        entrypoint = value.get("entrypoint", [])
        dirs = value.get("path", [])
        for field, items in (("entrypoint", entrypoint), ("path", dirs)):
            if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
                raise ImageMappingError(
                    f"{path}: {key}.{field}: expected a list of strings, got {items!r}"
                )
        images[str(key)] = LocalImage(
            entrypoint=_entrypoint(root, entrypoint),
            path=[_absolute(root, d) for d in dirs],
        )
    return images
