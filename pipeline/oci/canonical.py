"""The bytes written for a JSON document this package made or edited.

Compact and in the order its keys were read or set: the same edit of the same document gives
the same bytes, so the same digest.
"""

from __future__ import annotations

import json
from typing import Any


def dumps(document: Any) -> bytes:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
