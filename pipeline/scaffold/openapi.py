"""A first `smoke/` from the app's OpenAPI schema: `init` starts the app locally to read it.

FastAPI serves `/openapi.json`. The app runs under uvicorn with `--lifespan off`, so a model the
lifespan would load from a path that exists only in the image is not needed for the schema; it
gets a free 127.0.0.1 port and a few seconds, and whatever stops it is a reason, never an error.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from pipeline.smoke.container import free_port

START_TIMEOUT = 20.0
SKIPPED_PATHS = ("/health", "/gpu-info", "/metrics", "/docs", "/redoc", "/openapi.json")
METHODS = ("get", "post", "put", "patch", "delete")
_TYPE_NAMES = {"string": "str", "integer": "int", "number": "float", "boolean": "bool"}
_EXAMPLES = {"string": "example", "integer": 1, "number": 1.0, "boolean": True}
# `python -m uvicorn` without uvicorn, or the app importing a package this Python lacks.
_MISSING_MODULE = re.compile(r"No module named '?([\w.]+)'?")


def read_schema(project: Path, app: str, app_file: str) -> tuple[dict[str, Any] | None, str]:
    """(the schema, '') or (None, why not)."""
    import requests

    # The directory the module path is relative to: `serve/app.py` serving `serve.app:app`.
    root = project / app_file
    levels = app.partition(":")[0].count(".") + 1 + app_file.endswith("__init__.py")
    for _ in range(levels):
        root = root.parent
    port = free_port()
    argv = [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--lifespan", "off", "--log-level", "warning"]
    process = subprocess.Popen(
        argv, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and process.poll() is None:
            with contextlib.suppress(requests.RequestException, ValueError):
                response = requests.get(f"http://127.0.0.1:{port}/openapi.json", timeout=2)
                if response.status_code == 200:
                    return response.json(), ""
            time.sleep(0.2)
    finally:
        _stop(process)
    if process.returncode not in (None, 0, -15):
        lines = (process.stderr.read() if process.stderr else "").splitlines()
        return None, _with_remedy(lines[-1] if lines else f"it exited {process.returncode}")
    return None, f"no /openapi.json within {START_TIMEOUT:g} s"


def _with_remedy(why: str) -> str:
    """`why`, plus the install that fixes it when a module is missing from this Python."""
    missing = _MISSING_MODULE.search(why)
    if missing is None:
        return why
    # init starts the app with the Python running pipeline, which a plain install leaves bare.
    what, argument = (
        ("uvicorn", "uvicorn")
        if missing.group(1) == "uvicorn"
        else ("the app's requirements", "-r requirements.txt")
    )
    return (
        f"{why}; install {what} where pipeline runs ({sys.executable} -m pip install "
        f"{argument}) and run init again, or write the samples by hand"
    )


def scaffold(schema: dict[str, Any]) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """NAME -> the `NAME.request.json` of each operation, and the operations left out (why)."""
    components = schema.get("components", {}).get("schemas", {})
    samples: dict[str, dict[str, Any]] = {}
    skipped = []
    for path, operations in schema.get("paths", {}).items():
        if path in SKIPPED_PATHS:
            continue
        for method, operation in operations.items():
            if method not in METHODS:
                continue
            content = operation.get("requestBody", {}).get("content", {})
            if content and "application/json" not in content:
                skipped.append(
                    f"{method.upper()} {path} (a {next(iter(content))} body: add a file beside "
                    "a sample by hand)"
                )
                continue
            name = path.strip("/").replace("/", "-").replace("{", "").replace("}", "") or "root"
            if name in samples:
                name = f"{name}-{method}"
            samples[name] = _sample(path, method, operation, components)
    return samples, skipped


def _sample(
    path: str, method: str, operation: dict[str, Any], components: dict[str, Any]
) -> dict[str, Any]:
    sample: dict[str, Any] = {"method": method.upper(), "path": path}
    query = {}
    for parameter in operation.get("parameters", []):
        value = _example(parameter.get("schema", {}), components)
        if parameter.get("in") == "path":
            sample["path"] = sample["path"].replace("{" + parameter["name"] + "}", str(value))
        elif parameter.get("in") == "query" and parameter.get("required"):
            query[parameter["name"]] = value
    if query:
        sample["query"] = query
    body = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if body:
        sample["json"] = _example(body.get("schema", {}), components)
    status = next((code for code in operation.get("responses", {}) if code.startswith("2")), "200")
    expect: dict[str, Any] = {"status": int(status)}
    answer = operation.get("responses", {}).get(status, {}).get("content", {})
    shape = _shape(answer.get("application/json", {}).get("schema", {}), components)
    if shape != "any":
        expect["shape"] = shape
    sample["expect"] = expect
    return sample


def _resolve(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref", "")
    return components.get(ref.rpartition("/")[2], {}) if ref else schema


def _example(schema: dict[str, Any], components: dict[str, Any], depth: int = 0) -> Any:
    schema = _resolve(schema, components)
    for key in ("example", "default"):
        if key in schema:
            return schema[key]
    if schema.get("examples"):
        return schema["examples"][0]
    if schema.get("enum"):
        return schema["enum"][0]
    options = [s for s in schema.get("anyOf", []) if s.get("type") != "null"]
    if options:
        return _example(options[0], components, depth)
    kind = schema.get("type")
    if kind == "array" and depth < 5:
        return [_example(schema.get("items", {}), components, depth + 1)]
    if kind == "object" or "properties" in schema:
        if depth >= 5:
            return {}
        properties = schema.get("properties", {})
        wanted = schema.get("required") or list(properties)
        return {name: _example(properties[name], components, depth + 1) for name in wanted}
    return _EXAMPLES.get(kind, "example")


def _shape(schema: dict[str, Any], components: dict[str, Any], depth: int = 0) -> Any:
    schema = _resolve(schema, components)
    kind = schema.get("type")
    if kind in _TYPE_NAMES:
        return _TYPE_NAMES[kind]
    if kind == "array" and depth < 5:
        return [_shape(schema.get("items", {}), components, depth + 1)]
    properties = schema.get("properties")
    if properties and depth < 5:
        required = schema.get("required") or []
        return {name: _shape(properties[name], components, depth + 1) for name in required}
    return "any"


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
