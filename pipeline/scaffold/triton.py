"""A Triton model repository's models, read from each `config.pbtxt`, and the KServe v2 infer
request (`POST /v2/models/NAME/infer`) that smoke can send each: its inputs' names, datatypes
and shapes, filled with ones.

config.pbtxt is protobuf text format; without Triton's ModelConfig descriptor here, the reader
takes its generic grammar (fields, messages, lists) and keeps the fields it meets as written.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CONFIG_FILE = "config.pbtxt"
_TOKEN = re.compile(
    r"""\s+|\#[^\n]*|(?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(?P<punct>[{}\[\]:,;<>])"""
    r"""|(?P<word>[^\s{}\[\]:,;<>"'#]+)"""
)
# Triton's TYPE_* names that KServe v2 spells otherwise.
_DATATYPES = {"STRING": "BYTES"}
_ONE = {"BOOL": True, "BYTES": "example"}

Message = dict[str, list[Any]]


@dataclass(frozen=True)
class TritonModel:
    name: str
    config: str  # config.pbtxt, relative to the project
    request: dict[str, Any]  # the infer request's JSON body


def read_models(project: Path, configs: list[str]) -> tuple[list[TritonModel], list[str]]:
    """(the models, what could not be read and why) of the `config.pbtxt` files named."""
    models, unread = [], []
    for config in configs:
        try:
            message = parse(Path(project, config).read_text(encoding="utf-8"))
            models.append(
                TritonModel(
                    name=_scalar(message, "name") or Path(config).parent.name,
                    config=config,
                    request=infer_request(message),
                )
            )
        except (OSError, ValueError) as exc:
            unread.append(f"{config}: {exc}")
    return models, unread


def infer_request(config: Message) -> dict[str, Any]:
    """The v2 body for one request: a batch of one where the model batches, -1 dims as 1."""
    batched = int(_scalar(config, "max_batch_size") or 0) > 0
    inputs = []
    for tensor in config.get("input", []):
        if str(_scalar(tensor, "optional")).lower() == "true":
            continue
        kind = str(_scalar(tensor, "data_type") or "").removeprefix("TYPE_")
        if not kind:
            raise ValueError(f"input {_scalar(tensor, 'name')!r} has no data_type")
        datatype = _DATATYPES.get(kind, kind)
        shape = [1] * batched + [max(int(dim), 1) for dim in tensor.get("dims", [])]
        one = _ONE.get(datatype, 1.0 if datatype.startswith(("FP", "BF")) else 1)
        inputs.append(
            {
                "name": _scalar(tensor, "name"),
                "datatype": datatype,
                "shape": shape,
                "data": [one] * math.prod(shape),
            }
        )
    if not inputs:
        raise ValueError("no input to send (config.pbtxt names none: auto-completed by Triton?)")
    return {"inputs": inputs}


def parse(text: str) -> Message:
    """Protobuf text format: field name -> its values (a repeated field has several; a message
    is a Message; a `[...]` list adds its items)."""
    tokens = [
        (kind, value)
        for match in _TOKEN.finditer(text)
        for kind, value in match.groupdict().items()
        if value is not None
    ]
    return _message(tokens, 0, closing=None)[0]


def _message(tokens: list[tuple[str, str]], at: int, closing: str | None) -> tuple[Message, int]:
    fields: Message = {}
    while at < len(tokens):
        kind, value = tokens[at]
        if kind == "punct" and value in (",", ";"):
            at += 1
            continue
        if kind == "punct" and value == closing:
            return fields, at + 1
        if kind != "word":
            raise ValueError(f"unexpected {value!r} where a field name belongs")
        name, at = value, at + 1
        if at < len(tokens) and tokens[at] == ("punct", ":"):
            at += 1
        values, at = _value(tokens, at)
        fields.setdefault(name, []).extend(values)
    if closing is not None:
        raise ValueError(f"a message is not closed with {closing!r}")
    return fields, at


def _value(tokens: list[tuple[str, str]], at: int) -> tuple[list[Any], int]:
    if at >= len(tokens):
        raise ValueError("a field has no value")
    kind, value = tokens[at]
    if kind == "punct" and value in ("{", "<"):
        message, at = _message(tokens, at + 1, closing="}" if value == "{" else ">")
        return [message], at
    if kind == "punct" and value == "[":
        items: list[Any] = []
        at += 1
        while tokens[at:] and tokens[at] != ("punct", "]"):
            if tokens[at] == ("punct", ","):
                at += 1
                continue
            item, at = _value(tokens, at)
            items += item
        if not tokens[at:]:
            raise ValueError("a list is not closed with ']'")
        return items, at + 1
    if kind == "string":
        return [value[1:-1].encode().decode("unicode_escape")], at + 1
    if kind == "word":
        return [value], at + 1
    raise ValueError(f"unexpected {value!r} where a value belongs")


def _scalar(message: Message, name: str) -> Any:
    values = message.get(name, [])
    return values[-1] if values else None
