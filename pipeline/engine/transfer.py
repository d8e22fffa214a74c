"""Pushes and pulls through the engine, with the registry's answer turned into one clear line.

The engine reports failures as text. A failure that may pass (the registry restarting, a reset
connection, a 5xx) is retried with back-off; one that will not (refused credentials, a missing
repository, an immutable tag) fails at once.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from pipeline.core.errors import RegistryError
from pipeline.core.retry import DEFAULT_POLICY, RetryPolicy, TransientError, retrying
from pipeline.distribution.auth import Credentials
from pipeline.distribution.errors import STORAGE_ADVICE, storage_full
from pipeline.distribution.reference import ImageRef
from pipeline.engine.client import docker_client

# Checked first: "unauthorized" answers may also mention a timeout or an EOF in their detail.
PERMANENT_MARKERS = (
    "unauthorized",
    "authentication required",
    "denied",
    "forbidden",
    "name unknown",
    "manifest unknown",
    "repository does not exist",
    "tag invalid",
    "immutable",
    "no such host",
    "insufficient storage",
)
TRANSIENT_MARKERS = (
    "connection refused",
    "connection reset",
    "broken pipe",
    "eof",
    "timeout",
    "timed out",
    "temporarily unavailable",
    "too many requests",
    "internal server error",
    "bad gateway",
    "service unavailable",
    "gateway timeout",
)


@dataclass(frozen=True)
class Pushed:
    ref: str
    digest: str
    bytes_sent: int  # layers uploaded in this push; layers the registry had cost nothing


# `1.2.0: digest: sha256:... size: 1234`, the engine's closing line of a push.
PUSHED_DIGEST = re.compile(r": digest: (sha256:[0-9a-f]{64}) size: \d+")


def _redacted(text: str, credentials: Credentials | None) -> str:
    return credentials.redact(text) if credentials else text


def _failure(message: str) -> RegistryError:
    lowered = message.lower()
    if any(marker in lowered for marker in PERMANENT_MARKERS):
        return RegistryError(message + _hint(lowered))
    if any(marker in lowered for marker in TRANSIENT_MARKERS):
        return TransientError(message + _hint(lowered))
    return RegistryError(message)


def _engine_target(ref: str) -> tuple[str, str]:
    """(repository, tag or digest) as the engine's push and pull endpoints want them."""
    parsed = ImageRef.parse(ref)
    reference = parsed.digest or parsed.tag
    if not reference:
        raise RegistryError(f"{ref}: name a tag or a digest")
    return parsed.repository, reference


def push(
    ref: str,
    credentials: Credentials | None,
    policy: RetryPolicy = DEFAULT_POLICY,
    note: Callable[[str], None] | None = None,
) -> Pushed:
    return retrying(lambda: _push_once(ref, credentials), policy, note)


def _engine_stream(
    verb: str, ref: str, credentials: Credentials | None, call: Callable[..., Any]
) -> Iterator[dict[str, Any]]:
    """The engine's progress messages for one push or pull; its error messages become errors.

    Streamed: a failure half-way through a transfer arrives as a message, not as a status.
    """
    import docker

    try:
        for chunk in call(
            stream=True,
            decode=True,
            auth_config=credentials.auth_config() if credentials else None,
        ):
            if "error" in chunk:
                detail = _redacted(str(chunk["error"]).strip(), credentials)
                raise _failure(f"{verb} of {ref} failed: {detail}")
            yield chunk
    except docker.errors.APIError as exc:
        message = _redacted(exc.explanation or str(exc), credentials)
        if verb == "pull" and exc.status_code == 404:
            raise RegistryError(
                f"image {ref} is not in the registry {ImageRef.parse(ref).host} ({message}); "
                "build and push it first (`python -m pipeline build`) or name another image"
            ) from exc
        raise _failure(f"{verb} of {ref} failed: {message}") from exc


def _push_once(ref: str, credentials: Credentials | None) -> Pushed:
    repository, tag = _engine_target(ref)
    digest = None
    sizes: dict[str, int] = {}
    call = functools.partial(docker_client().api.push, repository, tag=tag)
    for chunk in _engine_stream("push", ref, credentials, call):
        detail = chunk.get("progressDetail") or {}
        if chunk.get("status") == "Pushing" and detail.get("total"):
            sizes[chunk["id"]] = int(detail["total"])
        digest = (chunk.get("aux") or {}).get("Digest", digest)
        # The containerd image store sends no `aux`: the digest is only in the last status.
        found = PUSHED_DIGEST.search(str(chunk.get("status") or ""))
        digest = found.group(1) if found else digest
    if not digest:
        raise RegistryError(f"push of {ref} reported no digest; is {repository} a registry?")
    return Pushed(ref=ref, digest=digest, bytes_sent=sum(sizes.values()))


def pull(
    ref: str,
    credentials: Credentials | None,
    policy: RetryPolicy = DEFAULT_POLICY,
    note: Callable[[str], None] | None = None,
) -> None:
    retrying(lambda: _pull_once(ref, credentials), policy, note)


def _pull_once(ref: str, credentials: Credentials | None) -> None:
    repository, reference = _engine_target(ref)
    call = functools.partial(docker_client().api.pull, repository, tag=reference)
    for _ in _engine_stream("pull", ref, credentials, call):
        pass


def _hint(lowered: str) -> str:
    if storage_full(lowered):
        return f"; {STORAGE_ADVICE}"
    if "unauthorized" in lowered or "authentication required" in lowered or "denied" in lowered:
        return "; check the registry credentials and that they may push here"
    if "no such host" in lowered or "connection refused" in lowered or "timeout" in lowered:
        return "; is the registry reachable from the Docker engine?"
    return ""
