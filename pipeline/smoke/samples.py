"""Sample payloads, and what the answers to them must look like.

In the project's `smoke.samples_dir` (docs/smoke-samples.md has examples):

- `NAME.json`: a request body for `POST /predict`.
- `NAME.request.json`: a whole request (method, path, query, headers, a JSON body or multipart
  files beside it) and what to expect (`status`, `content_type`, `shape`, `golden`); see
  `sample_request.py`. `NAME.expected.json` and `NAME.golden.json` are optional beside it.
- `NAME.expected.json` (required beside a `NAME.json`): the shape of the 200 response, every
  value replaced by a type name (`str`, `int`, `float`, `bool`, `null`, `any`); `{...}` lists
  keys that must be there (extra keys are allowed) and `[SHAPE]` is a non-empty list whose
  every item matches SHAPE.
- `NAME.golden.json` (optional): exact values. Every key it lists must be in the response with
  that value; a list must have the same length and match item by item; a number may differ from
  the response's by at most `smoke.tolerance` (absolute); strings, booleans and null must be
  equal. Keys left out are not compared, so a golden file can pin just the model version, or
  every probability.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.core.errors import UserError
from pipeline.smoke.http import Reply
from pipeline.smoke.sample_request import SampleRequest, body_request, parse_request

EXPECTED_SUFFIX = ".expected.json"
GOLDEN_SUFFIX = ".golden.json"
REQUEST_SUFFIX = ".request.json"
MAX_PROBLEMS = 5


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


TYPE_NAMES: dict[str, Callable[[Any], bool]] = {
    "str": lambda value: isinstance(value, str),
    "int": lambda value: isinstance(value, int) and not isinstance(value, bool),
    "float": _is_number,
    "bool": lambda value: isinstance(value, bool),
    "null": lambda value: value is None,
    "any": lambda value: True,
}


@dataclass(frozen=True)
class Sample:
    name: str
    request: SampleRequest
    expected: Any | None  # the answer's shape; None: not checked
    golden: Any | None
    status: int = 200
    content_type: str | None = None
    file: str = ""  # the sample's file name, for messages
    expected_from: str = ""  # where the shape came from, for messages
    golden_from: str = ""

    @property
    def payload(self) -> Any:
        return self.request.payload


def load_samples(directory: Path) -> list[Sample]:
    """Every sample in `directory`, with its expected file checked before anything runs."""
    if not directory.is_dir():
        raise UserError(
            f"smoke.samples_dir: {directory} is not a directory; add sample payloads there "
            "(NAME.json with NAME.expected.json) or point smoke.samples_dir elsewhere"
        )
    paths = sorted(
        path
        for path in directory.glob("*.json")
        if not path.name.endswith((EXPECTED_SUFFIX, GOLDEN_SUFFIX))
    )
    if not paths:
        raise UserError(
            f"smoke.samples_dir: {directory} has no sample (NAME.json or NAME.request.json)"
        )
    return [
        _request_sample(path) if path.name.endswith(REQUEST_SUFFIX) else _body_sample(path)
        for path in paths
    ]


def _body_sample(path: Path) -> Sample:
    name = path.name.removesuffix(".json")
    expected_path = path.with_name(name + EXPECTED_SUFFIX)
    if not expected_path.is_file():
        raise UserError(
            f"{path}: no {expected_path.name} next to it; write the response's shape there, "
            'e.g. {"predictions": [{"label": "str"}]}'
        )
    expected = _read(expected_path)
    _validate_shape(expected, expected_path, "")
    golden_path = path.with_name(name + GOLDEN_SUFFIX)
    golden = _read(golden_path) if golden_path.is_file() else None
    return Sample(
        name,
        body_request(_read(path)),
        expected,
        golden,
        file=path.name,
        expected_from=expected_path.name,
        golden_from=golden_path.name,
    )


def _request_sample(path: Path) -> Sample:
    name = path.name.removesuffix(REQUEST_SUFFIX)
    request, expect = parse_request(_read(path), path)
    status = expect.get("status", 200)
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise UserError(f"{path}: expect.status: {status!r} is not an HTTP status, e.g. 200")
    content_type = expect.get("content_type")
    if content_type is not None and not isinstance(content_type, str):
        raise UserError(f"{path}: expect.content_type: {content_type!r} is not a string")
    expected, expected_from = expect.get("shape"), f"{path.name}'s expect.shape"
    if expected is not None:
        _validate_shape(expected, path, "expect.shape")
    expected_path = path.with_name(name + EXPECTED_SUFFIX)
    if expected is None and expected_path.is_file():
        expected, expected_from = _read(expected_path), expected_path.name
        _validate_shape(expected, expected_path, "")
    golden, golden_from = expect.get("golden"), f"{path.name}'s expect.golden"
    golden_path = path.with_name(name + GOLDEN_SUFFIX)
    if golden is None and golden_path.is_file():
        golden, golden_from = _read(golden_path), golden_path.name
    return Sample(
        name,
        request,
        expected,
        golden,
        status=status,
        content_type=content_type,
        file=path.name,
        expected_from=expected_from,
        golden_from=golden_from,
    )


def shape_problems(value: Any, shape: Any, path: str = "") -> list[str]:
    """Where `value` does not fit `shape`, one line per place, naming the key path."""
    where = path or "the response"
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            return [f"{where}: expected an object, got {_describe(value)}"]
        problems = []
        for key, inner in shape.items():
            if key in value:
                problems += shape_problems(value[key], inner, _child(path, key))
            else:
                problems.append(f"{where}: missing key {key!r}")
        return problems
    if isinstance(shape, list):
        if not isinstance(value, list) or not value:
            return [f"{where}: expected a non-empty list, got {_describe(value)}"]
        return [
            problem
            for index, item in enumerate(value)
            for problem in shape_problems(item, shape[0], f"{path}[{index}]")
        ]
    if TYPE_NAMES[shape](value):
        return []
    return [f"{where}: expected {shape}, got {_describe(value)}"]


def golden_problems(value: Any, golden: Any, tolerance: float, path: str = "") -> list[str]:
    """Where `value` differs from the golden values (numbers within `tolerance`)."""
    where = path or "the response"
    if isinstance(golden, dict):
        if not isinstance(value, dict):
            return [f"{where}: expected an object, got {_describe(value)}"]
        problems = []
        for key, inner in golden.items():
            if key in value:
                problems += golden_problems(value[key], inner, tolerance, _child(path, key))
            else:
                problems.append(f"{where}: missing key {key!r}")
        return problems
    if isinstance(golden, list):
        if not isinstance(value, list) or len(value) != len(golden):
            return [f"{where}: expected a list of {len(golden)} items, got {_describe(value)}"]
        return [
            problem
            for index, (item, wanted) in enumerate(zip(value, golden, strict=True))
            for problem in golden_problems(item, wanted, tolerance, f"{path}[{index}]")
        ]
    if _is_number(golden) and _is_number(value):
        if abs(value - golden) <= tolerance:
            return []
        return [f"{where}: expected {golden} ± {tolerance:g}, got {value}"]
    if _json_type(value) == _json_type(golden) and value == golden:
        return []
    return [f"{where}: expected {json.dumps(golden)}, got {_describe(value)}"]


def instance_count(payload: Any) -> int:
    """How many predictions a request of `payload` asks for: one per item of a list of
    `instances`, else one."""
    instances = payload.get("instances") if isinstance(payload, dict) else None
    return len(instances) if isinstance(instances, list) else 1


def answer_problem(sample: Sample, reply: Reply, tolerance: float) -> str | None:
    """Why the answer to `sample` is wrong: its status, content type, shape, count of
    predictions or golden values; None when it is right."""
    if reply.status != sample.status:
        wanted = "" if sample.status == 200 else f" (expected {sample.status})"
        return (
            f"{sample.request.label()} with {sample.file} answered {reply.status}{wanted}: "
            f"{reply.text.strip()[:300]}"
        )
    if sample.content_type and _media_type(reply.content_type) != _media_type(sample.content_type):
        return (
            f"the answer to {sample.file} has content type {reply.content_type or 'none'}, "
            f"expected {sample.content_type}"
        )
    if sample.expected is None and sample.golden is None:
        return None
    if not reply.is_json:
        return (
            f"the answer to {sample.file} is not JSON ({reply.content_type or 'no content type'})"
            f"; for other answers expect a content_type instead of a shape"
        )
    return _json_problem(sample, reply.body, tolerance)


def _json_problem(sample: Sample, answer: Any, tolerance: float) -> str | None:
    if sample.expected is not None:
        problems = shape_problems(answer, sample.expected)
        if problems:
            return (
                f"the answer to {sample.file} does not match {sample.expected_from}: "
                + summarize(problems)
            )
    predictions = answer.get("predictions") if isinstance(answer, dict) else None
    wanted = instance_count(sample.payload)
    # A batch answered with fewer predictions would pass every shape check: count them.
    if isinstance(predictions, list) and len(predictions) != wanted:
        return (
            f"{sample.file} sends {wanted} instance(s) but the answer has "
            f"{len(predictions)} prediction(s); a batch gets one prediction per instance"
        )
    if sample.golden is not None:
        problems = golden_problems(answer, sample.golden, tolerance)
        if problems:
            return f"the answer to {sample.file} differs from {sample.golden_from}: " + summarize(
                problems
            )
    return None


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def summarize(problems: list[str]) -> str:
    shown = "; ".join(problems[:MAX_PROBLEMS])
    extra = len(problems) - MAX_PROBLEMS
    return shown + (f"; and {extra} more" if extra > 0 else "")


def large_batch(payload: Any, size: int) -> Any:
    """The sample's instances repeated to `size`, to keep a request busy; None when the payload
    has no `instances` to repeat."""
    instances = payload.get("instances") if isinstance(payload, dict) else None
    if isinstance(instances, dict):
        instances = [instances]
    if not isinstance(instances, list) or not instances:
        return None
    return {**payload, "instances": list(itertools.islice(itertools.cycle(instances), size))}


def _validate_shape(shape: Any, file: Path, path: str) -> None:
    where = path or "top level"
    if isinstance(shape, dict):
        for key, inner in shape.items():
            _validate_shape(inner, file, _child(path, key))
    elif isinstance(shape, list):
        if len(shape) != 1:
            raise UserError(
                f"{file}: {where}: a list shape holds exactly one item shape, e.g. "
                f'[{{"label": "str"}}], not {len(shape)}'
            )
        _validate_shape(shape[0], file, f"{path}[]")
    elif shape not in TYPE_NAMES:
        raise UserError(
            f"{file}: {where}: {json.dumps(shape)} is not a type name; use one of "
            + ", ".join(TYPE_NAMES)
        )


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from exc
    except OSError as exc:
        raise UserError(f"{path}: cannot read: {exc.strerror}") from exc


def _child(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    return "list" if isinstance(value, list) else "object"


def _describe(value: Any) -> str:
    kind = _json_type(value)
    if kind == "list":
        return f"a list of {len(value)} items"
    if kind == "object":
        return "an object"
    text = json.dumps(value)
    return f"{kind} {text if len(text) <= 40 else text[:37] + '...'}"
