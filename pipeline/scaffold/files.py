"""What `init` writes beside an existing project's own files: pipeline.yaml from what was
detected, VERSION, a `.dockerignore` that keeps secrets out, a `smoke/` scaffold. A file that is
there is kept unless `force`; the caller reports both lists."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pipeline.scaffold.bento import read_apis
from pipeline.scaffold.detect import Detected
from pipeline.scaffold.openapi import read_schema, scaffold
from pipeline.scaffold.templates import templates_root
from pipeline.scaffold.triton import read_models
from pipeline.smoke.samples import REQUEST_SUFFIX
from pipeline.versioning.current import FIRST_VERSION, tagged_version

# What Triton answers a v2 infer request with, whatever the model.
V2_INFER_SHAPE = {
    "model_name": "str",
    "outputs": [{"name": "str", "datatype": "str", "shape": ["int"], "data": ["any"]}],
}
HEADER = "# Written by `python -m pipeline init`; every key is in docs/configuration.md.\n"


@dataclass
class Writer:
    project: Path
    force: bool
    written: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)

    def write(self, name: str, text: str | bytes) -> bool:
        path = self.project / name
        if path.exists() and not self.force:
            self.kept.append(name)
            return False
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
        self.written.append(name)
        return True


def config_values(detected: Detected, image: str | None, registry: str | None) -> dict[str, Any]:
    """pipeline.yaml's sections: the project, what was detected, and what the flags name."""
    values: dict[str, dict[str, Any]] = {}
    if detected.dockerfile and detected.dockerfile != "Dockerfile":
        values.setdefault("project", {})["dockerfile"] = detected.dockerfile
    if detected.model_dir and detected.model_dir != "model":
        values.setdefault("project", {})["model_dir"] = detected.model_dir
    if image:
        values["image"] = {"name": image}
    if registry:
        values["registry"] = {"url": registry}
    if detected.port is not None:
        values["smoke"] = {"port": detected.port}
    if detected.health and detected.health != "/health":
        values.setdefault("smoke", {})["health"] = detected.health
    return values


def write_config(writer: Writer, name: str, values: dict[str, Any], detected: Detected) -> bool:
    """Write the configuration file `name` (relative to the project, or absolute)."""
    body = yaml.safe_dump(values, sort_keys=False, default_flow_style=False) if values else ""
    note = f"# smoke.port from {detected.port_source}\n" if detected.port is not None else ""
    if detected.health and detected.health != "/health":
        note += f"# smoke.health: the app's own {detected.health}\n"
    return writer.write(name, HEADER + note + body)


def write_version(writer: Writer, file: str, tag_prefix: str) -> str:
    version = tagged_version(writer.project, tag_prefix) or FIRST_VERSION
    writer.write(file, f"{version}\n")
    return str(version)


def write_dockerignore(writer: Writer) -> None:
    writer.write(".dockerignore", (templates_root() / "common" / ".dockerignore").read_bytes())


def write_samples(writer: Writer, samples_dir: str, detected: Detected) -> tuple[str, list[str]]:
    """The scaffold from the app's OpenAPI schema; returns (why none was written, skipped)."""
    directory = writer.project / samples_dir
    if directory.is_dir() and any(directory.glob("*.json")) and not writer.force:
        writer.kept.append(f"{samples_dir}/")
        return "", []
    if detected.framework == "triton":
        return _triton_samples(writer, samples_dir, detected)
    if detected.framework == "bentoml" and detected.app_file:
        return _bento_samples(writer, samples_dir, detected, detected.app_file)
    if detected.framework not in (None, "fastapi"):
        routes = f" (its routes: {', '.join(detected.app_routes)})" if detected.app_routes else ""
        return (
            f"{detected.app_file or 'the app'} is a {detected.framework} app{routes}; init reads"
            " a schema only from a FastAPI app's /openapi.json, a BentoML service's @bentoml.api"
            " methods and a Triton repository's config.pbtxt: write"
            f" {samples_dir}/*.request.json by hand"
            " (docs/smoke-samples.md)",
            [],
        )
    if not detected.app or not detected.app_file:
        return "no serving app found (a CMD that runs one, or a FastAPI app)", []
    schema, why = read_schema(writer.project, detected.app, detected.app_file)
    if schema is None:
        return f"could not start {detected.app} locally to read its OpenAPI schema: {why}", []
    samples, skipped = scaffold(schema)
    if not samples:
        return f"{detected.app}'s OpenAPI schema has no endpoint to sample", skipped
    for name, sample in samples.items():
        writer.write(f"{samples_dir}/{name}{REQUEST_SUFFIX}", json.dumps(sample, indent=2) + "\n")
    return "", skipped


def _triton_samples(writer: Writer, samples_dir: str, detected: Detected) -> tuple[str, list[str]]:
    """One v2 infer request per model of the repository, from its config.pbtxt's inputs."""
    models, unread = read_models(writer.project, detected.model_configs)
    if not models:
        why = "; ".join(unread) or "the project has no config.pbtxt"
        return (
            f"no Triton model configuration to build a v2 infer request from ({why}): write"
            f" {samples_dir}/*.request.json by hand (docs/smoke-samples.md)",
            [],
        )
    for model in models:
        sample = {
            "path": f"/v2/models/{model.name}/infer",
            "json": model.request,
            "expect": {"shape": V2_INFER_SHAPE},
        }
        writer.write(
            f"{samples_dir}/{model.name}{REQUEST_SUFFIX}", json.dumps(sample, indent=2) + "\n"
        )
    return "", [f"{why} (no sample written for it: write one by hand)" for why in unread]


def _bento_samples(
    writer: Writer, samples_dir: str, detected: Detected, app_file: str
) -> tuple[str, list[str]]:
    """One request per `@bentoml.api` method whose parameters are JSON-typed."""
    service = (detected.app or "").partition(":")[2] or None
    source = (writer.project / app_file).read_text(encoding="utf-8", errors="replace")
    apis, why = read_apis(source, service)
    by_hand = f"write {samples_dir}/*.request.json by hand (docs/smoke-samples.md)"
    if not apis:
        return f"{app_file}: {why}: {by_hand}", []
    left_out = [
        f"POST {api.route} ({api.why}: write its sample by hand)"
        for api in apis
        if not api.body and api.why
    ]
    written = [api for api in apis if api.body is not None]
    if not written:
        return f"no API of {app_file} takes JSON-typed parameters only: {by_hand}", left_out
    for api in written:
        sample = {"path": api.route, "json": api.body, "expect": {"status": 200}}
        writer.write(
            f"{samples_dir}/{api.name}{REQUEST_SUFFIX}", json.dumps(sample, indent=2) + "\n"
        )
    return "", left_out
