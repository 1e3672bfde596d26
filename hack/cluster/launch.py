"""From a pod's container spec to a local process launch: argv, environment, working dir.

Pure functions (the API lookups for secrets and config maps come in as a callback), so the
kubelet's rules live in one readable place:

- ``command`` replaces the image's entrypoint; ``args`` follow either; ``$(VAR)`` in
  command, args and env values expands to an earlier variable, ``$$`` to ``$``, an
  unknown ``$(VAR)`` stays as written.
- The image means what hack/images.yaml says; a ``command`` naming a program present on
  this machine runs as is, whatever the image; anything else is ErrImagePull.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .images import LocalImage, image_repository

# The address every pod and node has on this machine.
LOCAL_IP = "127.0.0.1"

Pod = dict[str, Any]
Container = dict[str, Any]
# (kind "configMap" | "secret", namespace, name) → its data as text, or None if missing.
DataLookup = Callable[[str, str, str], dict[str, str] | None]


class LaunchError(Exception):
    """The container cannot start; ``reason`` is the kubelet's word (ErrImagePull, ...)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class Launch:
    """A process to start: ``executable`` is argv[0] resolved to a path; argv stays as
    written, so the program sees the name it was called by."""

    argv: list[str]
    executable: str
    env: dict[str, str]
    cwd: str | None  # the container's workingDir, None for the pod's scratch directory


def expand(text: str, variables: Mapping[str, str]) -> str:
    """Kubernetes ``$(VAR)`` expansion (k8s.io/kubernetes third_party/forked/golang/expansion):
    ``$(NAME)`` → its value when defined, else left as is; ``$$`` → ``$``."""
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char != "$" or i + 1 >= len(text):
            out.append(char)
            i += 1
            continue
        following = text[i + 1]
        if following == "$":
            out.append("$")
            i += 2
        elif following == "(":
            close = text.find(")", i + 2)
            if close == -1:  # unterminated: the rest is literal
                out.append(text[i:])
                break
            name = text[i + 2 : close]
            out.append(variables.get(name, f"$({name})"))
            i = close + 1
        else:
            out.append(text[i : i + 2])
            i += 2
    return "".join(out)


def field_value(pod: Pod, path: str) -> str:
    """The value of a ``fieldRef.fieldPath`` for this pod (the downward API)."""
    meta = pod.get("metadata", {})
    simple = {
        "metadata.name": meta.get("name", ""),
        "metadata.namespace": meta.get("namespace", ""),
        "metadata.uid": meta.get("uid", ""),
        "spec.nodeName": pod.get("spec", {}).get("nodeName", ""),
        "spec.serviceAccountName": pod.get("spec", {}).get("serviceAccountName", ""),
        "status.podIP": LOCAL_IP,
        "status.podIPs": LOCAL_IP,
        "status.hostIP": LOCAL_IP,
        "status.hostIPs": LOCAL_IP,
    }
    if path in simple:
        return str(simple[path])
    for prefix, source in (("metadata.labels", "labels"), ("metadata.annotations", "annotations")):
        if path.startswith(prefix + "['") and path.endswith("']"):
            return str(meta.get(source, {}).get(path[len(prefix) + 2 : -2], ""))
    raise LaunchError(
        "CreateContainerConfigError",
        f"env fieldRef.fieldPath {path!r} is not supported by the local node agent; use one "
        f"of {sorted(simple)} or metadata.labels['key'] / metadata.annotations['key']",
    )


def _ref_value(
    namespace: str, ref: dict[str, Any], kind: str, lookup: DataLookup, variable: str
) -> str | None:
    data = lookup(kind, namespace, ref.get("name", ""))
    optional = bool(ref.get("optional", False))
    if data is None or ref.get("key") not in data:
        if optional:
            return None
        what = f"{kind} {namespace}/{ref.get('name')}" + (
            f" key {ref.get('key')!r}" if data is not None else ""
        )
        raise LaunchError(
            "CreateContainerConfigError", f"env {variable}: {what} not found; create it first"
        )
    return data[ref["key"]]


def container_env(
    pod: Pod, container: Container, base: Mapping[str, str], lookup: DataLookup
) -> dict[str, str]:
    """``base`` (PATH, service host, ...) overlaid by ``envFrom`` then ``env`` in order;
    each ``env`` value may refer to variables defined before it."""
    namespace = pod["metadata"]["namespace"]
    env = dict(base)
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix", "")
        for kind in ("configMap", "secret"):
            ref = source.get(f"{kind}Ref")
            if ref is None:
                continue
            data = lookup(kind, namespace, ref.get("name", ""))
            if data is None:
                if ref.get("optional"):
                    continue
                raise LaunchError(
                    "CreateContainerConfigError",
                    f"envFrom: {kind} {namespace}/{ref.get('name')} not found; create it first",
                )
            env.update({prefix + k: v for k, v in data.items()})
    for var in container.get("env") or []:
        name = var["name"]
        source = var.get("valueFrom")
        if source is None:
            env[name] = expand(var.get("value", ""), env)
        elif "fieldRef" in source:
            env[name] = field_value(pod, source["fieldRef"]["fieldPath"])
        elif "configMapKeyRef" in source or "secretKeyRef" in source:
            kind = "configMap" if "configMapKeyRef" in source else "secret"
            value = _ref_value(namespace, source[f"{kind}KeyRef"], kind, lookup, name)
            if value is not None:
                env[name] = value
        else:
            raise LaunchError(
                "CreateContainerConfigError",
                f"env {name}: valueFrom {sorted(source)} is not supported by the local node "
                "agent; use value, fieldRef, configMapKeyRef or secretKeyRef",
            )
    return env


def resolve_program(program: str, path: str, cwd: str) -> str | None:
    """The executable ``program`` names: a path as is (relative to ``cwd``), a bare name
    through ``path``; None when there is no such executable."""
    if "/" in program:
        candidate = program if os.path.isabs(program) else os.path.join(cwd, program)
        return candidate if os.path.isfile(candidate) and os.access(candidate, os.X_OK) else None
    return shutil.which(program, path=path)


def plan_launch(
    pod: Pod,
    container: Container,
    *,
    images: Mapping[str, LocalImage],
    base_env: Mapping[str, str],
    lookup: DataLookup,
    scratch_dir: str,
) -> Launch:
    """How to run one container locally; raises LaunchError with the kubelet's reason."""
    image = container.get("image", "")
    local = images.get(image_repository(image))
    base = dict(base_env)
    if local and local.path:
        base["PATH"] = os.pathsep.join([*local.path, base.get("PATH", "")])
    env = container_env(pod, container, base, lookup)
    command = [expand(word, env) for word in container.get("command") or []]
    args = [expand(word, env) for word in container.get("args") or []]
    unmapped = (
        # "not found", as a registry says it: the operator fails the trial at once.
        f"image {image!r} not found: its repository {image_repository(image)!r} is not in "
        "hack/images.yaml and the container has no command that names a program on this "
        "machine; add the repository to hack/images.yaml or set command"
    )
    if command:
        argv = command + args
    elif local and local.entrypoint:
        argv = local.entrypoint + args
    else:
        raise LaunchError("ErrImagePull", unmapped)
    cwd = container.get("workingDir") or None
    program = resolve_program(argv[0], env.get("PATH", ""), cwd or scratch_dir)
    if program is None:
        if local is None:
            raise LaunchError("ErrImagePull", unmapped)
        raise LaunchError(
            "StartError",
            f"exec: {argv[0]!r}: no such executable (PATH={env.get('PATH', '')}); image "
            f"{image!r} maps to {local.entrypoint} in hack/images.yaml — is its virtualenv "
            "built (make install / make trainer-venv)?",
        )
    return Launch(argv, program, env, cwd)
