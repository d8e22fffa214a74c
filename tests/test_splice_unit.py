"""The splice without an engine: which `COPY --link --from` a build may splice (read from the
Dockerfile), what its proof holds apart, and the patch taking a stage's layer in place of the
prior image's one, against the in-process registry. The stage build itself, and the image
equal to a full build, are in tests/test_splice_build.py."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from pipeline.distribution.client import RegistryAPI
from pipeline.distribution.mediatypes import DOCKER_MANIFEST
from pipeline.imagebuild.fingerprint import BuildProof, ProofInputs, prove
from pipeline.imagebuild.labels import CREATED_LABEL
from pipeline.imagebuild.patch import PatchRequest, patch
from pipeline.imagebuild.patchable import SpliceSpec, Unpatchable, read_plan
from pipeline.imagebuild.steps import Step
from pipeline.oci.image import Image
from pipeline.oci.layer import Layer
from pipeline.project.buildcontext import read_context
from tests.support.patching import push_as_built
from tests.support.registry import TestRegistry

REPO_ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = sorted((REPO_ROOT / "dockerfiles").glob("*/Dockerfile"))
EXAMPLES = sorted((REPO_ROOT / "examples").glob("*/Dockerfile"))
SPLICED = "COPY /opt/app-deps /opt/app-deps # buildkit"

# The templates' shape, cut down: a heavy half, the app half in a stage of its own.
DOCKERFILE = """\
FROM python:3.11-slim AS builder
COPY requirements-base.txt /tmp/
RUN pip install -r /tmp/requirements-base.txt
FROM python:3.11-slim AS app-install
COPY requirements-app.txt /tmp/
RUN pip install --target /opt/app-deps -r /tmp/requirements-app.txt
FROM python:3.11-slim
COPY --link --from=builder /opt/venv /opt/venv
COPY --link --from=app-install /opt/app-deps /opt/app-deps
COPY --link serve/ /app/serve/
"""
PRIOR_TIME = "2026-01-01T00:00:00Z"
NEW_TIME = "2026-02-01T00:00:00Z"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "serve").mkdir()
    (tmp_path / "serve" / "app.py").write_text("print(1)\n")
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    (tmp_path / "requirements-base.txt").write_text("numpy==2.4.6\n")
    (tmp_path / "requirements-app.txt").write_text("fastapi==0.165.0\n")
    return tmp_path


def splices(project: Path, dockerfile: str | None = None) -> list[SpliceSpec]:
    if dockerfile is not None:
        (project / "Dockerfile").write_text(dockerfile)
    return list(read_plan(project / "Dockerfile", None, {}).splices)


@pytest.mark.parametrize("dockerfile", [*TEMPLATES, *EXAMPLES], ids=lambda p: p.parent.name)
def test_the_templates_install_the_app_half_in_a_stage_of_its_own(dockerfile: Path) -> None:
    plan = read_plan(dockerfile, None, {})
    if dockerfile.parent.name in ("cuda", "llm"):
        # Their app and builder stages start from python-base, which the image is built on too.
        assert plan.splices == ()
        assert "requirements-base.txt" in plan.read_elsewhere
        return
    *venv, app = plan.splices
    assert (app.stage, app.reads, app.created_by) == (
        "app-install",
        ("requirements-app.txt",),
        SPLICED,
    )
    assert "requirements-app.txt" not in plan.read_elsewhere
    if dockerfile.parent.name in ("pytorch-pypi", "sentiment"):
        # The base install is in the image's own lineage.
        assert venv == [] and "requirements-base.txt" in plan.read_elsewhere
    else:
        # A builder on the base image is spliced too: a base change rebuilds the venv alone.
        assert [(s.stage, s.source, s.reads) for s in venv] == [
            ("builder", "/opt/venv", ("requirements-base.txt",))
        ]
        assert "requirements-base.txt" not in plan.read_elsewhere


def test_the_app_stage_is_spliced_and_its_inputs_proven_apart(project: Path) -> None:
    venv, splice = splices(project)
    assert (splice.line, splice.stage, splice.source) == (9, "app-install", "/opt/app-deps")
    assert (venv.line, venv.stage, venv.source) == (8, "builder", "/opt/venv")

    before = _proof(project)
    (project / "requirements-app.txt").write_text("fastapi==0.165.0\nitsdangerous==2.2.0\n")
    after_app = _proof(project)
    assert after_app.parts == before.parts and after_app.copies == before.copies
    assert after_app.splices[9] != before.splices[9]

    (project / "requirements-base.txt").write_text("numpy==2.4.5\n")
    after_base = _proof(project)
    assert after_base.parts == after_app.parts
    assert after_base.splices[8] != after_app.splices[8]
    assert after_base.splices[9] == after_app.splices[9]


def test_a_users_own_copy_from_a_stage_is_spliced(project: Path) -> None:
    """No scratch stage needed: any trailing `COPY --link --from=STAGE P P` whose stage serves
    it alone, here a Poetry export installed under a prefix."""
    (project / "pyproject.toml").write_text("[tool.poetry]\n")
    (project / "poetry.lock").write_text("")
    (splice,) = splices(
        project,
        """\
FROM python:3.12-slim AS deps
WORKDIR /build
COPY pyproject.toml poetry.lock ./
RUN pip install poetry && poetry export -o req.txt && pip install --prefix /install -r req.txt
FROM python:3.12-slim
COPY --link --from=deps /install /install
COPY --link src/ /app/src/
CMD ["python", "-m", "app"]
""",
    )
    assert (splice.line, splice.stage, splice.source, splice.destination) == (
        6,
        "deps",
        "/install",
        "/install",
    )
    assert splice.reads == ("pyproject.toml", "poetry.lock")


@pytest.mark.parametrize(
    ("edit", "why"),
    [
        (("COPY --link --from=app-install", "COPY --from=app-install"), "no --link"),
        (
            ("COPY --link serve/", "COPY --link --from=app-install /tmp /tmp\nCOPY --link serve/"),
            "the image takes more from its stage",
        ),
        (("COPY --link --from=app-install", "COPY --link --from=python:3.11"), "an image"),
        (("COPY --link serve/", "RUN true\nCOPY --link serve/"), "a RUN may read it"),
        (("FROM python:3.11-slim AS app-install", "FROM builder AS app-install"), "needs builder"),
        (
            ("FROM python:3.11-slim\n", "FROM app-install AS more\nFROM python:3.11-slim\n"),
            "another stage builds on its stage",
        ),
        (("COPY requirements-app.txt", "COPY requirements-*.txt"), "a wildcard read"),
        (
            (
                "/opt/app-deps /opt/app-deps\nCOPY --link serve",
                "/opt/app-deps /srv\nCOPY --link serve",
            ),
            "another path",
        ),
    ],
)
def test_what_a_splice_cannot_prove_is_no_splice(
    project: Path, edit: tuple[str, str], why: str
) -> None:
    old, new = edit
    assert old in DOCKERFILE
    found = splices(project, DOCKERFILE.replace(old, new))
    assert "app-install" not in [spec.stage for spec in found], why


def test_the_patch_takes_the_stage_layer_in_place_of_the_prior_one(project: Path) -> None:
    with TestRegistry() as registry:
        api = RegistryAPI(registry.host)
        prior, built = _app_dependency_added(project, api)
        step = Step("app-install", 3, 3, "RUN pip install --target /opt/app-deps")
        asked: list[SpliceSpec] = []

        def splice(spec: SpliceSpec) -> tuple[Layer, list[Step]]:
            asked.append(spec)
            return built, [step]

        patched = patch(_request(project, api, splice))

        assert [spec.stage for spec in asked] == ["app-install"]
        assert patched.redone == [SPLICED] and patched.steps == [step]
        layers = patched.image.layers
        assert layers[2].digest == built.digest
        assert patched.image.config.diff_ids[2] == built.diff_id
        assert [layers[i] for i in (0, 1, 3)] == [prior.layers[i] for i in (0, 1, 3)]
        assert api.digest("team/app", "sha-new") == patched.image.digest
        assert patched.image.config.labels[CREATED_LABEL] == NEW_TIME

        # No engine to build the stage with: a full build, saying why.
        with pytest.raises(Unpatchable, match="stage app-install changed, and only an engine"):
            patch(_request(project, api, None, priors=["sha-old"]))


def _app_dependency_added(project: Path, api: RegistryAPI) -> tuple[Image, Layer]:
    """The prior image pushed as sha-old, one app dependency added since, and the layer its
    stage would build."""
    prior = _prior(project)
    push_as_built(api, "team/app", prior, tags=["sha-old"])
    (project / "requirements-app.txt").write_text("fastapi==0.165.0\nitsdangerous==2.2.0\n")
    built = Layer.from_tar(_tar(["opt/", "opt/app-deps/", "opt/app-deps/itsdangerous.py"]))
    return prior, built


def _proof(project: Path) -> BuildProof:
    plan = read_plan(project / "Dockerfile", None, {})
    build = read_context(project / "Dockerfile", project)
    return prove(ProofInputs(build, {}, None, None, {}, {"python:3.11-slim": "sha256:1"}), plan)


def _tar(names: list[str]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name in names:
            info = tarfile.TarInfo(name.rstrip("/"))
            info.type = tarfile.DIRTYPE if name.endswith("/") else tarfile.REGTYPE
            tar.addfile(info, io.BytesIO(b"") if info.isfile() else None)
    return buffer.getvalue()


def _prior(project: Path) -> Image:
    """What a full build pushed, cut down: the base, the venv, the app half, the code."""
    image = Image.scratch(DOCKER_MANIFEST)
    made = {
        "base": ["etc/"],
        "COPY /opt/venv /opt/venv # buildkit": ["opt/", "opt/venv/"],
        SPLICED: ["opt/", "opt/app-deps/", "opt/app-deps/fastapi.py"],
        "COPY serve/ /app/serve/ # buildkit": ["app/", "app/serve/", "app/serve/app.py"],
    }
    for created_by, names in made.items():
        history = {"created": PRIOR_TIME, "created_by": created_by}
        image = image.append_layer(Layer.from_tar(_tar(names)), history)
    return image.with_labels({**_proof(project).labels, CREATED_LABEL: PRIOR_TIME})


def _request(
    project: Path, api: RegistryAPI, splice, priors: list[str] | None = None
) -> PatchRequest:
    proof = _proof(project)
    return PatchRequest(
        api=api,
        path="team/app",
        tag="sha-new",
        priors=priors or ["sha-new", "sha-old"],
        build=read_context(project / "Dockerfile", project),
        plan=read_plan(project / "Dockerfile", None, {}),
        proof=proof,
        labels={**proof.labels, CREATED_LABEL: NEW_TIME},
        committed_at=1000,
        splice=splice,
    )


def test_code_and_app_dependency_together_redo_both_layers(project: Path) -> None:
    with TestRegistry() as registry:
        api = RegistryAPI(registry.host)
        prior, built = _app_dependency_added(project, api)
        (project / "serve" / "app.py").write_text("print(2)\n")

        patched = patch(_request(project, api, lambda spec: (built, [])))

        assert patched.redone == [SPLICED, "COPY serve/ /app/serve/ # buildkit"]
        layers = patched.image.layers
        assert layers[:2] == prior.layers[:2]
        assert layers[2].digest == built.digest and layers[3] != prior.layers[3]
