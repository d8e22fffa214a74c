"""Samples for real APIs: method, path, query, headers, JSON or multipart files, and status,
shape, golden and content-type expectations (issue 14, item 6). Engine-free: a stdlib server on
127.0.0.1 stands in for a text, an image and an audio model."""

from __future__ import annotations

import email.parser
import email.policy
import json
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from pipeline.core.errors import UserError
from pipeline.smoke.http import send
from pipeline.smoke.samples import answer_problem, load_samples

REQUESTS = Path(__file__).resolve().parent / "data" / "smoke" / "requests"
PNG = (REQUESTS / "cat.png").read_bytes()


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/render":
            self._send(200, PNG, "image/png")
        else:
            self._send(404, b'{"detail": "Not Found"}', "application/json")

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if url.path == "/predict":
            # The article's app: `text` is a query parameter, not a body.
            text = parse_qs(url.query)["text"][0]
            self._json({"text": text, "label": "POSITIVE", "score": 0.999})
            return
        parts = self._multipart(body)
        if url.path == "/classify":
            image = parts["image"]
            self._json(
                {
                    "filename": image.get_filename(),
                    "content_type": image.get_content_type(),
                    "bytes": len(image.get_payload(decode=True)),
                    "top_k": parts["top_k"].get_payload(decode=True).decode(),
                    "request_id": self.headers["X-Request-Id"],
                }
            )
        else:
            audio = parts["audio"]
            self._json(
                {
                    "content_type": audio.get_content_type(),
                    "bytes": len(audio.get_payload(decode=True)),
                }
            )

    def _multipart(self, body: bytes) -> dict[str, email.message.Message]:
        head = f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode()
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
        return {
            part.get_param("name", header="content-disposition"): part
            for part in message.iter_parts()
        }

    def _json(self, value: object) -> None:
        self._send(200, json.dumps(value).encode(), "application/json")

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def answers(directory: Path, url: str) -> dict[str, str | None]:
    with requests.Session() as session:
        return {
            sample.name: answer_problem(sample, send(session, sample.request.prepare(url)), 1e-6)
            for sample in load_samples(directory)
        }


def test_query_multipart_and_non_json_samples_pass(url: str) -> None:
    # Stumble 6: the article's /predict?text=... and image or audio uploads could not be
    # smoke-tested at all.
    assert answers(REQUESTS, url) == {
        "audio": None,
        "image": None,
        "missing": None,
        "render": None,
        "text": None,
    }


def test_wrong_answers_name_the_sample_and_what_differs(url: str, tmp_path: Path) -> None:
    shutil.copytree(REQUESTS, tmp_path, dirs_exist_ok=True)
    edits = {
        "text": {"expect": {"golden": {"label": "NEGATIVE"}}},
        "render": {"expect": {"content_type": "image/jpeg"}},
        "missing": {"expect": {"status": 200}},
        "image": {"expect": {"shape": {"labels": ["str"]}}},
        "audio": {"expect": {"content_type": "application/json", "shape": {"bytes": "str"}}},
    }
    for name, change in edits.items():
        path = tmp_path / f"{name}.request.json"
        spec = json.loads(path.read_text())
        spec["expect"] = change["expect"]
        path.write_text(json.dumps(spec))
    problems = answers(tmp_path, url)
    assert problems["text"] == (
        "the answer to text.request.json differs from text.request.json's expect.golden: "
        'label: expected "NEGATIVE", got str "POSITIVE"'
    )
    assert problems["render"] == (
        "the answer to render.request.json has content type image/png, expected image/jpeg"
    )
    assert problems["missing"] == (
        'GET /nothing-here with missing.request.json answered 404: {"detail": "Not Found"}'
    )
    assert problems["image"] == (
        "the answer to image.request.json does not match image.request.json's expect.shape: "
        "the response: missing key 'labels'"
    )
    assert problems["audio"] == (
        "the answer to audio.request.json does not match audio.request.json's expect.shape: "
        "bytes: expected str, got int 1644"
    )


def test_a_json_body_sample_still_works_beside_request_samples(url: str, tmp_path: Path) -> None:
    (tmp_path / "body.json").write_text('{"instances": [{"a": 1}]}')
    (tmp_path / "body.expected.json").write_text('{"predictions": [{"label": "str"}]}')
    (tmp_path / "text.request.json").write_text('{"query": {"text": "x"}}')
    samples = {sample.name: sample for sample in load_samples(tmp_path)}
    assert samples["body"].request.label() == "POST /predict"
    assert samples["body"].payload == {"instances": [{"a": 1}]}
    assert samples["text"].expected is None and samples["text"].status == 200


def test_a_sample_may_expect_any_http_status(tmp_path: Path) -> None:
    for status in (100, 422, 599):
        (tmp_path / f"s{status}.request.json").write_text(f'{{"expect": {{"status": {status}}}}}')
    statuses = {sample.name: sample.status for sample in load_samples(tmp_path)}
    assert statuses == {"s100": 100, "s422": 422, "s599": 599}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"metod": "GET"}', r"x\.request\.json: metod: unknown key; known keys: method, path"),
        ('{"method": "FETCH"}', r"method: 'FETCH' is not one of GET, POST"),
        ('{"path": "predict"}', r"path: 'predict' must start with /"),
        ('{"files": {"f": "nope.jpg"}}', r"files\.f: .*nope\.jpg is no file; put it beside"),
        ('{"json": {}, "form": {"a": "b"}}', r"json and files/form both given"),
        ('{"expect": {"status": "ok"}}', r"expect\.status: 'ok' is not an HTTP status"),
        ('{"expect": {"status": 600}}', r"expect\.status: 600 is not an HTTP status"),
        ('{"expect": {"status": true}}', r"expect\.status: True is not an HTTP status"),
        ('{"expect": {"shape": {"a": "string"}}}', r'expect\.shape\.a: "string" is not a type'),
        ('{"expect": {"golden": 1, "color": 2}}', r"expect\.color: unknown key"),
        ('{"headers": {"X-N": 1}}', r"headers\.X-N: 1 is not a string"),
    ],
)
def test_bad_request_samples_are_one_clear_error(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "x.request.json").write_text(text)
    with pytest.raises(UserError, match=message):
        load_samples(tmp_path)
