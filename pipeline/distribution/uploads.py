"""A blob upload session: POST, then one PUT, or PATCHes of chunks and a closing PUT.

The spec's two ways: a blob the caller holds whole goes up monolithically (POST then PUT with
the body); a larger one, read as it streams, goes up in chunks, each PATCH naming its byte range.
A failed step cannot be repeated on its own (the session's offset moved), so the caller starts
the whole upload over.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterable, Iterator, Mapping

from pipeline.core.errors import RegistryError
from pipeline.distribution.transport import Transport, path_of, push_scope

OCTET_STREAM = {"Content-Type": "application/octet-stream"}


def start(transport: Transport, path: str, action: str) -> str:
    """Opens an upload session; returns where to send its data."""
    url = f"/v2/{path}/blobs/uploads/"
    response = transport.request("POST", url, [push_scope(path)], action, retry=False)
    transport.raise_for(response, action)
    return _location(response.headers, action, transport.host)


def cancel(transport: Transport, path: str, session: str, action: str) -> None:
    # Registries expire abandoned uploads anyway: a failed cancel is no failure.
    with contextlib.suppress(RegistryError):
        transport.request("DELETE", session, [push_scope(path)], f"cancel the {action}")


def upload(transport: Transport, path: str, digest: str, chunks: Iterable[bytes]) -> None:
    """Uploads the blob `digest` of repository `path`, made of `chunks` in order."""
    action = f"upload {digest[:19]} to {transport.host}/{path}"
    pieces = _non_empty(chunks)
    first = next(pieces, b"")
    second = next(pieces, None)
    session = start(transport, path, action)
    if second is None:
        _close(transport, path, session, digest, action, first)
        return
    offset = 0
    for chunk in itertools.chain([first, second], pieces):
        headers = {**OCTET_STREAM, "Content-Range": f"{offset}-{offset + len(chunk) - 1}"}
        response = transport.request(
            "PATCH", session, [push_scope(path)], action, body=chunk, headers=headers, retry=False
        )
        transport.raise_for(response, action)
        session = _location(response.headers, action, transport.host)
        offset += len(chunk)
    _close(transport, path, session, digest, action, b"")


def _location(headers: Mapping[str, str], action: str, host: str) -> str:
    found = headers.get("Location")
    if not found:
        raise RegistryError(f"registry {host}: could not {action}: no upload Location given")
    return path_of(found)


def _close(
    transport: Transport, path: str, session: str, digest: str, action: str, body: bytes
) -> None:
    separator = "&" if "?" in session else "?"
    response = transport.request(
        "PUT",
        f"{session}{separator}digest={digest}",
        [push_scope(path)],
        action,
        body=body,
        headers=OCTET_STREAM,
        retry=False,
    )
    transport.raise_for(response, action)


def _non_empty(chunks: Iterable[bytes]) -> Iterator[bytes]:
    return (chunk for chunk in chunks if chunk)
