"""HTTP health checks that never go through a proxy: every target is on loopback."""

from __future__ import annotations

import base64
import ssl
import urllib.error
import urllib.request
from pathlib import Path


def _opener(cafile: Path | None) -> urllib.request.OpenerDirector:
    # Built per call: a regenerated certificate must be picked up at once.
    handlers: list[urllib.request.BaseHandler] = [urllib.request.ProxyHandler({})]
    if cafile is not None:
        context = ssl.create_default_context(cafile=str(cafile))
        handlers.append(urllib.request.HTTPSHandler(context=context))
    return urllib.request.build_opener(*handlers)


def http_status(
    url: str,
    *,
    cafile: Path | None = None,
    auth: tuple[str, str] | None = None,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    timeout: float = 3.0,
) -> int | None:
    """The HTTP status code, or None when nothing answered (refused, TLS failure, timeout)."""
    request = urllib.request.Request(url, method=method, headers=dict(headers or {}))
    if auth is not None:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with _opener(cafile).open(request, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (OSError, ValueError):
        # OSError covers refused, timeouts, TLS failures and a missing cafile.
        return None
