"""apply_crds (hack/cluster/operator_process.py) tries `kubectl wait` again when it fails,
and its error names kubectl's own message. kubectl here is a script that fails the way one
CI run's did (the API server and the CRDs are exercised for real by every cluster test)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from cluster.operator_process import apply_crds


def fake_kubectl(tmp_path: Path, failing_waits: int) -> Path:
    """A kubectl whose first ``failing_waits`` waits exit 1 with a message; it logs calls."""
    script = tmp_path / "kubectl"
    script.write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> "{tmp_path}/calls"\n'
        'case "$*" in *" wait "*)\n'
        f'  n=$(grep -c " wait " "{tmp_path}/calls")\n'
        f'  if [ "$n" -le {failing_waits} ]; then echo "error: watch closed" >&2; exit 1; fi;;\n'
        "esac\n"
    )
    script.chmod(0o755)
    return script


def test_a_failed_wait_is_tried_again(tmp_path: Path) -> None:
    kubectl = fake_kubectl(tmp_path, failing_waits=1)
    apply_crds(tmp_path / "kubeconfig", kubectl, timeout=30)
    calls = (tmp_path / "calls").read_text().splitlines()
    assert [c.split()[2] for c in calls] == ["apply", "wait", "wait"]


def test_past_the_deadline_the_error_carries_kubectls_message(tmp_path: Path) -> None:
    kubectl = fake_kubectl(tmp_path, failing_waits=100)
    with pytest.raises(subprocess.CalledProcessError, match="error: watch closed"):
        apply_crds(tmp_path / "kubeconfig", kubectl, timeout=0)
