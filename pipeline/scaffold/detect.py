"""What an existing model project already has, for `init`: its Dockerfile, serving app, port,
requirements and model files. Read from the files alone; nothing is built or run here."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.project.dockerfile import Dockerfile, Instruction, parse_file
from pipeline.project.installs import installed_requirement_files

WEIGHT_SUFFIXES = (
    ".pt", ".pth", ".bin", ".safetensors", ".onnx", ".pkl", ".pickle", ".joblib", ".h5",
    ".keras", ".ckpt", ".gguf", ".pb", ".tflite", ".msgpack", ".npz", ".cbm", ".ubj",
)  # fmt: skip
MODEL_DIRS = ("model", "models", "weights", "checkpoints")
# Not the project's own files: tools' and environments' directories.
_SKIPPED_DIRS = {".git", ".venv", "venv", "node_modules", "__pycache__", ".pipeline", ".tox"}
_SERVERS = ("uvicorn", "gunicorn", "hypercorn")
_APP_SPEC = re.compile(r"^([A-Za-z_][\w.]*):([A-Za-z_]\w*)(\(\))?$")
_PORT_IN_SOURCE = re.compile(r"\bport\s*=\s*(\d{2,5})\b")
_FASTAPI_APP = re.compile(r"^(\w+)\s*=\s*FastAPI\(", re.MULTILINE)


@dataclass(frozen=True)
class Detected:
    dockerfile: str | None
    app: str | None  # module:attribute, as uvicorn takes it
    app_file: str | None  # the module's file, relative to the project
    port: int | None
    port_source: str  # how the port was found, for the report
    requirements: list[str]  # requirement files the Dockerfile installs (or requirements.txt)
    model_files: list[str] = field(default_factory=list)
    model_dir: str | None = None


def detect(project: Path, dockerfile_name: str = "Dockerfile") -> Detected:
    dockerfile_path = project / dockerfile_name
    parsed = parse_file(dockerfile_path) if dockerfile_path.is_file() else None
    command = _command(parsed) if parsed else []
    app, app_file = _app(project, command)
    port, port_source = _port(project, parsed, command, app_file)
    model_files = _model_files(project)
    return Detected(
        dockerfile=dockerfile_name if parsed else None,
        app=app,
        app_file=app_file,
        port=port,
        port_source=port_source,
        requirements=_requirements(project, parsed),
        model_files=model_files,
        model_dir=next((d for d in MODEL_DIRS if (project / d).is_dir()), None),
    )


def _command(dockerfile: Dockerfile) -> list[str]:
    """The final stage's ENTRYPOINT and CMD words, as the container runs them."""
    final = dockerfile.stages[-1] if dockerfile.stages else None
    if final is None:
        return []
    last: dict[str, Instruction] = {}
    for stage in dockerfile.lineage(final):
        for instruction in stage.instructions:
            if instruction.keyword in ("ENTRYPOINT", "CMD"):
                last[instruction.keyword] = instruction
    return [word for key in ("ENTRYPOINT", "CMD") if key in last for word in last[key].words()]


def _app(project: Path, command: list[str]) -> tuple[str | None, str | None]:
    """The ASGI/WSGI app the command serves (`uvicorn app:app`), else a module that makes a
    FastAPI app."""
    if any(os.path.basename(word) in _SERVERS for word in command):
        for word in command:
            match = _APP_SPEC.match(word)
            if match and not word.startswith("-"):
                module_file = _module_file(project, match.group(1))
                return f"{match.group(1)}:{match.group(2)}", module_file
    for path in sorted(_python_files(project)):
        found = _FASTAPI_APP.search(path.read_text(encoding="utf-8", errors="replace"))
        if found:
            relative = path.relative_to(project)
            module = ".".join(relative.with_suffix("").parts).removesuffix(".__init__")
            return f"{module}:{found.group(1)}", relative.as_posix()
    return None, None


def _module_file(project: Path, module: str) -> str | None:
    parts = module.split(".")
    for candidate in (Path(*parts).with_suffix(".py"), Path(*parts, "__init__.py")):
        if (project / candidate).is_file():
            return candidate.as_posix()
    # `COPY src/ .` puts the module at the image's root: look one directory down.
    for path in _python_files(project):
        if (
            path.relative_to(project)
            .as_posix()
            .endswith(Path(*parts).with_suffix(".py").as_posix())
        ):
            return path.relative_to(project).as_posix()
    return None


def _port(
    project: Path, dockerfile: Dockerfile | None, command: list[str], app_file: str | None
) -> tuple[int | None, str]:
    for index, word in enumerate(command):
        value = None
        if word in ("--port", "-p") and index + 1 < len(command):
            value = command[index + 1]
        elif word.startswith("--port="):
            value = word.split("=", 1)[1]
        elif word in ("--bind", "-b") and index + 1 < len(command):
            value = command[index + 1].rpartition(":")[2]
        if value and value.isdigit():
            return int(value), f"the Dockerfile's CMD ({word} {value})"
    if dockerfile is not None and dockerfile.stages:
        for stage in dockerfile.lineage(dockerfile.stages[-1]):
            for instruction in stage.instructions:
                if instruction.keyword == "EXPOSE":
                    port = instruction.words()[0].split("/")[0] if instruction.words() else ""
                    if port.isdigit():
                        return int(port), f"the Dockerfile's EXPOSE {port}"
    if app_file:
        found = _PORT_IN_SOURCE.search((project / app_file).read_text(encoding="utf-8"))
        if found:
            return int(found.group(1)), f"{app_file} (port={found.group(1)})"
    return None, "not found"


def _requirements(project: Path, dockerfile: Dockerfile | None) -> list[str]:
    installed = (
        [os.path.basename(name) for _, name in installed_requirement_files(dockerfile)]
        if dockerfile
        else []
    )
    found = [name for name in dict.fromkeys(installed) if (project / name).is_file()]
    if not found and (project / "requirements.txt").is_file():
        found = ["requirements.txt"]
    return found


def _model_files(project: Path) -> list[str]:
    found = []
    for root, dirs, files in os.walk(project):
        dirs[:] = sorted(d for d in dirs if d not in _SKIPPED_DIRS)
        for name in sorted(files):
            if name.lower().endswith(WEIGHT_SUFFIXES):
                found.append((Path(root) / name).relative_to(project).as_posix())
    return found


def _python_files(project: Path) -> list[Path]:
    found = []
    for root, dirs, files in os.walk(project):
        dirs[:] = sorted(d for d in dirs if d not in _SKIPPED_DIRS and not d.startswith("."))
        found += [Path(root) / name for name in sorted(files) if name.endswith(".py")]
    return found
