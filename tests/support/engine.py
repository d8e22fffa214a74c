"""A fresh CI runner on the shared engine: what the build tests and the benchmark start from."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import docker

# The containerd that dockerd runs for its image store, and the namespace it keeps images in.
ENGINE_CONTAINERD = Path("/var/run/docker/containerd/containerd.sock")


def _containerd(*args: str) -> list[str]:
    """`ctr ... -n moby ARGS` output lines; nothing where the engine has no containerd store."""
    if shutil.which("ctr") is None or not ENGINE_CONTAINERD.exists():
        return []
    command = ["ctr", "--address", str(ENGINE_CONTAINERD), "-n", "moby", *args]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    return done.stdout.split()


def _short(name: str) -> str:
    """The engine's name for a containerd image name: docker.io/library/python:3 is python:3."""
    for prefix in ("docker.io/library/", "docker.io/"):
        if name.startswith(prefix):
            return name.removeprefix(prefix)
    return name


def wipe_local_images(client: docker.DockerClient) -> None:
    """What a fresh CI runner has: no local image, no build cache and, on the containerd image
    store, no content (blobs that leases still hold would spare a "fresh" runner its pulls).
    Checked, not assumed.

    Records a running build holds cannot go: another build on the same engine (a second test
    run) would make this runner not fresh, so that fails here, naming what was left.
    """
    import docker

    for _ in range(10):
        # Children before parents: repeat while a pass still removes something. An image that a
        # running container uses cannot go, and does not hold the cache of the project under test.
        while True:
            removed = 0
            for image in client.images.list(all=True):
                with contextlib.suppress(docker.errors.ImageNotFound, docker.errors.APIError):
                    client.images.remove(image.id, force=True)
                    removed += 1
            if not removed:
                break
        # The engine does not list an image whose layer blob is gone from the content store (seen
        # on a fresh CI machine after builds that unpacked the same base layer), yet that image
        # keeps its snapshot, manifest and config: a runner that is not fresh.
        shown = {tag for image in client.images.list(all=True) for tag in image.tags}
        hidden = [name for name in _containerd("images", "ls", "-q") if _short(name) not in shown]
        if hidden:
            _containerd("images", "rm", "--sync", *hidden)
        client.api.prune_builds(all=True)
        leases = _containerd("leases", "ls", "-q")
        if leases:
            _containerd("leases", "rm", "--sync", *leases)
        usage = client.df()
        left = [image["Id"] for image in usage.get("Images") or []]
        cache = [record["ID"] for record in usage.get("BuildCache") or []]
        content = _containerd("content", "ls", "-q")
        if not left and not cache and not content:
            return
        time.sleep(1)  # the image store's garbage collection runs after the removal
    raise AssertionError(
        f"the wipe left images {left}, build cache {cache} and content {content}: is another "
        "build running on this engine?"
    )
