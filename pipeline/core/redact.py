"""Credentials inside URLs (`https://oauth2:TOKEN@host/...`), masked in all we print or write.

Requirement URLs, git remotes and registry endpoints in CI often carry a token; any message
that quotes one would publish it in a job log.
"""

from __future__ import annotations

import re

# scheme://userinfo@ — userinfo cannot hold "/", so the first "/" (or space) ends the search.
URL_CREDENTIALS = re.compile(r"(\w+://)[^/\s?#]+@")
MASK = "***"


def mask_credentials(text: str) -> str:
    """`text` with the user and password of every URL in it replaced by ***."""
    return URL_CREDENTIALS.sub(rf"\g<1>{MASK}@", text)
