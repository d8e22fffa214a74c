"""`pipeline.yaml` read strictly: UTF-8 text, a mapping, and no key given twice.

PyYAML keeps the last of two equal keys without a word, so a second `smoke:` block silently
replaced the first; here it is an error naming both lines.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from pipeline.core.errors import ConfigError

_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


class _UniqueKeyLoader(yaml.SafeLoader):
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first_line: dict[Any, int] = {}
        for key_node, _ in node.value:
            # `<<` merges an anchor's keys; overriding those is what merging is for.
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            if isinstance(key, str | int | float | bool) and key in first_line:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {key!r}, first at line {first_line[key]}; YAML would keep "
                    "only the last: merge the two into one",
                    key_node.start_mark,
                )
            first_line.setdefault(key, line)
        return super().construct_mapping(node, deep)


def read_mapping(path: Path) -> dict[Any, Any]:
    """The top-level mapping of the YAML file at `path` ({} when empty)."""
    text = _read_text(path)
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        # PyYAML quotes the tab without saying that YAML forbids it where indentation goes.
        tab = "'\\t'" in (exc.problem or "")
        hint = "; YAML allows no tabs here: indent with spaces" if tab else ""
        raise ConfigError(f"{where}: invalid YAML: {exc.problem}{hint}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections, not {data!r}")
    return data


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    encoding = "UTF-16" if data.startswith(_UTF16_BOMS) else _bomless_utf16(data)
    if encoding:
        raise ConfigError(
            f"{path}: the file is {encoding}, not UTF-8; save it as UTF-8 "
            f"(e.g. iconv -f {encoding} -t UTF-8 {path.name} > {path.name}.new && mv "
            f"{path.name}.new {path.name})"
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ConfigError(
            f"{path}:{line}:{column}: not UTF-8 (byte 0x{data[exc.start]:02x}; Latin-1 or "
            "another legacy encoding?); save the file as UTF-8"
        ) from exc


def _bomless_utf16(data: bytes) -> str | None:
    """UTF-16LE or UTF-16BE for UTF-16 text written without a byte order mark, else None.

    Such a file decodes as "UTF-8" with a NUL beside every ASCII character, which YAML reports as
    an unacceptable character #x0000; YAML text holds no NUL of its own.
    """
    if len(data) < 2 or b"\x00" not in data:
        return None
    even, odd = data[0::2], data[1::2]
    if odd.count(0) > len(odd) // 2 and not even.count(0):
        return "UTF-16LE"
    if even.count(0) > len(even) // 2 and not odd.count(0):
        return "UTF-16BE"
    return None
