"""The layering contract: plumbing below, steps above, and nothing imports upward.

The table is the contract (read it as the package's architecture); `tests/support/depcheck.py`
reads every import of every module and holds them to it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.support.depcheck import Rule, violations

ROOT = Path(__file__).resolve().parent.parent
WATCHED = ("pipeline", "devstack", "tests", "bench")
BASE = ("pipeline.core.errors", "pipeline.core.retry")
CLOUD_SDKS = ("boto3", "botocore", "google")
COMMANDS = ("pipeline.commands", "pipeline.cli", "pipeline.__main__")

RULES = [
    Rule(
        "pipeline",
        must_not_import=("devstack", "tests", "bench"),
        why="the installed package holds no local stack, test or benchmark code",
    ),
    Rule("pipeline.core.errors", may_import=(), why="the error tree is the bottom of the package"),
    Rule(
        "pipeline.core.retry", may_import=("pipeline.core.errors",), why="retries know only errors"
    ),
    Rule(
        "pipeline.distribution",
        may_import=BASE,
        must_not_import=("docker", *CLOUD_SDKS),
        why="the registry layer knows nothing above it: no engine, configuration, step or SDK",
    ),
    Rule(
        "pipeline.oci",
        may_import=(*BASE, "pipeline.distribution"),
        must_not_import=("docker", *CLOUD_SDKS),
        why="the image model stands on the registry layer alone: no engine, nothing above",
    ),
    Rule(
        "pipeline.registries",
        may_import=(*BASE, "pipeline.distribution", "pipeline.config"),
        must_not_import=("docker",),
        why="registry kinds give repositories and credentials: no engine, no step",
    ),
    Rule(
        "pipeline.engine",
        may_import=(*BASE, "pipeline.distribution"),
        why="the engine client and its transfers serve the steps and use none of them",
    ),
    *(
        Rule(
            package,
            must_not_import=(*COMMANDS, "pipeline.release", "pipeline.promotion"),
            why="the checks serve the commands and the release, never the other way",
        )
        for package in ("pipeline.lint", "pipeline.requirements", "pipeline.secrets")
    ),
    *(
        Rule(package, must_not_import=COMMANDS, why="steps are called by commands, not back")
        for package in (
            "pipeline.imagebuild",
            "pipeline.smoke",
            "pipeline.versioning",
            "pipeline.promotion",
            "pipeline.release",
        )
    ),
]


def test_the_package_keeps_its_layers() -> None:
    found = violations(ROOT, ["pipeline"], RULES, WATCHED)
    assert not found, "\n".join(str(v) for v in found)


def test_an_upward_import_is_caught(tmp_path: Path) -> None:
    """The same tree with one bad import each, where an edit would put it: each is named."""
    shutil.copytree(ROOT / "pipeline", tmp_path / "pipeline")
    injected = {
        # a lazy import inside a function is a dependency all the same
        "pipeline/oci/image.py": "def _f():\n    from pipeline.config.schema import Config\n",
        "pipeline/distribution/client.py": "import docker\n",
        "pipeline/lint/rules.py": "from ..commands import lint as _lint\n",
        "pipeline/engine/transfer.py": "from pipeline.promotion import promote as _p\n",
        "pipeline/smoke/run.py": "from tests.support.registry import TestRegistry\n",
    }
    for name, text in injected.items():
        path = tmp_path / name
        path.write_text(path.read_text() + "\n" + text)

    found = violations(tmp_path, ["pipeline"], RULES, WATCHED)

    assert sorted((str(v.path), v.imported) for v in found) == [
        ("pipeline/distribution/client.py", "docker"),
        ("pipeline/engine/transfer.py", "pipeline.promotion.promote"),
        ("pipeline/lint/rules.py", "pipeline.commands.lint"),
        ("pipeline/oci/image.py", "pipeline.config.schema.Config"),
        ("pipeline/smoke/run.py", "tests.support.registry.TestRegistry"),
    ]
    assert "the registry layer knows nothing above it" in str(
        next(v for v in found if v.imported == "docker")
    )
