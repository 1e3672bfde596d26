"""From container spec to local process: expansion, image mapping, env, errors."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from cluster.images import ImageMappingError, LocalImage, image_repository, load_images
from cluster.launch import LaunchError, expand, plan_launch

REPO = Path(__file__).resolve().parents[3]
POD: dict[str, Any] = {
    "metadata": {"name": "p", "namespace": "ns", "uid": "u-1", "labels": {"app": "a"}},
    "spec": {"nodeName": "node-0"},
}
BASE = {"PATH": "/usr/bin:/bin", "HOME": "/root"}


def no_data(kind: str, namespace: str, name: str) -> dict[str, str] | None:
    return None


def plan(container: dict[str, Any], images: dict[str, LocalImage] | None = None) -> Any:
    return plan_launch(
        POD, container, images=images or {}, base_env=BASE, lookup=no_data, scratch_dir="/tmp"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$(A)", "x"),
        ("pre-$(A)-post", "pre-x-post"),
        ("$(A)$(A)", "xx"),
        ("$$(A)", "$(A)"),
        ("$(UNDEFINED)", "$(UNDEFINED)"),
        ("$(A", "$(A"),
        ("a$b", "a$b"),
        ("$", "$"),
        ("$$", "$"),
        ("", ""),
    ],
)
def test_expand_follows_the_kubelet(text: str, expected: str) -> None:
    assert expand(text, {"A": "x"}) == expected


@pytest.mark.parametrize(
    ("image", "repository"),
    [
        ("kubetune/mxnet-trainer", "kubetune/mxnet-trainer"),
        ("kubetune/mxnet-trainer:0.1.0", "kubetune/mxnet-trainer"),
        ("docker.io/kubetune/operator:latest", "kubetune/operator"),
        ("registry.example.com:5000/team/app@sha256:abc", "team/app"),
        ("localhost/app:1", "app"),
        ("python:3.11", "python"),
        ("docker.io/library/python:3.11-slim", "python"),
    ],
)
def test_image_repository_drops_registry_tag_and_digest(image: str, repository: str) -> None:
    assert image_repository(image) == repository


def test_the_repository_mapping_loads_with_absolute_paths() -> None:
    images = load_images(REPO / "hack" / "images.yaml", REPO)
    trainer = images["kubetune/mxnet-trainer"]
    assert trainer.entrypoint == [
        str(REPO / ".venv-trainer/bin/python"),
        str(REPO / "trainer-image/train.py"),
    ]
    assert trainer.path == [str(REPO / ".venv-trainer/bin")]
    assert images["kubetune/operator"].entrypoint == [str(REPO / ".venv/bin/kubetune-operator")]


def test_a_malformed_mapping_names_the_entry(tmp_path: Path) -> None:
    bad = tmp_path / "images.yaml"
    bad.write_text("team/app:\n  entrypoint: python3 app.py\n")
    with pytest.raises(ImageMappingError, match=r"team/app\.entrypoint: expected a list"):
        load_images(bad, tmp_path)


def test_command_of_a_program_on_this_machine_runs_whatever_the_image() -> None:
    launch = plan({"name": "c", "image": "nowhere/unknown", "command": ["sh"], "args": ["-c", "x"]})
    assert launch.argv == ["sh", "-c", "x"]
    assert Path(launch.executable).name == "sh" and Path(launch.executable).is_absolute()


@pytest.mark.parametrize("command", [None, ["no-such-program-here"]])
def test_unmapped_image_is_err_image_pull(command: list[str] | None) -> None:
    container: dict[str, Any] = {"name": "c", "image": "reg.io/nowhere/unknown:1"}
    if command:
        container["command"] = command
    with pytest.raises(LaunchError) as caught:
        plan(container)
    assert caught.value.reason == "ErrImagePull"
    assert "nowhere/unknown" in caught.value.message
    assert "hack/images.yaml" in caught.value.message


def test_mapped_image_uses_its_entrypoint_path_and_appends_args(tmp_path: Path) -> None:
    images = {"team/app": LocalImage(entrypoint=[sys.executable, "app.py"], path=[str(tmp_path)])}
    launch = plan(
        {
            "name": "c",
            "image": "team/app:2",
            "args": ["--lr=$(LR)"],
            "env": [{"name": "LR", "value": "0.1"}],
        },
        images,
    )
    assert launch.argv == [sys.executable, "app.py", "--lr=0.1"]
    assert launch.env["PATH"].split(":")[0] == str(tmp_path)


def test_mapped_image_whose_entrypoint_is_missing_is_a_start_error(tmp_path: Path) -> None:
    images = {"team/app": LocalImage(entrypoint=[str(tmp_path / "missing")], path=[])}
    with pytest.raises(LaunchError) as caught:
        plan({"name": "c", "image": "team/app"}, images)
    assert caught.value.reason == "StartError"
    assert "missing" in caught.value.message


def test_env_in_order_with_downward_api_and_references() -> None:
    launch = plan(
        {
            "name": "c",
            "image": "x",
            "command": ["sh"],
            "env": [
                {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
                {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                {"name": "WHERE", "value": "$(POD)@$(IP) in $(HOME)"},
            ],
        }
    )
    assert launch.env["WHERE"] == "p@127.0.0.1 in /root"
    assert launch.env["APP"] == "a"


def test_unsupported_field_path_and_missing_secret_are_config_errors() -> None:
    with pytest.raises(LaunchError, match=r"status\.phase.*not supported") as caught:
        plan(
            {
                "name": "c",
                "image": "x",
                "command": ["sh"],
                "env": [{"name": "V", "valueFrom": {"fieldRef": {"fieldPath": "status.phase"}}}],
            }
        )
    assert caught.value.reason == "CreateContainerConfigError"
    with pytest.raises(LaunchError, match=r"secret ns/creds not found") as caught:
        plan(
            {
                "name": "c",
                "image": "x",
                "command": ["sh"],
                "env": [
                    {"name": "V", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "k"}}}
                ],
            }
        )
    assert caught.value.reason == "CreateContainerConfigError"
