"""The registry's own account of a refusal: the distribution spec's error codes.

A registry answers a failed request with `{"errors": [{"code", "message", "detail"}]}`;
callers decide by code (BLOB_UNKNOWN, MANIFEST_UNKNOWN, DENIED...), never by reading prose.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pipeline.core.errors import RegistryError

AUTH_STATUSES = (401, 403)
STORAGE_FULL = 507  # Insufficient Storage: no retry frees the space
STORAGE_ADVICE = (
    "the registry's storage is full (HTTP 507 Insufficient Storage); free space there (delete "
    "unused tags and run its garbage collection) or raise its quota, then re-run"
)


def storage_full(text: str) -> bool:
    """Whether an engine's or buildx's account of a failure is a registry out of space."""
    return "insufficient storage" in text.lower()


@dataclass(frozen=True)
class Diagnostic:
    code: str
    message: str
    detail: Any = None


def diagnostics(body: bytes) -> list[Diagnostic]:
    """The error entries of a response body; none when it is not the spec's JSON."""
    try:
        errors = json.loads(body).get("errors")
    except (ValueError, AttributeError):
        return []
    if not isinstance(errors, list):
        return []
    return [
        Diagnostic(str(e.get("code", "")), str(e.get("message", "")), e.get("detail"))
        for e in errors
        if isinstance(e, dict)
    ]


class RegistryAPIError(RegistryError):
    """A request the registry answered with a failure (not a lost connection)."""

    def __init__(self, message: str, status: int, found: list[Diagnostic]) -> None:
        super().__init__(message)
        self.status = status
        self.diagnostics = found

    @property
    def codes(self) -> list[str]:
        return [found.code for found in self.diagnostics]


def api_error(
    host: str, action: str, status: int, body: bytes, redact: Callable[[str], str]
) -> RegistryAPIError:
    """One line naming the registry, what was tried, the status and the registry's reason."""
    found = diagnostics(body)
    if found:
        detail = "; ".join(f"{d.code}: {d.message}".rstrip(": ") for d in found)
    else:
        text = body.decode(errors="replace").strip()
        detail = text.splitlines()[0] if text else ""
    message = f"registry {host}: could not {action}: HTTP {status}"
    if detail:
        message += f" {redact(detail)}"
    if status in AUTH_STATUSES:
        message += "; check the registry credentials and that they may push and pull here"
    if status == STORAGE_FULL:
        message += f"; {STORAGE_ADVICE}"
    return RegistryAPIError(message, status, found)
