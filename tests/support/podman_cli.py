"""The project's podman (hack/podman: its containers.conf and image storage) and the
images `make images` builds (hack/images.sh), for the container tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PODMAN = ROOT / "hack" / "podman"
IMAGES_SCRIPT = ROOT / "hack" / "images.sh"


def podman(
    *args: str, timeout: float = 120, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """`hack/podman ARGS...`; with ``check``, a non-zero exit fails the test with its output."""
    done = subprocess.run(
        [str(PODMAN), *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and done.returncode != 0:
        raise AssertionError(
            f"podman {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
        )
    return done


def built_image(repository: str) -> str:
    """The full name of the image of ``repository`` (e.g. kubetune/operator) that
    hack/images.sh builds; fails the test, naming the fix, when it is not built."""
    tags = subprocess.run(
        [str(IMAGES_SCRIPT), "--tags"], capture_output=True, text=True, timeout=30, check=True
    ).stdout.split()
    (image,) = [t for t in tags if t.rsplit(":", 1)[0].endswith(f"/{repository}")]
    if podman("image", "exists", image, check=False).returncode != 0:
        raise AssertionError(f"image {image} is not built: run `make images` (part of `make test`)")
    return image
