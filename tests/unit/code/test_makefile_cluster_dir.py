"""The Makefile's targets that use the local cluster find its kubeconfig where `make
cluster-up` writes it: in $KUBETUNE_CLUSTER_DIR when set (QA76 M3)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.skipif(shutil.which("make") is None, reason="no make")
def test_run_operator_uses_the_cluster_dir_given(tmp_path: Path) -> None:
    def recipe(**env: str) -> str:
        result = subprocess.run(
            ["make", "--no-print-directory", "-n", "run-operator"],
            cwd=ROOT,
            env={**os.environ, **env},
            capture_output=True,
            text=True,
            check=True,
        )
        return result.stdout

    given = recipe(KUBETUNE_CLUSTER_DIR=str(tmp_path))
    assert f"--kubeconfig {tmp_path}/kubeconfig apply" in given
    assert f"KUBECONFIG={tmp_path}/kubeconfig " in given
    assert ".cluster/kubeconfig" not in given
    default = recipe(KUBETUNE_CLUSTER_DIR="")
    assert "--kubeconfig .cluster/kubeconfig apply" in default
