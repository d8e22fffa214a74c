"""What an existing model project already has, for `init`: its Dockerfile, serving app and
framework, port, health routes, requirements and model files. Read from the files alone;
nothing is built or run here.

The app is the one the image runs: the Dockerfile's CMD/ENTRYPOINT names a server
(`uvicorn m:app`, `gunicorn`, `flask run`, `serve run`, `bentoml serve`, `tritonserver`) or a
script (`python app.py`), and the framework is read from that file, not from any file that
imports one. A shell command (`sh -c`, the shell form, a `start.sh` the image runs) is read for
the command in it that serves; a Ray Serve config file (`serve run serve_config.yaml`) and a
`bentofile.yaml` name the app. What cannot be found is said in `notes`, with what to do.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.project.dockerfile import Dockerfile, Instruction, parse_file
from pipeline.project.installs import installed_requirement_files
from pipeline.scaffold.rayserve import ServeConfig, is_serve_config, read_config
from pipeline.scaffold.triton import CONFIG_FILE

WEIGHT_SUFFIXES = (
    ".pt", ".pth", ".bin", ".safetensors", ".onnx", ".pkl", ".pickle", ".joblib", ".skops",
    ".h5", ".keras", ".ckpt", ".gguf", ".pb", ".tflite", ".msgpack", ".npz", ".cbm", ".ubj",
    ".engine", ".plan",
)  # fmt: skip
# A Git LFS pointer: a small text file standing in for weights that were never pulled.
LFS_POINTER = b"version https://git-lfs.github.com/spec/v1"
# Where a Dockerfile is usually kept, in the order init prefers them.
DOCKERFILE_GLOBS = ("Dockerfile", "dockerfile", "Dockerfile.*", "*.Dockerfile", "*.dockerfile")
# How each framework shows in the file the image runs; FastAPI first, as LitServe, BentoML and
# Ray Serve apps often import it too.
FRAMEWORKS = {
    "triton": re.compile(r"\bclass\s+TritonPythonModel\b"),
    "litserve": re.compile(r"\bLitServer\("),
    "bentoml": re.compile(r"@bentoml\.service\b|\bbentoml\.Service\("),
    "ray-serve": re.compile(r"@serve\.deployment\b|\bserve\.run\("),
    "kserve": re.compile(r"\bkserve\.(?:Model|ModelServer)\b|\bModelServer\([^)]*\)\.start\("),
    "gradio": re.compile(r"\b(?:gr|gradio)\.(?:Interface|Blocks|ChatInterface)\("),
    "fastapi": re.compile(r"\bFastAPI\("),
    "flask": re.compile(r"\bFlask\("),
}
# Health routes a framework serves by itself.
BUILTIN_HEALTH = {
    "litserve": ["/health"],
    "gradio": ["/"],  # the page, served once the app (and the model it closes over) is built
    "bentoml": ["/healthz", "/livez", "/readyz"],
    "ray-serve": ["/-/healthz"],
    "triton": ["/v2/health/ready", "/v2/health/live"],
    "kserve": ["/v2/health/ready", "/v2/health/live"],  # its ModelServer serves v1 and v2
}
# Which of an app's health routes smoke polls: readiness (the model is loaded) over health, over
# liveness (the process is up) and the rest.
_HEALTH_PREFERENCE = ("ready", "health", "ping", "status", "live")
# Routes an app answers health or readiness checks on.
_HEALTH_ROUTE = re.compile(
    r"""(?:\.(?:get|route|api_route|add_api_route)|@\w+\.(?:get|route))\(\s*["'](/[\w/-]*"""
    r"""(?:health|ready|readiness|live|liveness|ping|status)[\w/-]*)["']"""
)
# Routes an app declares with a decorator: `@app.post("/predict")`.
_REQUEST_ROUTE = re.compile(r"""@\w+\.(get|post|put|patch|delete)\(\s*["'](/[^"']*)["']""")
MODEL_DIRS = ("model", "models", "weights", "checkpoints")
# Where each framework listens when the image does not say: (its name, the port).
DEFAULT_PORTS = {
    "flask": ("Flask", 5000),  # `flask run` and `app.run()`
    "gradio": ("Gradio", 7860),
    "litserve": ("LitServe", 8000),
    "bentoml": ("BentoML", 3000),
    "ray-serve": ("Ray Serve", 8000),
    "triton": ("Triton", 8000),  # HTTP; 8001 is gRPC, 8002 metrics
    "kserve": ("KServe's ModelServer", 8080),
}
# Not the project's own files: tools' and environments' directories.
_SKIPPED_DIRS = {".git", ".venv", "venv", "node_modules", "__pycache__", ".pipeline", ".tox"}
_SERVERS = ("uvicorn", "gunicorn", "hypercorn")
# Programs that serve by themselves, beside the ASGI/WSGI servers and `python app.py`.
_SERVING_PROGRAMS = {*_SERVERS, "tritonserver", "flask", "gradio"}
_SHELLS = {"sh", "bash", "dash", "zsh"}
# What ends one shell command and starts the next; `&` also puts the first in the background.
_SHELL_SEPARATORS = {";", "&&", "||", "|", "&"}
_PYTHON = re.compile(r"^python[\d.]*$")
BENTOFILE = "bentofile.yaml"
_APP_SPEC = re.compile(r"^([A-Za-z_][\w.]*):([A-Za-z_]\w*)(\(\))?$")
_PORT_IN_SOURCE = re.compile(r"\bport\s*=\s*(\d{2,5})\b")
# uvicorn, serve run, bentoml...; tritonserver; KServe's ModelServer
_PORT_FLAGS = ("--port", "-p", "--http-port", "--http_port")
_APP_OBJECT = re.compile(r"^(\w+)\s*=\s*(?:fastapi\.|flask\.)?(?:FastAPI|Flask)\(", re.MULTILINE)
_FASTAPI_APP = re.compile(r"^(\w+)\s*=\s*FastAPI\(", re.MULTILINE)
# Ray Serve told to listen on every interface: the environment variable, or http_options' host.
_RAY_HOST = re.compile(
    r"""(?:RAY_SERVE_DEFAULT_HTTP_HOST|--http-host|["']?host["']?)\s*[:= ]\s*["']?0\.0\.0\.0"""
)


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
    framework: str | None = None  # "fastapi", "flask", "gradio", "litserve", "ray-serve", ...
    health_routes: list[str] = field(default_factory=list)  # the app's own, as written
    model_configs: list[str] = field(default_factory=list)  # a Triton repository's config.pbtxt
    serve_config: str | None = None  # the Ray Serve config file the image runs
    # The app's request routes, `POST /path`, behind a Ray Serve route_prefix; for a Serve app
    # that takes its requests in __call__, the prefix alone.
    app_routes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what was not found, why, what to do

    @property
    def health(self) -> str | None:
        """The route smoke should poll (smoke.health): /health where the app has it, else the
        readiest of its own; None when it has none."""
        if "/health" in self.health_routes or not self.health_routes:
            return "/health" if self.health_routes else None
        return min(
            self.health_routes,
            key=lambda route: next(
                (i for i, word in enumerate(_HEALTH_PREFERENCE) if word in route),
                len(_HEALTH_PREFERENCE),
            ),
        )


def find_dockerfile(project: Path, configured: str = "Dockerfile") -> str | None:
    """The project's Dockerfile: `configured` where it exists, else the one file under a usual
    name (`Dockerfile`, `dockerfile`, `Dockerfile.*`, `*.Dockerfile`); None if none or several."""
    if (project / configured).is_file():
        return configured
    found = [
        path.name
        for glob in DOCKERFILE_GLOBS
        for path in sorted(project.glob(glob))
        if path.is_file() and not path.name.endswith((".dockerignore", ".md"))
    ]
    found = list(dict.fromkeys(found))
    return found[0] if len(found) == 1 else None


def detect(project: Path, dockerfile_name: str = "Dockerfile") -> Detected:
    notes: list[str] = []
    name = find_dockerfile(project, dockerfile_name)
    parsed = parse_file(project / name) if name else None
    command, script, background = _serving_command(project, _command(parsed) if parsed else [])
    serve_config = _serve_config(project, command, notes)
    app, app_file, framework = _app(project, command, notes, serve_config)
    port, port_source = _port(project, parsed, command, app_file, framework, serve_config)
    if background:
        notes.append(
            f"{script or 'the CMD'} starts `{' '.join(command)}` in the background (&): the"
            " server is not the container's main process, so SIGTERM never reaches it, smoke's"
            " shutdown check fails and `docker stop` kills it after its grace period; `exec` it"
            " as the last command instead"
        )
    model_files, pointers = _model_files(project)
    if pointers:
        notes.append(
            f"{len(pointers)} model file(s) are Git LFS pointers, not weights ({pointers[0]}"
            f"{', ...' if len(pointers) > 1 else ''}): run `git lfs pull` before building"
        )
    if framework == "flask" and not any(os.path.basename(w) in _SERVERS for w in command):
        notes.append(
            f"the image runs {app_file} on Flask's development server as its main process"
            " (PID 1), which ignores SIGTERM: smoke's shutdown check fails, and `docker stop` or"
            " Kubernetes kill it at the end of their grace period; serve it with gunicorn (CMD"
            f' ["gunicorn", "-b", "0.0.0.0:{port}", "{app or "module:app"}"])'
        )
    told_host = any(_RAY_HOST.search(_read(project / path)) for path in (name, app_file) if path)
    told_host |= serve_config is not None and serve_config.host == "0.0.0.0"
    if framework == "ray-serve" and not told_host:
        notes.append(
            "Ray Serve listens on 127.0.0.1 unless told otherwise, out of reach from outside the"
            " container (smoke's requests, a load balancer's): add"
            " `ENV RAY_SERVE_DEFAULT_HTTP_HOST=0.0.0.0` to the Dockerfile"
            + (
                f" (or `host: 0.0.0.0` to {serve_config.file}'s http_options)"
                if serve_config
                else ""
            )
        )
    if framework == "ray-serve" and _runs(command, "serve", "run"):
        notes.append(
            "`serve run` as the image's main process aborts on SIGTERM (exit 134, Ray's driver),"
            " dropping requests in flight: smoke's shutdown check wants exit 0, and `docker stop`"
            " or Kubernetes stop it the same way; start Serve from a script that stops it on"
            " SIGTERM (the README's Smoke test, Ray Serve) and run that script as the CMD"
        )
    configs, templates = _triton_configs(project) if framework == "triton" else ([], [])
    if templates and not configs:
        notes.append(
            f"the model repository has {templates[0]}{', ...' if len(templates) > 1 else ''} but"
            f" no {CONFIG_FILE}: the image gets none unless the build makes them, and Triton's"
            f" Python backend needs one per model; commit the generated {CONFIG_FILE} files (or"
            " make them in a RUN step) and run init again for its samples"
        )
    prefixes = _route_prefixes(serve_config)
    # A Serve app's own routes are behind its route_prefix (when one application takes traffic).
    behind = prefixes[0].rstrip("/") if len(prefixes) == 1 else ""
    health = [
        *BUILTIN_HEALTH.get(framework or "", []),
        *(behind + route for route in _health_routes(project, app_file)),
    ]
    if app_file and not health:
        notes.append(
            "smoke waits for a GET route to answer 200 once the model is loaded, and the app has"
            " none: add one (e.g. /health), and set smoke.health if it is not /health"
        )
    return Detected(
        dockerfile=name,
        app=app,
        app_file=app_file,
        port=port,
        port_source=port_source,
        requirements=_requirements(project, parsed),
        model_files=model_files,
        model_dir=_model_dir(project, pointers),
        framework=framework,
        health_routes=health,
        model_configs=configs,
        serve_config=serve_config.file if serve_config else None,
        app_routes=_request_routes(project, app_file, prefixes, behind)
        if framework == "ray-serve"
        else [],
        notes=notes,
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
    return [word for key in ("ENTRYPOINT", "CMD") if key in last for word in _argv(last[key])]


def _argv(instruction: Instruction) -> list[str]:
    """What the container runs: the exec form as written, the shell form under `/bin/sh -c`."""
    exec_form = instruction.exec_form()
    return exec_form if exec_form is not None else ["/bin/sh", "-c", instruction.operands]


def _serving_command(
    project: Path, words: list[str], depth: int = 0
) -> tuple[list[str], str | None, bool]:
    """(the command that serves, the project's script it is in, whether it runs in the
    background) of what the image runs: a `sh -c` command line, or a shell script of the
    project (`./start.sh`, `bash start.sh`, an entrypoint script whose `exec "$@"` runs the CMD),
    is read for its last command that starts a server."""
    program = os.path.basename(words[0]) if words else ""
    if program in _SHELLS and words[1:2] == ["-c"] and len(words) > 2:
        tokens, script, rest = _shell_words(words[2]), None, []
    else:
        at = 1 if program in _SHELLS else 0
        named = words[at] if len(words) > at and words[at].endswith(".sh") else None
        script = _project_file(project, named) if named else None
        if script is None or depth > 2:
            return words, None, False
        tokens, rest = _shell_words(_read(project / script)), words[at + 1 :]
    segments: list[tuple[list[str], bool]] = [([], False)]
    for token in tokens:
        if token in _SHELL_SEPARATORS:
            segments[-1] = (segments[-1][0], token == "&")
            segments.append(([], False))
        else:
            segments[-1][0].append(token)
    for segment, background in reversed(segments):
        # `exec "$@"` runs the CMD after an entrypoint script: what a step before it runs
        # (`python download_model.py`) is not the server.
        segment = [word for w in segment for word in (rest if w == "$@" else [w])]
        inner, inner_script, inner_background = _serving_command(project, segment, depth + 1)
        if _serves(inner):
            return inner, inner_script or script, background or inner_background
    if rest:
        return _serving_command(project, rest, depth + 1)
    while tokens and tokens[-1] == ";":
        tokens = tokens[:-1]  # the end of the line
    return (tokens if script is None else words), None, False


def _shell_words(text: str) -> list[str]:
    """A shell script's words, one `;` between its lines, operators (`&&`, `&`, `|`) apart."""
    words: list[str] = []
    for line in text.replace("\\\n", " ").splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|<>()")
        lexer.whitespace_split = True
        try:
            words += [*lexer, ";"]
        except ValueError:  # unbalanced quotes: whitespace is near enough
            words += [*line.split(), ";"]
    return words


def _serves(words: list[str]) -> bool:
    """Whether a command starts a server: a known one, or Python running a file or module."""
    programs = [os.path.basename(word) for word in words]
    for index, program in enumerate(programs):
        following = words[index + 1 : index + 2]
        if program in _SERVING_PROGRAMS or (program, *following) in (
            ("serve", "run"), ("serve", "deploy"), ("bentoml", "serve"), ("litserve", "serve")
        ):  # fmt: skip
            return True
        if _PYTHON.match(program) and following and following[0] != "-c":
            return following[0] == "-m" or following[0].endswith(".py")
    return False


def _serve_config(project: Path, command: list[str], notes: list[str]) -> ServeConfig | None:
    """The Ray Serve config file `serve run|deploy FILE` names; without a CMD, the project's one
    config file, if it has one."""
    if not command:
        candidates = [
            path.relative_to(project).as_posix()
            for pattern in ("*.yaml", "*.yml", "*/*.yaml", "*/*.yml")
            for path in sorted(project.glob(pattern))
            if is_serve_config(_read(path))
        ]
        configs = [config for file in candidates if (config := _config_or_none(project, file))]
        return configs[0] if len(configs) == 1 else None
    if not (_runs(command, "serve", "run") or _runs(command, "serve", "deploy")):
        return None
    named = next((w for w in command if w.endswith((".yaml", ".yml"))), None)
    found = _project_file(project, named) if named else None
    if found is None:
        return None
    try:
        return read_config(project, found)
    except ValueError as exc:
        notes.append(f"{exc}: init reads the app from it; fix it, or name the app in the CMD")
        return None


def _config_or_none(project: Path, relative: str) -> ServeConfig | None:
    """A file that only looks like a Serve config (a KubeRay manifest that embeds one) is none."""
    try:
        return read_config(project, relative)
    except ValueError:
        return None


def _app(
    project: Path, command: list[str], notes: list[str], serve_config: ServeConfig | None
) -> tuple[str | None, str | None, str | None]:
    """(module:attribute, its file, the framework) of what the image runs."""
    words = [os.path.basename(word) if index == 0 else word for index, word in enumerate(command)]
    programs = [os.path.basename(word) for word in command if not word.startswith("-")]
    if serve_config is not None:
        # The application that takes HTTP traffic; the others are only reached through it.
        routed = [a for a in serve_config.applications if a.route_prefix is not None]
        application = (routed or list(serve_config.applications))[0]
        module_file = _module_file(project, application.import_path.partition(":")[0])
        if not command:
            notes.append(
                f"no CMD or ENTRYPOINT runs the app: add one that starts Serve with"
                f" {serve_config.file} (the README's Smoke test, Ray Serve, has a script that"
                " also stops it on SIGTERM)"
            )
        return application.import_path, module_file, "ray-serve"
    if _runs(command, "bentoml", "serve"):
        return _bento_service(project, command, notes)
    if any(program in _SERVERS for program in programs) or _runs(command, "serve", "run"):
        for word in command:
            match = _APP_SPEC.match(word)
            if match and not word.startswith("-"):
                module_file = _module_file(project, match.group(1))
                framework = _framework(project, module_file)
                if framework is None and _runs(command, "serve", "run"):
                    framework = "ray-serve"
                if framework == "flask" and "uvicorn" in programs and "wsgi" not in command:
                    notes.append(
                        f"the image runs the Flask (WSGI) app {module_file} under uvicorn, an"
                        " ASGI server: it fails on the first request; run it with gunicorn, or"
                        " pass uvicorn --interface wsgi"
                    )
                return f"{match.group(1)}:{match.group(2)}", module_file, framework
    if "tritonserver" in programs:
        model = next((p for p in _python_files(project) if _framework_of(p) == "triton"), None)
        relative = model.relative_to(project).as_posix() if model else None
        return None, relative, "triton"
    script = _script(project, words)
    if script is not None:
        framework = _framework(project, script)
        return _app_object(project, script), script, framework
    if command:
        notes.append(
            f"the image runs `{' '.join(command)}`, which names no app file init can read:"
            " set smoke samples up by hand (docs/smoke-samples.md)"
        )
        return None, None, None
    # No CMD at all: the one module that makes a FastAPI app, if there is one.
    found = [p for p in _python_files(project) if _FASTAPI_APP.search(_read(p))]
    if len(found) == 1:
        relative = found[0].relative_to(project).as_posix()
        return _app_object(project, relative), relative, "fastapi"
    notes.append("no CMD or ENTRYPOINT names the serving app: add one to the Dockerfile")
    return None, None, None


def _bento_service(
    project: Path, command: list[str], notes: list[str]
) -> tuple[str | None, str | None, str | None]:
    """(module:Class, its file, "bentoml") of `bentoml serve TARGET`: `module:Class`,
    `path/service.py:Class`, or a directory (`.` by default) whose bentofile.yaml names it."""
    at = next(i for i, w in enumerate(command) if os.path.basename(w) == "bentoml") + 2
    target = command[at] if at < len(command) and not command[at].startswith("-") else "."
    found = _bento_target(project, target)
    # A directory (`.`) holds a bentofile.yaml; a `name:version` is a Bento in the store.
    bentofile = _project_file(project, f"{target}/{BENTOFILE}") if ":" not in target else None
    if found is None and bentofile:
        service = re.search(r"^service:\s*[\"']?([^\"'\s#]+)", _read(project / bentofile), re.M)
        found = _bento_target(project, service.group(1)) if service else None
    elif found is None and (project / BENTOFILE).is_file():
        notes.append(
            f"the image serves the Bento {target} from BentoML's store (made by `bentoml"
            " build`): init reads its service's source as bentofile.yaml names it"
        )
        return _bento_service(project, ["bentoml", "serve", "."], notes)
    if found is None:
        notes.append(
            f"`bentoml serve {target}` names no service file init can read: set smoke samples"
            " up by hand (docs/smoke-samples.md)"
        )
        return None, None, "bentoml"
    return (*found, "bentoml")


def _bento_target(project: Path, target: str) -> tuple[str, str] | None:
    """(module:Class, its file) of a `bentoml serve` target naming a module or a file."""
    location, _, service = target.rpartition(":") if ":" in target else (target, "", "")
    if location.endswith(".py"):
        file = _project_file(project, location)
    else:
        dotted = re.fullmatch(r"[A-Za-z_][\w.]*", location)
        file = _module_file(project, location) if dotted else None
    if file is None:
        return None
    # As the CMD names it: bentoml imports `path/service.py` as the module `path.service`.
    module = location.removesuffix(".py").strip("./").replace("/", ".")
    return f"{module}:{service}" if service else module, file


def _runs(command: list[str], program: str, subcommand: str) -> bool:
    """Whether the command runs `program subcommand` (`serve run`, `bentoml serve`)."""
    return any(
        os.path.basename(word) == program and command[index + 1 : index + 2] == [subcommand]
        for index, word in enumerate(command)
    )


def _script(project: Path, words: list[str]) -> str | None:
    """The Python file `python app.py`, `python -m serve.app`, `flask --app m run`, `gradio
    app.py` or `bentoml serve m:Svc` runs."""
    for index, word in enumerate(words):
        if word.endswith(".py") and (found := _project_file(project, word)):
            return found
        # `python -m flask --app api run`: a module not in the project is the server.
        module = words[index + 1] if word == "-m" and index + 1 < len(words) else None
        if module and (found := _module_file(project, module)):
            # `python -m package` runs the package's __main__.py
            main = found.replace("__init__.py", "__main__.py")
            return main if found.endswith("__init__.py") and (project / main).is_file() else found
        if word == "--app" and index + 1 < len(words):
            return _module_file(project, words[index + 1].partition(":")[0])
    if "flask" in words and (project / "app.py").is_file():
        return "app.py"  # flask run's default FLASK_APP
    return None


def _project_file(project: Path, path: str) -> str | None:
    """The project file an image path names: `app.py`, `./app.py`, or `/app/server.py` after
    `COPY . /app` (the longest tail of the path that exists in the project)."""
    parts = [part for part in Path(path).parts if part not in ("/", ".")]
    for start in range(len(parts)):
        if (project / Path(*parts[start:])).is_file():
            return Path(*parts[start:]).as_posix()
    return None


def _framework(project: Path, relative: str | None) -> str | None:
    return _framework_of(project / relative) if relative else None


def _framework_of(path: Path) -> str | None:
    text = _read(path)
    return next((name for name, mark in FRAMEWORKS.items() if mark.search(text)), None)


def _app_object(project: Path, relative: str) -> str | None:
    """`module:attribute` of the FastAPI or Flask app `relative` makes, if it makes one."""
    found = _APP_OBJECT.search(_read(project / relative))
    module = ".".join(Path(relative).with_suffix("").parts).removesuffix(".__init__")
    return f"{module}:{found.group(1)}" if found else None


def _health_routes(project: Path, app_file: str | None) -> list[str]:
    if not app_file:
        return []
    return list(dict.fromkeys(_HEALTH_ROUTE.findall(_read(project / app_file))))


def _route_prefixes(serve_config: ServeConfig | None) -> list[str]:
    """The route prefixes of a Serve config's applications that take HTTP traffic."""
    return [
        application.route_prefix
        for application in (serve_config.applications if serve_config else ())
        if application.route_prefix is not None
    ]


def _request_routes(
    project: Path, app_file: str | None, prefixes: list[str], behind: str
) -> list[str]:
    """`METHOD /path` of each route the app file declares (a FastAPI ingress's), `behind` the
    route prefix; the prefixes where it declares none."""
    declared = [
        f"{method.upper()} {behind}{path}"
        for method, path in _REQUEST_ROUTE.findall(_read(project / app_file) if app_file else "")
        if not _HEALTH_ROUTE.search(f'.get("{path}"')
    ]
    return list(dict.fromkeys(declared)) or prefixes


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


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
    project: Path,
    dockerfile: Dockerfile | None,
    command: list[str],
    app_file: str | None,
    framework: str | None,
    serve_config: ServeConfig | None,
) -> tuple[int | None, str]:
    for index, word in enumerate(command):
        value = None
        if word in _PORT_FLAGS and index + 1 < len(command):
            value = command[index + 1]
        elif word.startswith(tuple(f"{flag}=" for flag in _PORT_FLAGS)):
            value = word.split("=", 1)[1]
        elif word in ("--bind", "-b") and index + 1 < len(command):
            value = command[index + 1].rpartition(":")[2]
        if value and value.isdigit():
            return int(value), f"the Dockerfile's CMD ({word} {value})"
    if serve_config is not None and serve_config.port is not None:
        return serve_config.port, f"{serve_config.file} (http_options.port)"
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
    if framework in DEFAULT_PORTS:
        label, port = DEFAULT_PORTS[framework]
        return port, f"{label}'s default port ({port})"
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


def _model_files(project: Path) -> tuple[list[str], list[str]]:
    """(model files, Git LFS pointers named like model files)."""
    found, pointers = [], []
    for root, dirs, files in os.walk(project):
        dirs[:] = sorted(d for d in dirs if d not in _SKIPPED_DIRS)
        for name in sorted(files):
            if name.lower().endswith(WEIGHT_SUFFIXES):
                path = Path(root) / name
                relative = path.relative_to(project).as_posix()
                (pointers if _is_lfs_pointer(path) else found).append(relative)
    return found, pointers


def _is_lfs_pointer(path: Path) -> bool:
    try:
        with path.open("rb") as file:
            return file.read(len(LFS_POINTER)) == LFS_POINTER
    except OSError:
        return False


def _model_dir(project: Path, pointers: list[str]) -> str | None:
    """The first usual model directory that does not hold only LFS pointers."""
    for name in MODEL_DIRS:
        directory = project / name
        if not directory.is_dir():
            continue
        inside = [p for p in directory.rglob("*") if p.is_file()]
        held = {p.relative_to(project).as_posix() for p in inside}
        if not inside or not held <= set(pointers):
            return name
    return None


def _python_files(project: Path) -> list[Path]:
    found = []
    for root, dirs, files in os.walk(project):
        dirs[:] = sorted(d for d in dirs if d not in _SKIPPED_DIRS and not d.startswith("."))
        found += [Path(root) / name for name in sorted(files) if name.endswith(".py")]
    return found


def _triton_configs(project: Path) -> tuple[list[str], list[str]]:
    """The model configurations of the project's Triton model repository, and the templates of
    configurations (`config.pbtxt.template`) a script makes them from."""
    found, templates = [], []
    for root, dirs, files in os.walk(project):
        dirs[:] = sorted(d for d in dirs if d not in _SKIPPED_DIRS)
        for name in sorted(files):
            if name == CONFIG_FILE or name.startswith(f"{CONFIG_FILE}."):
                path = (Path(root) / name).relative_to(project).as_posix()
                (found if name == CONFIG_FILE else templates).append(path)
    return found, templates
