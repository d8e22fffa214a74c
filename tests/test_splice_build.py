"""The splice path of `build` on the example, against the real stack: an app-dependency change
builds the layer `COPY --link --from=app-install` makes alone and puts it into the prior image
in the registry. It holds by construction, not by what BuildKit's cache keeps: from a wiped
runner, again and again, the base install never runs. The result equals a full build of the
same commit and serves; a base change splices the builder's venv the same way."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.cli import main
from tests.support.engine import wipe_local_images
from tests.support.images import container_view
from tests.support.project import churn_repository, commit_all
from tests.test_patch_build import _repository, assert_same_as_full_build, build

pytestmark = pytest.mark.stack

SPLICED = "COPY /opt/app-deps /opt/app-deps # buildkit"
VENV = "COPY /opt/venv /opt/venv # buildkit"
# Small pure-Python packages, one per round, each a new app dependency.
NEW_APP_DEPENDENCIES = (
    ("python-multipart==0.0.9", "opt/app-deps/multipart/__init__.py"),
    ("itsdangerous==2.2.0", "opt/app-deps/itsdangerous/__init__.py"),
    ("python-dotenv==1.0.1", "opt/app-deps/dotenv/__init__.py"),
)


@pytest.fixture(scope="module")
def churn(tmp_path_factory: pytest.TempPathFactory, stack: object) -> Path:
    return churn_repository(tmp_path_factory.mktemp("splice"), "test-splice")


def add_line(project: Path, path: str, line: str, message: str) -> None:
    with (project / path).open("a") as handle:
        handle.write(line + "\n")
    commit_all(project, message)


def ran(report: dict) -> list[str]:
    return [step["instruction"] for step in report["steps"] if not step["cached"]]


class TestAppDependency:
    """One story, in order: a cold full build, three app dependencies, a base change."""

    def test_cold_build_is_full(self, churn, capsys, docker_client) -> None:
        wipe_local_images(docker_client)
        report = build(capsys, churn)

        assert report["path"] == "full"
        assert any("requirements-base.txt" in step for step in ran(report))

    def test_each_new_app_dependency_is_spliced_on_a_wiped_runner(
        self, churn, capsys, docker_client
    ) -> None:
        for requirement, installed in NEW_APP_DEPENDENCIES:
            add_line(churn, "requirements-app.txt", requirement, f"feat: {requirement}")
            wipe_local_images(docker_client)

            report = build(capsys, churn)

            assert report["path"] == "patch", report["path_reason"]
            assert report["patched_layers"] == [SPLICED]
            steps = [step["instruction"] for step in report["steps"]]
            # The stage alone: never the base install, cached or not, nor anything it needs.
            assert not any("requirements-base.txt" in step for step in steps), steps
            assert any("requirements-app.txt" in step for step in ran(report)), steps
            view = container_view(f"{_repository(report)}@{report['digest']}")
            assert installed in view

    def test_the_spliced_image_serves_and_equals_a_full_build(self, churn, capsys) -> None:
        patched = build(capsys, churn)  # this commit's candidate again: the same digest
        assert patched["path"] == "patch" and patched["patched_layers"] == []

        code = main(["smoke", "--json", "-C", str(churn), "--image", patched["image"]])
        captured = capsys.readouterr()
        assert code == 0, captured.err

        assert_same_as_full_build(capsys, churn, patched)

    def test_a_base_change_splices_the_venv_too(self, churn, capsys, docker_client) -> None:
        add_line(churn, "requirements-base.txt", "# pinned again", "chore: base")
        add_line(churn, "requirements-app.txt", "# and the app", "chore: app")
        wipe_local_images(docker_client)

        report = build(capsys, churn)

        assert report["path"] == "patch", report["path_reason"]
        assert report["patched_layers"] == [VENV, SPLICED]
        assert any("requirements-base.txt" in step for step in ran(report))
        assert_same_as_full_build(capsys, churn, report)
