"""`init` for a project that has its own Dockerfile and app (issue 14, item 1)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.scaffold.detect import detect, find_dockerfile
from pipeline.scaffold.templates import templates_root
from pipeline.smoke.samples import load_samples

ARTICLE = Path(__file__).resolve().parent / "data" / "article-app"


@pytest.fixture
def article(tmp_path: Path) -> Path:
    return shutil.copytree(ARTICLE, tmp_path / "sentiment")


def init(capsys: pytest.CaptureFixture[str], project: Path, *extra: str) -> tuple[int, str]:
    code = main(["init", "-C", str(project), *extra])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_init_keeps_the_app_and_writes_what_is_missing(article: Path, capsys) -> None:
    # Stumble 1: init wrote a template over the project's own app, and no pipeline.yaml,
    # VERSION or smoke/ samples.
    before = {p.name: p.read_bytes() for p in article.iterdir()}
    code = main(["init", "--json", "-C", str(article), "--image", "team/sentiment"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    result = json.loads(captured.out)
    assert result["written"] == [
        "pipeline.yaml",
        "VERSION",
        ".dockerignore",
        "smoke/predict.request.json",
        ".gitignore",
    ]
    assert {p.name: p.read_bytes() for p in article.iterdir() if p.name in before} == before
    config = (article / "pipeline.yaml").read_text()
    assert "image:\n  name: team/sentiment\n" in config
    assert "smoke:\n  port: 8000\n" in config
    assert "# smoke.port from the Dockerfile's CMD (--port 8000)" in config
    assert (article / "VERSION").read_text() == "0.1.0\n"
    template = templates_root() / "common" / ".dockerignore"
    assert (article / ".dockerignore").read_bytes() == template.read_bytes()
    (sample,) = load_samples(article / "smoke")
    assert sample.request.label() == "POST /predict"
    assert sample.request.query == {"text": "example"}
    assert result["samples"] == "written"


def test_a_second_init_keeps_the_users_files_unless_forced(article: Path, capsys) -> None:
    assert init(capsys, article)[0] == 0
    (article / "VERSION").write_text("2.0.0\n")
    code, err = init(capsys, article)
    assert code == 0
    assert "kept: pipeline.yaml, VERSION, .dockerignore, smoke/ (pass --force" in err
    assert (article / "VERSION").read_text() == "2.0.0\n"
    assert init(capsys, article, "--force")[0] == 0
    assert (article / "VERSION").read_text() == "0.1.0\n"


def test_version_follows_the_tags(article: Path, capsys) -> None:
    git = ["git", "-C", str(article)]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "initial"], check=True)
    subprocess.run([*git, "tag", "v0.3.0"], check=True)
    assert init(capsys, article)[0] == 0
    assert (article / "VERSION").read_text() == "0.3.0\n"


def test_an_app_that_cannot_start_here_gets_no_samples_and_a_reason(article: Path, capsys) -> None:
    app = article / "app.py"
    app.write_text("import transformers_not_installed_here\n" + app.read_text())
    code, err = init(capsys, article)
    assert code == 0
    assert "smoke: no samples written: could not start app:app locally" in err
    assert (
        "No module named 'transformers_not_installed_here'; install the app's requirements" in err
    )
    assert not (article / "smoke").exists()


def test_no_dockerfile_and_no_template_is_one_clear_error(tmp_path: Path, capsys) -> None:
    code, err = init(capsys, tmp_path)
    assert code == 1
    assert err.strip().splitlines() == [
        f"error: {tmp_path}: no Dockerfile (nor one file named dockerfile, Dockerfile.*,"
        " *.Dockerfile, nor project.dockerfile); run init where the project's Dockerfile is, set"
        " project.dockerfile (--set project.dockerfile=PATH), or pass --template"
        " cpu|pytorch-gpu|pytorch-pypi|tensorflow-gpu|cuda|llm to write one"
    ]


def test_a_bad_image_name_fails_before_anything_is_written(article: Path, capsys) -> None:
    code, err = init(capsys, article, "--image", "Team/Sentiment")
    assert code == 1 and "image.name" in err and "Traceback" not in err
    assert not (article / "pipeline.yaml").exists()


def test_the_template_also_gets_pipeline_yaml_and_version(tmp_path: Path, capsys) -> None:
    assert init(capsys, tmp_path, "--template", "cpu")[0] == 0
    assert (tmp_path / "pipeline.yaml").is_file()
    assert (tmp_path / "VERSION").read_text() == "0.1.0\n"


@pytest.mark.parametrize(
    ("dockerfile", "source", "port"),
    [
        ('FROM python:3.11-slim\nEXPOSE 7860/tcp\nCMD ["python", "app.py"]\n', "", 7860),
        (
            'FROM python:3.11-slim\nCMD ["gunicorn", "-b", "0.0.0.0:5001", "app:app"]\n',
            "",
            5001,
        ),
        (
            'FROM python:3.11-slim\nCMD ["python", "app.py"]\n',
            "import uvicorn\nuvicorn.run(app, host='0.0.0.0', port=9000)\n",
            9000,
        ),
        ("FROM python:3.11-slim\nCMD uvicorn app:app --port=8001\n", "", 8001),
        # The CMD's port is the one the app listens on, whatever EXPOSE says.
        (
            'FROM python:3.11-slim\nEXPOSE 8000\nCMD ["flask", "run", "-p", "5002"]\n',
            "",
            5002,
        ),
    ],
)
def test_the_port_is_found_in_the_cmd_expose_or_the_app(
    tmp_path: Path, dockerfile: str, source: str, port: int
) -> None:
    (tmp_path / "Dockerfile").write_text(dockerfile)
    (tmp_path / "app.py").write_text("from fastapi import FastAPI\napp = FastAPI()\n" + source)
    found = detect(tmp_path)
    assert found.port == port
    assert found.app == "app:app"


def test_model_files_are_found(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM python:3.11-slim\n")
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "model.safetensors").write_bytes(b"x")
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv" / "other.pt").write_bytes(b"x")
    found = detect(tmp_path)
    assert found.model_files == ["weights/model.safetensors"]
    assert found.model_dir == "weights"


# --- issue 25: init reads its configuration like every command -------------------------------


def test_init_with_a_missing_config_file_fails_before_writing(article: Path, capsys) -> None:
    code, err = init(capsys, article, "-c", str(article / "nonexistent.yaml"))
    assert code == 1
    assert f"error: {article / 'nonexistent.yaml'}: no such configuration file" in err
    assert not (article / "pipeline.yaml").exists() and not (article / "VERSION").exists()


def test_init_honours_set_and_the_environment(
    article: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIPELINE_SMOKE_SAMPLES_DIR", "samples")
    code, _ = init(capsys, article, "--set", "version.file=RELEASE")
    assert code == 0
    assert (article / "RELEASE").read_text() == "0.1.0\n"
    assert not (article / "VERSION").exists()
    assert (article / "samples" / "predict.request.json").is_file()
    monkeypatch.setenv("PIPELINE_IMAGE_NAME", "Team/Sentiment")
    code, err = init(capsys, article, "--force")
    assert code == 1 and "env PIPELINE_IMAGE_NAME: image.name" in err


def test_init_writes_the_config_file_that_c_names(article: Path, capsys) -> None:
    config = article / "ci" / "pipeline.yaml"
    config.parent.mkdir()
    config.write_text("version:\n  file: RELEASE\n")
    code, err = init(capsys, article, "-c", str(config), "--image", "team/sentiment")
    assert code == 0
    assert (article / "RELEASE").is_file() and not (article / "pipeline.yaml").exists()
    assert config.read_text() == "version:\n  file: RELEASE\n"  # kept, and said so
    assert f"not applied: --image, since {config} was kept; pass --force" in err


def test_a_second_init_says_it_dropped_image_and_registry_unless_forced(
    article: Path, capsys
) -> None:
    assert init(capsys, article)[0] == 0
    code, err = init(capsys, article, "--image", "team/sentiment", "--registry", "ghcr.io/team")
    assert code == 0
    assert (
        "not applied: --image and --registry, since pipeline.yaml was kept; pass --force to "
        "rewrite it, or set image.name / registry.url in it"
    ) in err
    assert "team/sentiment" not in (article / "pipeline.yaml").read_text()
    code, err = init(capsys, article, "--image", "team/sentiment", "--force")
    assert code == 0 and "not applied" not in err
    assert "image:\n  name: team/sentiment\n" in (article / "pipeline.yaml").read_text()


def test_init_without_uvicorn_says_how_to_install_it(
    article: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A plain `pip install` of pipeline: the Python running it has no uvicorn.
    bare = shutil.which("python3", path="/usr/bin")
    if (
        bare is None
        or subprocess.run([bare, "-c", "import uvicorn"], capture_output=True).returncode == 0
    ):
        pytest.skip("needs a Python without uvicorn")
    monkeypatch.setattr("sys.executable", bare)
    code, err = init(capsys, article)
    assert code == 0
    assert (
        "smoke: no samples written: could not start app:app locally to read its OpenAPI "
        f"schema: {bare}: No module named uvicorn; install uvicorn where pipeline runs "
        f"({bare} -m pip install uvicorn) and run init again, or write the samples by hand"
    ) in err


# Real serving projects (issue 26, item 5): the app the image runs, its framework, health routes


def project(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


@pytest.mark.parametrize(
    ("names", "found"),
    [
        (["Dockerfile.cpu"], "Dockerfile.cpu"),
        (["serve.Dockerfile"], "serve.Dockerfile"),
        (["dockerfile"], "dockerfile"),
        (["Dockerfile.cpu", "Dockerfile.gpu"], None),  # which one is init's to guess? neither
    ],
)
def test_the_dockerfile_is_found_by_its_usual_names(
    tmp_path: Path, names: list[str], found: str | None
) -> None:
    project(tmp_path, dict.fromkeys(names, "FROM python:3.11-slim\n"))
    assert find_dockerfile(tmp_path) == found
    assert detect(tmp_path).dockerfile == found


FASTAPI = "from fastapi import FastAPI\napp = FastAPI()\n"
FLASK = "from flask import Flask\napp = Flask(__name__)\n"


@pytest.mark.parametrize(
    ("cmd", "files", "framework", "app_file", "health"),
    [
        ('["gunicorn", "-b", "0.0.0.0:5000", "web:app"]', {"web.py": FLASK}, "flask", "web.py",
         None),
        ('["python", "/app/server.py", "--port", "8080"]', {"server.py": "import litserve as ls\n"
         "ls.LitServer(api)\n"}, "litserve", "server.py", "/health"),  # after COPY . /app
        ('["python", "app.py"]', {"app.py": "import gradio as gr\ngr.Interface(fn=f).launch()\n"},
         "gradio", "app.py", "/"),
        ('["serve", "run", "deploy:app"]', {"deploy.py": "from ray import serve\n"
         "@serve.deployment\nclass M: ...\napp = M.bind()\n"}, "ray-serve", "deploy.py",
         "/-/healthz"),
        ('["bentoml", "serve", "service:Summarizer"]', {"service.py": "import bentoml\n"
         "@bentoml.service\nclass Summarizer: ...\n"}, "bentoml", "service.py", "/readyz"),
        ('["tritonserver", "--model-repository=/models"]', {"models/m/1/model.py":
         "class TritonPythonModel:\n    pass\n"}, "triton", "models/m/1/model.py",
         "/v2/health/ready"),
        # the module the CMD runs, not another file that imports FastAPI
        ('["python", "-m", "api.main"]', {"api/__init__.py": "", "api/main.py": FASTAPI,
         "tools/debug_app.py": FASTAPI}, "fastapi", "api/main.py", None),
        # `python -m flask`: the module is the server, `--app` names the app (a real Dockerfile)
        ('["python3", "-m" , "flask", "--app", "api", "run", "--host=0.0.0.0"]', {"api.py": FLASK
         + '@app.route("/ping")\ndef ping(): ...\n'}, "flask", "api.py", "/ping"),
    ],
)  # fmt: skip
def test_the_app_is_the_one_the_image_runs_with_its_framework(
    tmp_path: Path, cmd: str, files: dict[str, str], framework: str, app_file: str, health: str
) -> None:
    project(tmp_path, {"Dockerfile": f"FROM python:3.11-slim\nCMD {cmd}\n", **files})
    found = detect(tmp_path)
    assert (found.framework, found.app_file) == (framework, app_file)
    # The route smoke polls: the framework's own, or the app's; none is said with what to add
    assert found.health == health
    assert (health is None) is any("smoke waits for a GET route" in n for n in found.notes)


def test_flask_serves_on_5000_unless_told(tmp_path: Path) -> None:
    project(tmp_path, {"Dockerfile": 'FROM python:3.11-slim\nCMD ["flask", "run"]\n',
                       "app.py": FLASK})  # fmt: skip
    found = detect(tmp_path)
    assert found.port == 5000
    # The development server as PID 1 ignores SIGTERM: said, with the server that does not
    assert any(
        "Flask's development server as its main process (PID 1), which ignores SIGTERM" in note
        and '["gunicorn", "-b", "0.0.0.0:5000", "app:app"]' in note
        for note in found.notes
    )
    (tmp_path / "Dockerfile").write_text('FROM python:3.11-slim\nCMD ["gunicorn", "app:app"]\n')
    assert not any("SIGTERM" in note for note in detect(tmp_path).notes)


def test_a_flask_app_under_uvicorn_is_said(tmp_path: Path) -> None:
    project(tmp_path, {"Dockerfile": 'FROM python:3.11-slim\nCMD ["uvicorn", "app:app"]\n',
                       "app.py": FLASK})  # fmt: skip
    found = detect(tmp_path)
    assert found.framework == "flask"
    assert any("Flask (WSGI) app app.py under uvicorn" in note for note in found.notes)


def test_health_routes_map_to_what_smoke_needs(tmp_path: Path, capsys) -> None:
    app = FASTAPI + '@app.get("/live")\ndef live(): ...\n@app.get("/ready")\ndef ready(): ...\n'
    project(tmp_path, {"Dockerfile": 'FROM python:3.11-slim\nCMD ["python", "app.py"]\n',
                       "app.py": app})  # fmt: skip
    found = detect(tmp_path)
    assert found.health_routes == ["/live", "/ready"]
    assert (found.health, found.notes) == ("/ready", [])  # readiness: the model is loaded
    assert init(capsys, tmp_path)[0] == 0
    config = (tmp_path / "pipeline.yaml").read_text()
    assert "# smoke.health: the app's own /ready\n" in config
    assert "  health: /ready\n" in config
    (tmp_path / "app.py").write_text(app + '@app.get("/health")\ndef health(): ...\n')
    assert detect(tmp_path).health == "/health"


def test_a_non_fastapi_app_gets_a_reason_for_no_samples(tmp_path: Path, capsys) -> None:
    project(tmp_path, {"Dockerfile": 'FROM python:3.11-slim\nCMD ["python", "app.py"]\n',
                       "app.py": "import gradio as gr\ngr.Interface(fn=f).launch()\n"})  # fmt: skip
    code, err = init(capsys, tmp_path)
    assert code == 0
    assert (
        "smoke: no samples written: app.py is a gradio app; init reads a schema only from a"
        " FastAPI app's /openapi.json" in err
    )
    assert "  health: /\n" in (tmp_path / "pipeline.yaml").read_text()  # gradio's page


def test_lint_errors_that_would_stop_the_release_are_a_to_do(tmp_path: Path, capsys) -> None:
    dockerfile = 'FROM python:3.11-slim\nRUN pip install gradio\nCMD ["python", "app.py"]\n'
    project(tmp_path, {"Dockerfile": dockerfile, "app.py": "import gradio as gr\n"})
    code, err = init(capsys, tmp_path)
    assert code == 0
    assert (
        "to do: lint fails on 1 finding(s) at or above error (lint.fail_on), which stop the"
        " release: Dockerfile:2 ML004 pip install without --no-cache-dir; `python -m pipeline"
        " lint` gives the fix of each" in err
    )


def test_lfs_pointers_are_never_the_model(tmp_path: Path) -> None:
    pointer = "version https://git-lfs.github.com/spec/v1\noid sha256:" + "0" * 64 + "\nsize 9\n"
    project(tmp_path, {"Dockerfile": "FROM python:3.11-slim\n", "model/model.safetensors": pointer,
                       "weights/clf.skops": "PK", "weights/net.engine": "x"})  # fmt: skip
    found = detect(tmp_path)
    assert found.model_files == ["weights/clf.skops", "weights/net.engine"]
    assert found.model_dir == "weights"
    assert any("Git LFS pointers, not weights (model/model.safetensors)" in n for n in found.notes)


RAY_APP = "from ray import serve\n@serve.deployment\nclass M: ...\napp = M.bind()\n"


@pytest.mark.parametrize(
    ("dockerfile", "app", "said"),
    [
        ('CMD ["serve", "run", "deploy:app"]', RAY_APP, True),
        ('ENV RAY_SERVE_DEFAULT_HTTP_HOST=0.0.0.0\nCMD ["serve", "run", "deploy:app"]', RAY_APP,
         False),
        ('ENV RAY_SERVE_DEFAULT_HTTP_HOST=127.0.0.1\nCMD ["serve", "run", "deploy:app"]', RAY_APP,
         True),
        ('CMD ["python", "deploy.py"]', RAY_APP + 'serve.start(http_options={"host": "0.0.0.0"})'
         "\nserve.run(app)\n", False),
    ],
)  # fmt: skip
def test_ray_serve_on_loopback_is_said(
    tmp_path: Path, dockerfile: str, app: str, said: bool
) -> None:
    project(tmp_path, {"Dockerfile": f"FROM python:3.11-slim\n{dockerfile}\n", "deploy.py": app})
    found = detect(tmp_path)
    assert (found.framework, found.port, found.health) == ("ray-serve", 8000, "/-/healthz")
    assert found.port_source == "Ray Serve's default port (8000)"
    assert any("ENV RAY_SERVE_DEFAULT_HTTP_HOST=0.0.0.0" in note for note in found.notes) is said
    # `serve run` aborts on SIGTERM; a script of the user's may stop Serve itself
    aborts = any(
        "`serve run` as the image's main process aborts on SIGTERM" in n for n in found.notes
    )
    assert aborts is ("serve run" in dockerfile.replace('", "', " "))


@pytest.mark.parametrize(
    ("cmd", "port"),
    [
        ('["tritonserver", "--model-repository=/models"]', 8000),
        ('["tritonserver", "--model-repository", "/models", "--http-port", "9000"]', 9000),
        ('["tritonserver", "--http-port=9001", "--model-repository=/models"]', 9001),
    ],
)
def test_triton_serves_http_on_8000_unless_told(tmp_path: Path, cmd: str, port: int) -> None:
    project(tmp_path, {"Dockerfile": f"FROM nvcr.io/nvidia/tritonserver:24.08-py3\nCMD {cmd}\n",
                       "models/m/1/model.py": "class TritonPythonModel: ...\n"})  # fmt: skip
    assert detect(tmp_path).port == port


TRITON_CONFIGS = {
    # batched: a batch of one in front of the dims
    "models/iris/config.pbtxt": 'name: "iris"  # the model\nbackend: "python"\nmax_batch_size: 8\n'
    'input [ { name: "FEATURES", data_type: TYPE_FP32, dims: [ 4 ] } ]\n'
    'output [ { name: "SPECIES" data_type: TYPE_INT32 dims: [ 1 ] } ]\n',
    # not batched, a variable dim, a string, an optional input left out, no name: the directory's
    "models/echo/config.pbtxt": 'backend: "python"\ninput [\n  { name: "TEXT" data_type: '
    'TYPE_STRING dims: [ -1 ] },\n  { name: "N" data_type: TYPE_INT64 dims: [ 2, 3 ] },\n  '
    '{ name: "SEED" data_type: TYPE_INT64 dims: [ 1 ] optional: true }\n]\n'
    'parameters { key: "note" value: { string_value: "a \\"quoted\\" {brace}" } }\n',
    "models/broken/config.pbtxt": 'input [ { name: "X" dims: [ 1 ] } ]\n',
}


def test_a_triton_repository_gets_a_v2_infer_sample_per_model(tmp_path: Path, capsys) -> None:
    dockerfile = "FROM nvcr.io/nvidia/tritonserver:24.08-py3\nCOPY models /models\nCMD "
    project(tmp_path, {"Dockerfile": dockerfile + '["tritonserver", "--model-repository=/models"]',
                       "models/iris/1/model.py": "class TritonPythonModel: ...\n",
                       **TRITON_CONFIGS})  # fmt: skip
    code, said = init(capsys, tmp_path)
    assert code == 0, said
    assert "smoke: no samples written" not in said
    # the one it cannot read is said, with why
    assert (
        "smoke: left out models/broken/config.pbtxt: input 'X' has no data_type (no sample"
        " written for it: write one by hand)" in said
    )
    assert "  health: /v2/health/ready\n" in (tmp_path / "pipeline.yaml").read_text()
    samples = {s.name: s.request for s in load_samples(tmp_path / "smoke")}
    assert {name: request.label() for name, request in samples.items()} == {
        "echo": "POST /v2/models/echo/infer",
        "iris": "POST /v2/models/iris/infer",
    }
    assert samples["iris"].json == {
        "inputs": [{"name": "FEATURES", "datatype": "FP32", "shape": [1, 4], "data": [1.0] * 4}]
    }
    assert samples["echo"].json == {
        "inputs": [
            {"name": "TEXT", "datatype": "BYTES", "shape": [1], "data": ["example"]},
            {"name": "N", "datatype": "INT64", "shape": [2, 3], "data": [1] * 6},
        ]
    }


def test_a_triton_repository_without_configs_gets_a_reason(tmp_path: Path, capsys) -> None:
    project(tmp_path, {"Dockerfile": 'FROM nvcr.io/nvidia/tritonserver:24.08-py3\n'
                       'CMD ["tritonserver", "--model-repository=/models"]\n',
                       "models/m/1/model.py": "class TritonPythonModel: ...\n"})  # fmt: skip
    code, said = init(capsys, tmp_path)
    assert code == 0
    assert (
        "smoke: no samples written: no Triton model configuration to build a v2 infer request"
        " from (the project has no config.pbtxt): write smoke/*.request.json by hand" in said
    )
    # configs a script makes from templates (a real repository's way): the image gets none
    project(tmp_path, {"models/m/config.pbtxt.template": 'backend: "python"\n'})
    code, said = init(capsys, tmp_path, "--force")
    assert (
        "to do: the model repository has models/m/config.pbtxt.template but no config.pbtxt" in said
    )


# Ray Serve config files, shell commands, BentoML services and KServe (issue 26, item 5: what
# real projects have, in minimal files of our own)

SERVE_CONFIG = """\
proxy_location: EveryNode
http_options:
  host: 0.0.0.0
  port: 8100
applications:
  - name: iris
    route_prefix: /iris
    import_path: iris:app
    args: {model_path: model/centroids.json}
  - name: text
    route_prefix: /text
    import_path: text.app
  - name: worker  # reached only through the others
    route_prefix: null
    import_path: worker:app
"""


def test_a_serve_config_names_the_app_its_port_host_and_routes(tmp_path: Path) -> None:
    cmd = 'CMD ["serve", "run", "serve_config.yaml"]'
    project(tmp_path, {"Dockerfile": f"FROM python:3.11-slim\n{cmd}\n",
                       "serve_config.yaml": SERVE_CONFIG, "iris.py": RAY_APP, "text.py": RAY_APP,
                       "worker.py": RAY_APP})  # fmt: skip
    found = detect(tmp_path)
    assert (found.framework, found.app, found.app_file) == ("ray-serve", "iris:app", "iris.py")
    assert (found.port, found.port_source) == (8100, "serve_config.yaml (http_options.port)")
    assert (found.serve_config, found.app_routes) == ("serve_config.yaml", ["/iris", "/text"])
    assert not any("RAY_SERVE_DEFAULT_HTTP_HOST" in note for note in found.notes)
    assert any("`serve run` as the image's main process aborts" in n for n in found.notes)


def test_a_serve_config_on_loopback_or_unreadable_is_said(tmp_path: Path) -> None:
    config = "applications:\n  - import_path: deploy:app\n"  # no http_options: 127.0.0.1:8000
    project(tmp_path, {"Dockerfile": 'FROM python:3.11-slim\nCMD serve run config/serve.yaml\n',
                       "config/serve.yaml": config, "deploy.py": RAY_APP})  # fmt: skip
    found = detect(tmp_path)
    assert (found.app, found.port, found.app_routes) == ("deploy:app", 8000, ["/"])
    assert any(
        "RAY_SERVE_DEFAULT_HTTP_HOST=0.0.0.0` to the Dockerfile (or `host: 0.0.0.0` to"
        " config/serve.yaml's http_options)" in note
        for note in found.notes
    )
    project(tmp_path, {"config/serve.yaml": "applications:\n  - name: x\n"})
    assert any(
        "config/serve.yaml: applications[0] has no import_path: init reads the app from it" in n
        for n in detect(tmp_path).notes
    )


def test_a_ray_serve_ingress_routes_are_named_behind_the_prefix(tmp_path: Path, capsys) -> None:
    ingress = (
        "from fastapi import FastAPI\nfrom ray import serve\napp = FastAPI()\n"
        '@serve.deployment\n@serve.ingress(app)\nclass M:\n    @app.post("/predict")\n'
        '    def predict(self): ...\n    @app.get("/ready")\n    def ready(self): ...\n'
        "app = M.bind()\n"
    )
    config = "applications:\n  - route_prefix: /iris\n    import_path: iris:app\n"
    # a KubeRay manifest embeds the same config as text: not a second Serve config
    manifest = "kind: RayService\nspec:\n  serveConfigV2: |\n    applications:\n" + (
        "      - import_path: iris:app\n"
    )
    project(tmp_path, {"Dockerfile": "FROM python:3.11-slim\nEXPOSE 8000\n",
                       "serve_config.yaml": config, "iris.py": ingress,
                       "k8s/ray-service.yaml": manifest})  # fmt: skip
    code, said = init(capsys, tmp_path)
    assert code == 0
    # No CMD: the project's one Serve config names the app, and the CMD is the user's to add
    assert "to do: no CMD or ENTRYPOINT runs the app: add one that starts Serve with" in said
    assert (
        "smoke: no samples written: iris.py is a ray-serve app (its routes: POST /iris/predict)"
        in (said)
    )
    # the app's own readiness route, behind the prefix, over Serve's proxy health
    assert "  health: /iris/ready\n" in (tmp_path / "pipeline.yaml").read_text()


START = """\
#!/bin/bash
ray start --head --dashboard-host=0.0.0.0
until ray status >/dev/null 2>&1; do
  sleep 2  # echo "serve run x.yaml" is not a command
done
serve run serve_config.yaml &
tail -f /dev/null
"""


@pytest.mark.parametrize(
    ("cmd", "files", "app", "background"),
    [
        # the shell form runs under /bin/sh -c: its last command that serves
        ("ray start --head && serve run serve_config.yaml", {}, "iris:app", False),
        ('["sh", "-c", "ray start --head; exec serve run serve_config.yaml"]', {}, "iris:app",
         False),
        # a script of the project's, with the server in the background
        ('["./scripts/start.sh"]', {"scripts/start.sh": START}, "iris:app", True),
        ('["bash", "/app/scripts/start.sh"]', {"scripts/start.sh": START}, "iris:app", True),
        # an entrypoint script that execs the CMD
        ('["/entrypoint.sh", "uvicorn", "api:app", "--port", "9000"]', {"entrypoint.sh":
         '#!/bin/sh\nset -e\npython fetch_weights.py\nexec "$@"\n', "api.py": FASTAPI},
         "api:app", False),
        # nothing in it serves: said with the command as the shell runs it
        ("./run && echo done", {}, None, False),
    ],
)  # fmt: skip
def test_the_server_is_found_in_a_shell_command_or_script(
    tmp_path: Path, cmd: str, files: dict[str, str], app: str, background: bool
) -> None:
    project(tmp_path, {"Dockerfile": f"FROM python:3.11-slim\nCMD {cmd}\n",
                       "serve_config.yaml": SERVE_CONFIG, "iris.py": RAY_APP, **files})  # fmt: skip
    found = detect(tmp_path)
    assert found.app == app
    assert any(
        "the image runs `./run && echo done`, which names no app" in n for n in found.notes
    ) is (app is None)
    said = [n for n in found.notes if "in the background (&)" in n]
    assert bool(said) is background
    if background:
        assert said[0].startswith(
            "scripts/start.sh starts `serve run serve_config.yaml` in the background (&)"
        )


BENTO_APP = (
    "import bentoml\n@bentoml.service\nclass Svc:\n    @bentoml.api\n"
    "    def f(self, x: str) -> str: ...\n"
)


@pytest.mark.parametrize(
    ("cmd", "files", "app", "app_file", "note"),
    [
        ('["bentoml", "serve", "src/service.py:Svc", "--port=3001"]', {"src/service.py": BENTO_APP},
         "src.service:Svc", "src/service.py", None),
        ('["uv", "run", "bentoml", "serve", "svc.service:Svc"]', {"svc/__init__.py": "",
         "svc/service.py": BENTO_APP}, "svc.service:Svc", "svc/service.py", None),
        # bentofile.yaml names the service, for `bentoml serve` and a built Bento alike
        ('["bentoml", "serve"]', {"bentofile.yaml": 'service: "service:Svc"\n', "service.py":
         BENTO_APP}, "service:Svc", "service.py", None),
        ('["bentoml", "serve", "iris_classifier:latest"]', {"bentofile.yaml":
         "service: 'service.py:Svc'\n", "service.py": BENTO_APP}, "service:Svc", "service.py",
         "the image serves the Bento iris_classifier:latest from BentoML's store"),
        # a Bento, and nothing that says where its source is: still BentoML, never Ray Serve
        ('["bentoml", "serve", "iris_classifier:latest"]', {}, None, None,
         "`bentoml serve iris_classifier:latest` names no service file init can read"),
    ],
)  # fmt: skip
def test_bentoml_serve_targets(
    tmp_path: Path, cmd: str, files: dict[str, str], app: str, app_file: str, note: str | None
) -> None:
    project(tmp_path, {"Dockerfile": f"FROM python:3.11-slim\nCMD {cmd}\n", **files})
    found = detect(tmp_path)
    assert (found.framework, found.app, found.app_file) == ("bentoml", app, app_file)
    assert (found.port, found.health) == (3001 if "3001" in cmd else 3000, "/readyz")
    assert any(note in n for n in found.notes) if note else not found.notes


BENTO_SERVICE = """\
from typing import Annotated, Literal, Optional

import bentoml
import numpy as np
from annotated_types import MinLen
from PIL.Image import Image
from pydantic import BaseModel, Field

Texts = Annotated[list[str], MinLen(1)]


class Query(BaseModel):
    text: str


@bentoml.service(resources={"cpu": "1"})
class Classifier:
    @bentoml.api
    def classify(self, text: str, top_k: int = 3, ctx: bentoml.Context = None) -> dict:
        ...

    @bentoml.api(route="/v1/embed", batchable=True)
    async def embed(self, texts: Texts, normalize: bool = compute()) -> np.ndarray:
        ...

    @bentoml.api
    def rerank(
        self,
        documents: list[str] = Field(description="the documents"),
        query: Optional[str] = Field(default="hello"),
        mode: Literal["fast", "exact"] = Field(...),
        weights: "dict[str, float] | None" = None,
    ) -> list[float]:
        ...

    @bentoml.api
    def caption(self, image: Image) -> str:
        ...

    @bentoml.api(input_spec=Query)
    def ask(self, **params) -> str:
        ...

    def helper(self, matrix: np.ndarray) -> None:  # not an API
        ...
"""


def test_a_bentoml_service_gets_a_sample_per_json_typed_api(tmp_path: Path, capsys) -> None:
    project(tmp_path, {"Dockerfile": 'FROM python:3.11-slim\nCMD ["bentoml", "serve", '
                       '"service:Classifier"]\n', "service.py": BENTO_SERVICE})  # fmt: skip
    code, said = init(capsys, tmp_path)
    assert code == 0, said
    assert "smoke: no samples written" not in said
    assert (
        "smoke: left out POST /caption (parameter image is Image, not JSON: write its sample by"
        " hand)" in said
    )
    assert "smoke: left out POST /ask (its body is the input_spec model's: write its" in said
    samples = {s.name: s.request for s in load_samples(tmp_path / "smoke")}
    assert {name: (r.label(), r.json) for name, r in samples.items()} == {
        "classify": ("POST /classify", {"text": "example", "top_k": 3}),
        "embed": ("POST /v1/embed", {"texts": ["example"]}),
        "rerank": (
            "POST /rerank",
            {"documents": ["example"], "query": "hello", "mode": "fast", "weights": None},
        ),
    }
    config = (tmp_path / "pipeline.yaml").read_text()
    assert "  port: 3000\n" in config and "  health: /readyz\n" in config


@pytest.mark.parametrize(
    ("source", "why"),
    [
        ("import bentoml\nsvc = bentoml.Service('iris', runners=[r])\n"
         "@svc.api(input=JSON(), output=JSON())\ndef classify(data): ...\n",
         "a BentoML 1.0 service (bentoml.Service with IO descriptors, POST /classify), whose"
         " bodies are its descriptors'"),
        ("import bentoml\n@bentoml.service\nclass Classifier:\n    pass\n",
         "Classifier has no @bentoml.api method"),
        ("import bentoml\n@bentoml.service\nclass Other:\n    pass\n",
         "no @bentoml.service class Classifier"),
    ],
)  # fmt: skip
def test_a_bentoml_service_without_samples_says_why(
    tmp_path: Path, capsys, source: str, why: str
) -> None:
    project(tmp_path, {"Dockerfile": 'FROM python:3.11-slim\nCMD ["bentoml", "serve", '
                       '"service:Classifier"]\n', "service.py": source})  # fmt: skip
    code, said = init(capsys, tmp_path)
    assert code == 0
    assert f"smoke: no samples written: service.py: {why}: write smoke/*.request.json by hand" in (
        said
    )


def test_init_reads_the_dockerfile_project_dockerfile_names(tmp_path: Path, capsys) -> None:
    project(tmp_path, {"dockerfiles/bento.dockerfile": 'FROM python:3.11-slim\nCMD ["bentoml",'
                       ' "serve", "service:Svc"]\n', "service.py": BENTO_APP})  # fmt: skip
    code, said = init(capsys, tmp_path, "--set", "project.dockerfile=dockerfiles/bento.dockerfile")
    assert code == 0, said
    assert "detected: dockerfiles/bento.dockerfile; bentoml service:Svc (service.py)" in said
    assert (
        "  dockerfile: dockerfiles/bento.dockerfile\n" in (tmp_path / "pipeline.yaml").read_text()
    )


def test_a_kserve_model_server_is_found(tmp_path: Path) -> None:
    model = (
        "import kserve\nclass Iris(kserve.Model):\n    def predict(self, payload, headers=None):"
        " ...\nif __name__ == '__main__':\n"
        "    kserve.ModelServer(workers=1).start([Iris('iris')])\n"
    )
    project(tmp_path, {"Dockerfile": 'FROM python:3.11-slim\nENTRYPOINT ["python", "-m", "iris"]\n',
                       "iris/__main__.py": model, "iris/__init__.py": ""})  # fmt: skip
    found = detect(tmp_path)
    assert (found.framework, found.port, found.health) == ("kserve", 8080, "/v2/health/ready")
