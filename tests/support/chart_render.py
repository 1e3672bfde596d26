"""The chart under test, where helm is, and a parsed `helm template` output."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "kubetune"
RELEASE = "kubetune"
RELEASE_NAMESPACE = "kubetune-system"
# Same default as the Makefile's HELM; `make` exports KUBETUNE_HELM.
DEFAULT_HELM = Path.home() / ".cache" / "kubetune" / "helm-v4.3.1" / "helm"


@dataclass(frozen=True)
class Render:
    """One `helm template` output: the raw text (comments kept) and the parsed objects."""

    text: str
    objects: list[dict[str, Any]]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o["kind"] == kind]

    def one(self, kind: str) -> dict[str, Any]:
        found = self.of_kind(kind)
        assert len(found) == 1, f"expected one {kind}, rendered {len(found)}"
        return found[0]
