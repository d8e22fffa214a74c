"""Rebuild benchmark on the bundled examples: this build step against what CI recipes do.

    .venv/bin/python bench/rebuild.py [--examples churn,sentiment] [--recipes ours,plain]
                                      [--cases cold,code-only] [--verify] [--json FILE]

Needs the local stack (`scripts/setup`): Docker 26 with buildx and the containerd image store,
the registry on 127.0.0.1:5000 (also the Docker Hub mirror). Four recipes, each a whole CI
job (build and push) on a wiped runner (every local image and all build cache removed before
each build), side by side in one run:
  ours    `pipeline build`: buildx, registry cache (build.cache_mode) in and out, pushes itself
  plain   `docker pull PRIOR; docker build --cache-from PRIOR -t NEW; docker push NEW`
  inline  `docker buildx build --cache-from PRIOR --cache-to type=inline -t NEW --push`
  patched `pipeline build` as it comes (`build.patch: auto`): a code-only or weights-only change
          is made in the registry from the prior candidate, an app dependency by building the
          app stage alone and splicing its layer in; ours is `build.patch: off`
and four cases: cold (nothing in the registry), code-only change, one app dependency added,
weights-only change (one byte of the weights file changed: the model/ layer is remade whole, as
after a retrain). Each runs on both examples side by side: churn (scikit-learn, about 200 MB
compressed) and sentiment (torch with its CUDA wheels and transformers, about 3 GB).
Bytes pulled are the blob bytes the registry served during the build (its access log, base
image through the mirror included); bytes pushed are what its storage grew by.
--verify: after each case the patched recipe made in the registry (patch or splice), untimed,
the same commit is built in full (`build.patch: off`) and both images are compared as a
container sees them, file by file and in their run-time config (tests/support/images.py); the
table's last column says `same` or how many paths differ.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import docker
import git

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))  # the test stack and its helpers live beside the package
from pipeline.imagebuild.steps import RawJsonProgress  # noqa: E402
from tests.support.engine import wipe_local_images  # noqa: E402
from tests.support.images import differences  # noqa: E402

EXAMPLES = REPO_ROOT / "examples"
# The file each example's model/ keeps its weights in.
WEIGHTS = {"churn": "model/model.joblib", "sentiment": "model/model.safetensors"}
REGISTRY = "127.0.0.1:5000"
NEW_APP_DEPENDENCY = "python-multipart==0.0.9"
RECIPES = ("ours", "plain", "inline", "patched")
CASES = ("cold", "code-only", "app dependency", "weights-only")
BLOB_GET = re.compile(r'"GET /v2/\S+/blobs/sha256:[0-9a-f]+ HTTP/[\d.]+" 200 (\d+)')


@dataclass
class Case:
    example: str
    case: str
    recipe: str
    seconds: float
    cached: str
    bytes_pulled: int
    bytes_pushed: int
    compressed_size: int
    equal_to_full: str = ""  # --verify, on a patched case: "same" or what differs


def sh(*args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.exit(f"bench: {' '.join(args)} failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
    return result


def commit(project: Path, message: str) -> None:
    repo = git.Repo(project)
    repo.git.add(A=True)
    repo.git.commit(m=message)


def new_project(work: Path, namespace: str, example: str, recipe: str) -> Path:
    project = work / example / recipe
    shutil.copytree(EXAMPLES / example, project, ignore=shutil.ignore_patterns("__pycache__"))
    (project / "pipeline.yaml").write_text(
        f"project:\n  name: {example}\nimage:\n  network: host\n"
        f"registry:\n  url: {REGISTRY}/{namespace}/{recipe}\n"
    )
    git.Repo.init(project, initial_branch="main")
    commit(project, "initial")
    return project


def change(project: Path, example: str, case: str) -> None:
    if case == "code-only":
        with (project / "serve" / "app.py").open("a") as handle:
            handle.write("\n# a code-only change\n")
        commit(project, "fix: code only")
    elif case == "app dependency":
        with (project / "requirements-app.txt").open("a") as handle:
            handle.write(NEW_APP_DEPENDENCY + "\n")
        commit(project, "feat: one more app dependency")
    elif case == "weights-only":
        weights = project / WEIGHTS[example]
        data = bytearray(weights.read_bytes())
        data[-1] ^= 0xFF
        weights.write_bytes(bytes(data))
        commit(project, "feat: retrained weights")


def cached(rawjson: str) -> str:
    """Cache hits over steps that make layers, from buildx's own progress stream."""
    progress = RawJsonProgress("stage-0")
    for line in rawjson.splitlines(keepends=True):
        progress.feed_line(line)
    layers = [s for s in progress.steps if s.counts_for_cache]
    return f"{sum(s.cached for s in layers)}/{len(layers)}"


def pipeline_build(project: Path, patch: str) -> dict:
    """`pipeline build` with `build.patch` set; its JSON report."""
    return json.loads(
        sh(sys.executable, "-m", "pipeline", "build", "--json", "-C", str(project),
           "--set", f"build.patch={patch}").stdout
    )  # fmt: skip


def ours(project: Path, repository: str, build: int, patch: str = "off") -> str:
    report = pipeline_build(project, patch)
    if report["path"] == "patch":
        return "patch"
    layers = [s for s in report["steps"] if not s["instruction"].upper().startswith("FROM")]
    return f"{sum(s['cached'] for s in layers)}/{len(layers)}"


def patched(project: Path, repository: str, build: int) -> str:
    return ours(project, repository, build, patch="auto")


def plain(project: Path, repository: str, build: int) -> str:
    new, prior = f"{repository}:build-{build}", f"{repository}:build-{build - 1}"
    cache: list[str] = []
    if build > 1:
        sh("docker", "pull", prior)
        cache = ["--cache-from", prior]
    output = sh("docker", "build", "--progress", "rawjson", "--network", "host", *cache,
                "-t", new, str(project)).stderr  # fmt: skip
    sh("docker", "push", new)
    return cached(output)


def inline(project: Path, repository: str, build: int) -> str:
    new, prior = f"{repository}:build-{build}", f"{repository}:build-{build - 1}"
    cache = ["--cache-from", f"type=registry,ref={prior}"] if build > 1 else []
    output = sh("docker", "buildx", "build", "--progress", "rawjson", "--network", "host",
                "--provenance=false", *cache, "--cache-to", "type=inline", "-t", new, "--push",
                str(project)).stderr  # fmt: skip
    return cached(output)


class Registry:
    """What the local registry served and stored, read from its access log and its disk."""

    def __init__(self, stack_dir: Path) -> None:
        self.log = stack_dir / "logs" / "registry-local.log"
        self.data = stack_dir / "registries" / "registry-local" / "data"

    def mark(self) -> tuple[int, int]:
        return self.log.stat().st_size, self.stored()

    def stored(self) -> int:
        return sum(p.stat().st_size for p in self.data.rglob("*") if p.is_file())

    def since(self, mark: tuple[int, int]) -> tuple[int, int]:
        with self.log.open("rb") as handle:
            handle.seek(mark[0])
            text = handle.read().decode(errors="replace")
        pulled = sum(int(m.group(1)) for m in BLOB_GET.finditer(text))
        return pulled, self.stored() - mark[1]


def compressed_size(repository: str, reference: str) -> int:
    from pipeline.distribution.client import RegistryAPI

    host, _, path = repository.partition("/")
    return RegistryAPI(host).compressed_size(path, reference) or 0


def equal_to_full(project: Path, repository: str, reference: str) -> str:
    """The patched candidate `reference` against a full build of the same commit."""
    from pipeline.distribution.client import RegistryAPI

    host, _, path = repository.partition("/")
    patched_digest = RegistryAPI(host).digest(path, reference)
    full = pipeline_build(project, "off")
    _, differing = differences(f"{repository}@{patched_digest}", f"{repository}@{full['digest']}")
    if not differing:
        return "same"
    for name, patched_entry, full_entry in differing[:10]:
        print(f"    differs: {name}: patched {patched_entry}, full {full_entry}", file=sys.stderr)
    return f"{len(differing)} differ"


def measure(
    example: str,
    recipe: str,
    run: Callable[[Path, str, int], str],
    work: Path,
    namespace: str,
    stack_dir: Path,
    chosen_cases: list[str],
    verify: bool,
) -> list[Case]:
    # A torch image's layers take minutes to push: the SDK's default 60 s would cut them off.
    client = docker.from_env(timeout=1800)
    registry = Registry(stack_dir)
    project = new_project(work, namespace, example, recipe)
    repository = f"{REGISTRY}/{namespace}/{recipe}/{example}"
    found = []
    for build, case in enumerate(chosen_cases, start=1):
        change(project, example, case)
        wipe_local_images(client)
        mark = registry.mark()
        started = time.monotonic()
        steps = run(project, repository, build)
        seconds = time.monotonic() - started
        pulled, pushed = registry.since(mark)
        sha = git.Repo(project).head.commit.hexsha[:7]
        reference = f"sha-{sha}" if recipe in ("ours", "patched") else f"build-{build}"
        size = compressed_size(repository, reference)
        print(
            f"  {example:<9} {recipe:<7} {case:<15} {seconds:6.1f}s  cached {steps}",
            file=sys.stderr,
        )
        equal = equal_to_full(project, repository, reference) if verify and steps == "patch" else ""
        found.append(Case(example, case, recipe, seconds, steps, pulled, pushed, size, equal))
    return found


def print_table(cases: list[Case], examples: list[str], recipes: list[str]) -> None:
    plain_seconds = {(c.example, c.case): c.seconds for c in cases if c.recipe == "plain"}
    print(f"{'example':<9} {'case':<15} {'recipe':<7} {'seconds':>7} {'plain/this':>10} "
          f"{'cached':>6} {'pulled':>9} {'pushed':>9} {'image':>9}  full build")  # fmt: skip

    def position(case: Case) -> tuple[int, int, int]:
        return (
            examples.index(case.example),
            CASES.index(case.case),
            recipes.index(case.recipe),
        )

    for case in sorted(cases, key=position):
        plain = plain_seconds[case.example, case.case]
        print(f"{case.example:<9} {case.case:<15} {case.recipe:<7} {case.seconds:7.1f} "
              f"{plain / case.seconds:9.1f}x {case.cached:>6} "
              f"{case.bytes_pulled / 1e6:7.1f}MB {case.bytes_pushed / 1e6:7.1f}MB "
              f"{case.compressed_size / 1e6:7.1f}MB  {case.equal_to_full}")  # fmt: skip


def run(
    output: Path, examples: list[str], chosen: list[str], chosen_cases: list[str], verify: bool
) -> None:
    from devstack import ensure_up

    stack_dir = ensure_up().state_dir
    namespace = f"bench-{uuid.uuid4().hex[:6]}"
    recipes = {"ours": ours, "plain": plain, "inline": inline, "patched": patched}
    cases: list[Case] = []
    with tempfile.TemporaryDirectory(prefix="bench-rebuild-") as scratch:
        for example in examples:
            for recipe in chosen:
                cases += measure(
                    example,
                    recipe,
                    recipes[recipe],
                    Path(scratch),
                    namespace,
                    stack_dir,
                    chosen_cases,
                    verify,
                )
    print_table(cases, examples, chosen)
    engine = docker.from_env().version()
    extras = {"namespace": namespace, "engine": engine.get("Version")}
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps({"cases": [asdict(c) for c in cases], **extras}, indent=2))
    print(f"results: {output}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=REPO_ROOT / "bench/results/rebuild.json")
    parser.add_argument(
        "--examples",
        default=",".join(WEIGHTS),
        type=lambda text: text.split(","),
        help="comma-separated directories of examples/ (default: churn,sentiment)",
    )
    parser.add_argument(
        "--recipes",
        default=",".join(RECIPES),
        type=lambda text: text.split(","),
        help="comma-separated, plain among them: every ratio is against it (default: all)",
    )
    parser.add_argument(
        "--cases",
        default=",".join(CASES),
        type=lambda text: text.split(","),
        help="comma-separated, in the order above, cold first: each later case needs a prior "
        "(default: all)",
    )
    parser.add_argument(
        "--verify",
        action="store_true",
        help="compare each patched case's image with a full build of the same commit (untimed)",
    )
    args = parser.parse_args()
    unknown = sorted(set(args.examples) - set(WEIGHTS))
    if unknown:
        parser.error(f"no such example: {', '.join(unknown)} (known: {', '.join(WEIGHTS)})")
    if "plain" not in args.recipes or set(args.recipes) - set(RECIPES):
        parser.error(f"--recipes: some of {', '.join(RECIPES)}, plain among them")
    if args.cases[:1] != ["cold"] or args.cases != [c for c in CASES if c in args.cases]:
        parser.error(f"--cases: some of {', '.join(CASES)}, in that order, cold among them")
    if args.verify and "patched" not in args.recipes:
        parser.error("--verify compares the patched recipe's images: add patched to --recipes")
    run(args.json, args.examples, args.recipes, args.cases, args.verify)


if __name__ == "__main__":
    main()
