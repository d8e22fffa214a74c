"""The dependency graph that lock files write as comments: pip-compile's and uv's `# via`.

    huggingface-hub==0.23.4 \\
        --hash=sha256:...
        # via
        #   tokenizers
        #   transformers

says that tokenizers and transformers need huggingface-hub. pip ignores these comments, so
they are read here, apart from the requirements themselves.
"""

from __future__ import annotations

import re

from packaging.utils import canonicalize_name

_VIA = re.compile(r"#\s*via\b\s*(.*?)\s*$")
_INLINE_VIA = re.compile(r"\s#\s*via\b\s*(.*?)\s*$")
# The names of a multi-line `# via` are indented further than the comment's own text.
_VIA_ITEM = re.compile(r"^\s*#\s{2,}(\S.*?)\s*$")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def via_annotations(text: str) -> dict[int, tuple[str, ...]]:
    """First line of each annotated requirement -> the canonical names of what needs it.

    An annotation that names only files (`# via -r requirements.in`) maps to `()`: the lock
    file says the package is a root, which differs from saying nothing.
    """
    found: dict[int, list[str]] = {}
    owner: int | None = None  # first line of the requirement the comments below belong to
    continued = collecting = False
    for number, physical in enumerate(text.splitlines(), 1):
        stripped = physical.strip()
        if stripped.startswith("#"):
            via = _VIA.match(stripped)
            item = _VIA_ITEM.match(physical)
            if owner is not None and via:
                collecting = True
                found.setdefault(owner, []).extend(_names(via.group(1)))
            elif owner is not None and collecting and item:
                found[owner].extend(_names(item.group(1)))
            else:
                collecting = False
            continued = False
            continue
        collecting = False
        if not stripped:
            owner, continued = None, False
            continue
        if not continued:
            owner = number
        inline = _INLINE_VIA.search(physical)  # pip-compile --annotation-style=line
        if inline:
            found.setdefault(owner, []).extend(_names(inline.group(1)))
        continued = not inline and stripped.endswith("\\")
    return {line: tuple(dict.fromkeys(names)) for line, names in found.items()}


def _names(text: str) -> list[str]:
    """`transformers, -r requirements.in, feast (setup.py)` -> the package names in it."""
    names = []
    for item in text.split(","):
        match = _NAME.match(item.strip())  # `-r file` starts with `-`: no match
        if match:
            names.append(canonicalize_name(match.group(0)))
    return names
