"""The chart's crds/ must be a byte-for-byte copy of the repository's crds/."""

from __future__ import annotations

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]
SOURCE = ROOT / "crds"
COPY = ROOT / "charts" / "kubetune" / "crds"


def _yaml_files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*.yaml"))}


def test_chart_ships_the_tuningjob_crd() -> None:
    copy = _yaml_files(COPY)
    assert "kubetune.io_tuningjobs.yaml" in copy, "run `make chart-crds`"
    crd = yaml.safe_load(copy["kubetune.io_tuningjobs.yaml"])
    assert crd["kind"] == "CustomResourceDefinition"
    assert crd["metadata"]["name"] == "tuningjobs.kubetune.io"


def test_chart_crds_match_the_source() -> None:
    source, copy = _yaml_files(SOURCE), _yaml_files(COPY)
    assert sorted(copy) == sorted(source), "chart CRDs differ from crds/: run `make chart-crds`"
    drifted = [name for name in source if source[name] != copy[name]]
    assert not drifted, f"chart CRDs drifted from crds/: {drifted}; run `make chart-crds`"
