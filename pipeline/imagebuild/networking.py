"""Which setting fixes a networking failure: engines without a bridge network (daemon.json
`"bridge": "none"`, as on the local stack and some CI runners) need the host's network."""

from __future__ import annotations

import re

# What BuildKit and the engine say when a step needs the default bridge and there is none.
_NO_BRIDGE = re.compile(
    r"network bridge not found|network \S+ not found|no such network|"
    r"failed to (?:set up|create) (?:container )?network",
    re.IGNORECASE,
)
BUILD_FIX = (
    "the engine has no bridge network: set image.network: host in pipeline.yaml "
    "(or PIPELINE_IMAGE_NETWORK=host)"
)


def build_network_hint(*texts: str) -> str:
    """`; <what to set>` when the build failed for want of a bridge network, else ''."""
    return f"; {BUILD_FIX}" if any(_NO_BRIDGE.search(text) for text in texts) else ""
