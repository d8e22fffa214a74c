"""The layering contract: tiers from core up to the commands, nothing imports upward, no cycles.

The table is the contract (read it as the package's architecture): a package may import the
tiers below its own and, of its own tier, what the tier shares; the other rules bind single
packages tighter, and an import is reported under the first rule it breaks.
`tests/support/depcheck.py` reads every import of every module (lazy and TYPE_CHECKING ones too)
and holds them to it. A new package goes into a tier, or this test fails; an import cycle, between
modules or between the table's packages, fails it too.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support.depcheck import (
    Rule,
    Tier,
    cycle,
    import_graph,
    module_name,
    tier_rules,
    unit_graph,
    violations,
    within,
)

ROOT = Path(__file__).resolve().parent.parent
WATCHED = ("pipeline", "devstack", "tests", "bench")
BASE = ("pipeline.core.errors", "pipeline.core.retry")
CLOUD_SDKS = ("boto3", "botocore", "google")
# The root package's one name, which `--version` prints: a name, not a module.
VERSION = "pipeline.__version__"

TIERS = (
    Tier(
        "core",
        ("pipeline.core", VERSION),
        "errors, retries, redaction, sizes: the bottom, it knows nothing of the pipeline",
    ),
    # Under the plumbing, not over it: the registries read the configuration, and no concept
    # needs a registry or the engine. The plumbing's own rules below keep distribution, oci and
    # engine off the configuration all the same.
    Tier(
        "concepts",
        (
            "pipeline.config",
            "pipeline.console",
            "pipeline.project",
            "pipeline.cuda",
        ),
        "what a project is and says (configuration, Dockerfile, git, CUDA facts) and how the"
        " pipeline talks; no registry, engine, check or step",
    ),
    Tier(
        "plumbing",
        (
            "pipeline.distribution",
            "pipeline.oci",
            "pipeline.engine",
            "pipeline.registries",
            "pipeline.signing",
        ),
        "registries, images, the engine and image signatures, for the checks and steps above:"
        " none of them",
    ),
    Tier(
        "checks",
        ("pipeline.lint", "pipeline.requirements", "pipeline.secrets"),
        "checks judge a project and never import a step (a build, a smoke test, a version)",
    ),
    Tier(
        "steps",
        ("pipeline.versioning", "pipeline.imagebuild", "pipeline.smoke", "pipeline.promotion"),
        "a step imports versioning (what to call an image) and no other step",
        shared=("pipeline.versioning",),
    ),
    Tier(
        "orchestration",
        ("pipeline.release", "pipeline.scaffold"),
        "the release runs the steps in order and `init` scaffolds a project; neither the other",
        shared=(),
    ),
    Tier(
        "commands",
        ("pipeline.commands", "pipeline.cli", "pipeline.__main__"),
        "only the command line imports the commands",
    ),
)

RULES = [
    Rule(
        "pipeline",
        must_not_import=("devstack", "tests", "bench"),
        why="the installed package holds no local stack, test or benchmark code",
    ),
    *tier_rules(TIERS),
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
]
UNITS = tuple(package for tier in TIERS for package in tier.packages)


def test_the_package_keeps_its_layers() -> None:
    found = violations(ROOT, ["pipeline"], RULES, WATCHED)
    assert not found, "\n".join(str(v) for v in found)


def test_every_package_sits_in_one_tier() -> None:
    """A new package is placed in the table, or nothing constrains it."""
    modules = import_graph(ROOT, ["pipeline"])
    unplaced = sorted(
        module
        for module in modules
        if module != "pipeline" and not any(within(module, unit) for unit in UNITS)
    )
    assert not unplaced, f"in no tier of TIERS: {unplaced}"
    gone = [u for u in UNITS if u != VERSION and not any(within(m, u) for m in modules)]
    assert not gone, f"TIERS names what is not there (moved?): {gone}"
    assert len(UNITS) == len(set(UNITS))


@pytest.mark.parametrize("level", ["modules", "packages"])
def test_no_import_cycle(level: str) -> None:
    graph = import_graph(ROOT, ["pipeline"])
    if level == "packages":
        graph = unit_graph(graph, UNITS)
    found = cycle(graph)
    assert found is None, "import cycle: " + " -> ".join(found or [])


def _tree_with(tmp_path: Path, injected: dict[str, str]) -> Path:
    """A copy of the package with `injected` appended to its modules."""
    shutil.copytree(ROOT / "pipeline", tmp_path / "pipeline")
    for name, text in injected.items():
        path = tmp_path / name
        path.write_text(path.read_text() + "\n" + text)
    return tmp_path


def test_an_upward_import_is_caught(tmp_path: Path) -> None:
    """The same tree with one bad import each, where an edit would put it: each is named, the
    tiers' by their tier (the commands, on top, have nothing above them to import)."""
    root = _tree_with(
        tmp_path,
        {
            # a lazy import inside a function is a dependency all the same
            "pipeline/core/retry.py": "def _f():\n    from pipeline.console.output import Output\n",
            "pipeline/project/gitinfo.py": "from pipeline.engine.client import docker_client\n",
            "pipeline/engine/transfer.py": "from pipeline.promotion import promote as _p\n",
            "pipeline/lint/layering.py": "from pipeline.imagebuild.report import BuildReport\n",
            "pipeline/smoke/gpu.py": "from pipeline.imagebuild import report as _report\n",
            "pipeline/release/outputs.py": "from ..commands import options as _options\n",
            "pipeline/oci/image.py": "def _f():\n    from pipeline.config.schema import Config\n",
            "pipeline/distribution/client.py": "import docker\n",
            "pipeline/smoke/run.py": "from tests.support.registry import TestRegistry\n",
        },
    )

    found = violations(root, ["pipeline"], RULES, WATCHED)

    caught = {(str(v.path), v.imported): v.rule.why.split(":")[0] for v in found}
    assert caught == {
        ("pipeline/core/retry.py", "pipeline.console.output.Output"): "core",
        ("pipeline/project/gitinfo.py", "pipeline.engine.client.docker_client"): "concepts",
        ("pipeline/engine/transfer.py", "pipeline.promotion.promote"): "plumbing",
        ("pipeline/lint/layering.py", "pipeline.imagebuild.report.BuildReport"): "checks",
        ("pipeline/smoke/gpu.py", "pipeline.imagebuild.report"): "steps",
        ("pipeline/release/outputs.py", "pipeline.commands.options"): "orchestration",
        ("pipeline/oci/image.py", "pipeline.config.schema.Config"): (
            "the image model stands on the registry layer alone"
        ),
        ("pipeline/distribution/client.py", "docker"): "the registry layer knows nothing above it",
        ("pipeline/smoke/run.py", "tests.support.registry.TestRegistry"): (
            "the installed package holds no local stack, test or benchmark code"
        ),
    }


@pytest.mark.parametrize(
    ("name", "text", "level", "members"),
    [
        # the report, which the linter imports, importing the linter back (lazily)
        (
            "pipeline/lint/report.py",
            "def _f():\n    from pipeline.lint import linter\n",
            "modules",
            {"pipeline.lint.report", "pipeline.lint.linter"},
        ),
        # no module loop (progress -> output -> redact), but core -> console -> core
        (
            "pipeline/core/sizes.py",
            "def _f():\n    from pipeline.console.progress import StepProgress\n",
            "packages",
            {"pipeline.core", "pipeline.console"},
        ),
    ],
)
def test_an_import_cycle_is_caught(
    tmp_path: Path, name: str, text: str, level: str, members: set[str]
) -> None:
    graph = import_graph(_tree_with(tmp_path, {name: text}), ["pipeline"])
    if level == "packages":
        assert cycle(graph) is None
        graph = unit_graph(graph, UNITS)

    found = cycle(graph)

    assert found is not None and found[0] == found[-1] and members <= set(found)


def test_the_module_names_are_read_from_paths() -> None:
    assert module_name(ROOT, ROOT / "pipeline/lint/__init__.py") == "pipeline.lint"
