"""charts/kubetune against the real API server: both renders pass a server-side dry-run,
the pod template meets the `restricted` Pod Security Standard, and the namespaced RBAC
grants the operator what it needs in the watched namespaces and nothing elsewhere.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "kubetune"
RELEASE = "kubetune"
DEFAULT_HELM = Path.home() / ".cache" / "kubetune" / "helm-v4.3.1" / "helm"
DEFAULT_KUBE_BIN = Path.home() / ".cache" / "kubetune" / "kube-v1.36.3"


def _run(argv: list[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, input=stdin, capture_output=True, text=True, timeout=120, check=False
    )


def helm_template(namespace: str, *set_values: str) -> str:
    helm = os.environ.get("KUBETUNE_HELM", str(DEFAULT_HELM))
    argv = [helm, "template", RELEASE, str(CHART), "--namespace", namespace]
    for value in set_values:
        argv += ["--set", value]
    done = _run(argv)
    assert done.returncode == 0, done.stderr
    return done.stdout


def kubectl(kubeconfig: Path | str, *args: str, stdin: str | None = None, ok: bool = True) -> str:
    """kubectl against the test cluster; stdout + stderr. Fails the test on error if `ok`."""
    kube_bin = Path(os.environ.get("KUBETUNE_KUBE_BIN", DEFAULT_KUBE_BIN))
    done = _run([str(kube_bin / "kubectl"), f"--kubeconfig={kubeconfig}", *args], stdin)
    if ok:
        assert done.returncode == 0, f"kubectl {' '.join(args)}: {done.stderr}"
    return done.stdout + done.stderr


@pytest.fixture
def watched(kubeconfig_path: Path | str) -> Iterator[list[str]]:
    """Two fresh namespaces for the namespaced mode; deleted afterwards."""
    names = [f"kt-watched-{uuid.uuid4().hex[:6]}" for _ in range(2)]
    for name in names:
        kubectl(kubeconfig_path, "create", "namespace", name)
    yield names
    kubectl(kubeconfig_path, "delete", "namespace", *names, "--wait=false", ok=False)


@pytest.fixture
def chart_crds(kubeconfig_path: Path | str) -> None:
    """The chart's CRDs applied and Established, as `helm install` would (idempotent:
    other tests apply the same files with the same field manager)."""
    kubectl(
        kubeconfig_path, "apply", "--server-side", "--force-conflicts",
        "--field-manager=kubetune-tests", "-f", str(CHART / "crds"),
    )  # fmt: skip
    kubectl(
        kubeconfig_path, "wait", "--for=condition=Established", "--timeout=60s",
        "-f", str(CHART / "crds"),
    )  # fmt: skip


def _dry_run(kubeconfig: Path | str, manifests: str) -> str:
    out = kubectl(kubeconfig, "apply", "--dry-run=server", "-f", "-", stdin=manifests)
    objects = [o for o in yaml.safe_load_all(manifests) if o]
    # kubectl prints one "<kind>/<name> created (server dry run)" line per object.
    assert out.count("(server dry run)") == len(objects), out
    return out


def test_default_render_passes_server_dry_run(kubeconfig_path: Path | str, namespace: str) -> None:
    # Warn (the dry-run then reports) on anything the restricted profile forbids.
    kubectl(
        kubeconfig_path,
        "label",
        "namespace",
        namespace,
        "pod-security.kubernetes.io/warn=restricted",
        "--overwrite",
    )
    out = _dry_run(kubeconfig_path, helm_template(namespace))
    assert "deployment.apps/kubetune created (server dry run)" in out
    assert "clusterrole.rbac.authorization.k8s.io/kubetune created (server dry run)" in out
    assert "would violate PodSecurity" not in out, out


def test_namespaced_render_passes_server_dry_run(
    kubeconfig_path: Path | str, namespace: str, watched: list[str]
) -> None:
    manifests = helm_template(namespace, "watchNamespaces={" + ",".join(watched) + "}")
    out = _dry_run(kubeconfig_path, manifests)
    lines = out.splitlines()
    # One Role and one RoleBinding in each watched namespace (they exist, so the server
    # resolved them), and no binding cluster-wide.
    assert lines.count("role.rbac.authorization.k8s.io/kubetune created (server dry run)") == 2
    assert (
        lines.count("rolebinding.rbac.authorization.k8s.io/kubetune created (server dry run)") == 2
    )
    assert not [line for line in lines if line.startswith("clusterrolebinding.")]


def test_a_watched_namespace_that_does_not_exist_is_refused_before_anything_is_made(
    kubeconfig_path: Path | str, namespace: str, watched: list[str]
) -> None:
    helm = os.environ.get("KUBETUNE_HELM", str(DEFAULT_HELM))
    missing = f"kt-missing-{uuid.uuid4().hex[:6]}"
    argv = [
        helm,
        "install",
        RELEASE,
        str(CHART),
        f"--kubeconfig={kubeconfig_path}",
        "--namespace",
        namespace,
        "--dry-run=server",
    ]
    done = _run([*argv, "--set", f"watchNamespaces={{{watched[0]},{missing}}}"])
    assert done.returncode != 0
    assert (
        f"watchNamespaces: namespace {missing} does not exist; create it first "
        f"(kubectl create namespace {missing})"
    ) in done.stderr, done.stderr
    done = _run([*argv, "--set", "watchNamespaces={" + ",".join(watched) + "}"])
    assert done.returncode == 0, done.stderr


def test_namespaced_rbac_confines_the_operator(
    kubeconfig_path: Path | str, namespace: str, watched: list[str], chart_crds: None
) -> None:
    """Apply the namespaced RBAC for real and ask the API server's authorizer."""
    release = f"kt-{uuid.uuid4().hex[:6]}"
    helm = os.environ.get("KUBETUNE_HELM", str(DEFAULT_HELM))
    done = _run(
        [helm, "template", release, str(CHART), "--namespace", namespace,
         "--set", "watchNamespaces={" + ",".join(watched) + "}",
         "--show-only", "templates/rbac.yaml", "--show-only", "templates/serviceaccount.yaml"]
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    kubectl(kubeconfig_path, "apply", "-f", "-", stdin=done.stdout)
    [account] = [o for o in yaml.safe_load_all(done.stdout) if o and o["kind"] == "ServiceAccount"]
    sa = f"system:serviceaccount:{namespace}:{account['metadata']['name']}"

    def can(*args: str) -> bool:
        # stdout is "yes" or "no"; stderr may warn that the CRD is not installed (RBAC
        # does not need it to be).
        kube_bin = Path(os.environ.get("KUBETUNE_KUBE_BIN", DEFAULT_KUBE_BIN))
        argv = [str(kube_bin / "kubectl"), f"--kubeconfig={kubeconfig_path}", "auth", "can-i"]
        answer = _run([*argv, f"--as={sa}", *args]).stdout.strip()
        assert answer in {"yes", "no"}, answer
        return answer == "yes"

    try:
        for name in watched:
            assert can("create", "jobs.batch", "-n", name)
            assert can("watch", "tuningjobs.kubetune.io", "-n", name)
            assert can("patch", "tuningjobs.kubetune.io", "--subresource=status", "-n", name)
            assert can("get", "pods", "--subresource=log", "-n", name)
            assert can("create", "events", "-n", name)
            assert can("list", "events", "-n", name)  # why a trial Job has no pod
            assert not can("get", "secrets", "-n", name)
        # Nothing in a namespace it does not watch, nothing cluster-wide.
        assert not can("create", "jobs.batch", "-n", namespace)
        assert not can("list", "tuningjobs.kubetune.io", "--all-namespaces")
        assert not can("list", "namespaces")
        assert not can("watch", "customresourcedefinitions.apiextensions.k8s.io")
    finally:
        kubectl(kubeconfig_path, "delete", "-f", "-", "--wait=false", stdin=done.stdout, ok=False)


def test_peering_can_be_turned_on_and_off_by_upgrades(
    kubeconfig_path: Path | str, namespace: str
) -> None:
    """Helm 4 upgrades by server-side apply: a field the chart renders is the release's,
    removed when a later render leaves it out. The API server defaults a RollingUpdate
    Deployment's `rollingUpdate`; rendered by nobody, it stayed when peering was turned
    off (strategy Recreate), which the API server refuses with it ("may not be specified
    when strategy type is 'Recreate'"): the release could not leave peering, by upgrade
    or rollback. Replicas 0: no operator pod is needed to show it."""
    helm = os.environ.get("KUBETUNE_HELM", str(DEFAULT_HELM))
    release = f"kt-{uuid.uuid4().hex[:6]}"
    names = set()

    def apply(*set_values: str) -> str:
        argv = [helm, "template", release, str(CHART), "--namespace", namespace]
        argv += ["--show-only", "templates/deployment.yaml"]
        done = _run([*argv, *(f"--set={value}" for value in set_values)])
        assert done.returncode == 0, done.stderr
        deployment = yaml.safe_load(done.stdout)
        deployment["spec"]["replicas"] = 0
        names.add(name := deployment["metadata"]["name"])
        kubectl(
            kubeconfig_path, "apply", "--server-side", "--field-manager=helm", "-f", "-",
            stdin=yaml.safe_dump(deployment),
        )  # fmt: skip
        found = kubectl(
            kubeconfig_path, "get", "deployment", name, "-n", namespace,
            "-o", "jsonpath={.spec.strategy.type}",
        )  # fmt: skip
        return found

    try:
        assert apply() == "Recreate"
        assert apply("peering.enabled=true", "replicaCount=2") == "RollingUpdate"
        assert apply() == "Recreate"  # refused before: rollingUpdate left by the defaulting
        assert apply("peering.enabled=true", "replicaCount=2") == "RollingUpdate"
    finally:
        for name in names:
            kubectl(kubeconfig_path, "delete", "deployment", name, "-n", namespace, ok=False)
