"""A sample's HTTP request: method, path, query, headers, and a JSON body or multipart files.

`NAME.json` is a JSON body for `POST /predict`; `NAME.request.json` says everything itself
(docs/smoke-samples.md):

    {"method": "POST", "path": "/predict", "query": {"text": "I love this product"},
     "headers": {"Accept": "application/json"}, "json": {...},
     "files": {"image": "cat.jpg"}, "form": {"top_k": "3"},
     "expect": {"status": 200, "content_type": "application/json", "shape": {...},
                "golden": {...}}}

Files are read from beside the sample, so a vision or speech model's test image or WAV ships
with it.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.core.errors import UserError

if TYPE_CHECKING:
    import requests

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
REQUEST_KEYS = ("method", "path", "query", "headers", "json", "files", "form", "expect")
EXPECT_KEYS = ("status", "content_type", "shape", "golden")
_NO_BODY = object()  # a `json` key that is absent, unlike one that is null


@dataclass(frozen=True)
class Upload:
    path: Path
    content_type: str


@dataclass(frozen=True)
class SampleRequest:
    method: str = "POST"
    path: str = "/predict"
    query: Mapping[str, Any] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    json: Any = _NO_BODY
    files: Mapping[str, Upload] = field(default_factory=dict)
    form: Mapping[str, str] = field(default_factory=dict)

    @property
    def payload(self) -> Any:
        """The JSON body; None when the request sends none."""
        return None if self.json is _NO_BODY else self.json

    def with_payload(self, payload: Any) -> SampleRequest:
        return SampleRequest(self.method, self.path, self.query, self.headers, payload)

    def prepare(self, base_url: str) -> requests.PreparedRequest:
        import requests

        files = {
            name: (upload.path.name, upload.path.read_bytes(), upload.content_type)
            for name, upload in self.files.items()
        }
        return requests.Request(
            self.method,
            base_url + self.path,
            params=dict(self.query),
            headers=dict(self.headers),
            json=self.payload,
            data=dict(self.form) or None,
            files=files or None,
        ).prepare()

    def label(self) -> str:
        return f"{self.method} {self.path}"


def body_request(payload: Any) -> SampleRequest:
    """Today's `NAME.json`: the body of a `POST /predict`."""
    return SampleRequest(json=payload)


def parse_request(spec: Any, file: Path) -> tuple[SampleRequest, dict[str, Any]]:
    """The request a `NAME.request.json` describes, and its `expect` mapping."""
    _mapping(spec, file, "top level", REQUEST_KEYS)
    method = spec.get("method", "POST")
    if not isinstance(method, str) or method.upper() not in METHODS:
        raise UserError(f"{file}: method: {method!r} is not one of {', '.join(METHODS)}")
    path = spec.get("path", "/predict")
    if not isinstance(path, str) or not path.startswith("/"):
        raise UserError(f"{file}: path: {path!r} must start with /, e.g. /predict")
    query = _mapping(spec.get("query", {}), file, "query")
    for key, value in query.items():
        values = value if isinstance(value, list) else [value]
        if not all(isinstance(v, str | int | float | bool) for v in values):
            raise UserError(f"{file}: query.{key}: {value!r} is not a string, number or list")
    headers = _strings(spec.get("headers", {}), file, "headers")
    form = _strings(spec.get("form", {}), file, "form")
    files = {
        name: _upload(value, file, f"files.{name}")
        for name, value in _mapping(spec.get("files", {}), file, "files").items()
    }
    if "json" in spec and (files or form):
        raise UserError(
            f"{file}: json and files/form both given; a request has a JSON body or a "
            "multipart form, not both"
        )
    request = SampleRequest(
        method=method.upper(),
        path=path,
        query=query,
        headers=headers,
        json=spec.get("json", _NO_BODY),
        files=files,
        form=form,
    )
    return request, _mapping(spec.get("expect", {}), file, "expect", EXPECT_KEYS)


def _mapping(
    value: Any, file: Path, where: str, known: tuple[str, ...] | None = None
) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise UserError(f"{file}: {where}: expected an object, got {type(value).__name__}")
    for key in value:
        if known is not None and key not in known:
            prefix = "" if where == "top level" else f"{where}."
            raise UserError(f"{file}: {prefix}{key}: unknown key; known keys: {', '.join(known)}")
    return value


def _strings(value: Any, file: Path, where: str) -> dict[str, str]:
    mapping = _mapping(value, file, where)
    for key, item in mapping.items():
        if not isinstance(item, str):
            raise UserError(f"{file}: {where}.{key}: {item!r} is not a string")
    return mapping


def _upload(value: Any, file: Path, where: str) -> Upload:
    """`"cat.jpg"` or `{"path": "cat.jpg", "content_type": "image/jpeg"}`, beside the sample."""
    spec = {"path": value} if isinstance(value, str) else value
    spec = _mapping(spec, file, where, ("path", "content_type"))
    name = spec.get("path")
    if not isinstance(name, str):
        raise UserError(f'{file}: {where}: give the file\'s name, e.g. "cat.jpg"')
    path = file.parent / name
    if not path.is_file():
        raise UserError(f"{file}: {where}: {path} is no file; put it beside the sample")
    guessed = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    content_type = spec.get("content_type", guessed)
    if not isinstance(content_type, str):
        raise UserError(f"{file}: {where}.content_type: {content_type!r} is not a string")
    return Upload(path, content_type)
