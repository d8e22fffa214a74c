"""Pushes and pulls through the engine, with the registry's answer turned into one clear line.

The engine reports failures as text. A failure that may pass (the registry restarting, a reset
connection, a 5xx) is retried with back-off; one that will not (refused credentials, a missing
repository, an immutable tag) fails at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pipeline.engine import docker_client
from pipeline.errors import RegistryError
from pipeline.registries.credentials import Credentials
from pipeline.registries.reference import ImageRef
from pipeline.retry import DEFAULT_POLICY, RetryPolicy, TransientError, retrying

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


def _push_once(ref: str, credentials: Credentials | None) -> Pushed:
    import docker

    repository, tag = _engine_target(ref)
    digest = None
    sizes: dict[str, int] = {}
    try:
        for chunk in docker_client().api.push(
            repository,
            tag=tag,
            stream=True,
            decode=True,
            auth_config=credentials.auth_config() if credentials else None,
        ):
            if "error" in chunk:
                detail = _redacted(str(chunk["error"]).strip(), credentials)
                raise _failure(f"push of {ref} failed: {detail}")
            detail = chunk.get("progressDetail") or {}
            if chunk.get("status") == "Pushing" and detail.get("total"):
                sizes[chunk["id"]] = int(detail["total"])
            aux = chunk.get("aux") or {}
            if "Digest" in aux:
                digest = aux["Digest"]
    except docker.errors.APIError as exc:
        message = _redacted(exc.explanation or str(exc), credentials)
        raise _failure(f"push of {ref} failed: {message}") from exc
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
    import docker

    repository, reference = _engine_target(ref)
    try:
        # Streamed: a failure half-way through a download arrives as a message, not a status.
        for chunk in docker_client().api.pull(
            repository,
            tag=reference,
            stream=True,
            decode=True,
            auth_config=credentials.auth_config() if credentials else None,
        ):
            if "error" in chunk:
                detail = _redacted(str(chunk["error"]).strip(), credentials)
                raise _failure(f"pull of {ref} failed: {detail}")
    except docker.errors.APIError as exc:
        message = _redacted(exc.explanation or str(exc), credentials)
        if exc.status_code == 404:
            raise RegistryError(
                f"image {ref} is not in the registry {ImageRef.parse(ref).host} ({message}); "
                "build and push it first (`python -m pipeline build`) or name another image"
            ) from exc
        raise _failure(f"pull of {ref} failed: {message}") from exc


def _hint(lowered: str) -> str:
    if "unauthorized" in lowered or "authentication required" in lowered or "denied" in lowered:
        return "; check the registry credentials and that they may push here"
    if "no such host" in lowered or "connection refused" in lowered or "timeout" in lowered:
        return "; is the registry reachable from the Docker engine?"
    return ""
