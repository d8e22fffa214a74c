"""Pushes and pulls through the engine, with the registry's answer turned into one clear line."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.engine import docker_client
from pipeline.errors import RegistryError
from pipeline.registries.credentials import Credentials


@dataclass(frozen=True)
class Pushed:
    ref: str
    digest: str
    bytes_sent: int  # layers uploaded in this push; layers the registry had cost nothing


def _redacted(text: str, credentials: Credentials | None) -> str:
    return credentials.redact(text) if credentials else text


def push(ref: str, credentials: Credentials | None) -> Pushed:
    import docker

    repository, _, tag = ref.rpartition(":")
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
                raise RegistryError(
                    f"push of {ref} failed: {_redacted(str(chunk['error']).strip(), credentials)}"
                    + _hint(str(chunk["error"]))
                )
            detail = chunk.get("progressDetail") or {}
            if chunk.get("status") == "Pushing" and detail.get("total"):
                sizes[chunk["id"]] = int(detail["total"])
            aux = chunk.get("aux") or {}
            if "Digest" in aux:
                digest = aux["Digest"]
    except docker.errors.APIError as exc:
        message = _redacted(exc.explanation or str(exc), credentials)
        raise RegistryError(f"push of {ref} failed: {message}{_hint(message)}") from exc
    if not digest:
        raise RegistryError(f"push of {ref} reported no digest; is {repository} a registry?")
    return Pushed(ref=ref, digest=digest, bytes_sent=sum(sizes.values()))


def pull(ref: str, credentials: Credentials | None) -> None:
    import docker

    repository, _, tag = ref.rpartition(":")
    try:
        docker_client().api.pull(
            repository, tag=tag, auth_config=credentials.auth_config() if credentials else None
        )
    except docker.errors.APIError as exc:
        message = _redacted(exc.explanation or str(exc), credentials)
        raise RegistryError(f"pull of {ref} failed: {message}") from exc


def _hint(message: str) -> str:
    lowered = message.lower()
    if "unauthorized" in lowered or "authentication required" in lowered or "denied" in lowered:
        return "; check the registry credentials (registry.username_env / password_env)"
    if "no such host" in lowered or "connection refused" in lowered or "timeout" in lowered:
        return "; is the registry reachable from the Docker engine?"
    return ""
