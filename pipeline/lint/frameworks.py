"""ML014-ML016: torch installs that cost gigabytes against the base image they are built on.

ML014 installs the framework the base image already ships a second time, ML015 puts torch's own
CUDA libraries on an nvidia/cuda image that has them, ML016 installs a torch built for another
CUDA than the base's. What an install asks for is read from its command line and from the
requirement files it installs (found in the build context as ML013 finds them).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from pipeline.core.sizes import human_size
from pipeline.cuda.drivers import minimum_driver
from pipeline.cuda.torchwheels import MEASURED, TorchWheels
from pipeline.cuda.versions import Version as CudaVersion
from pipeline.cuda.versions import parse_version
from pipeline.distribution.reference import ImageRef
from pipeline.lint import facts
from pipeline.lint.layering import context_requirements, installed_size
from pipeline.lint.subject import Hit, Subject
from pipeline.project.dockerfile import Instruction, Stage
from pipeline.project.installs import Install, installs, requirement_files, run_commands, stage_runs
from pipeline.project.shell import Command

# The framework each image repository ships, read from its version tag (2.1.2-cuda12.1-...).
_SHIPPED = {"pytorch/pytorch": "torch", "tensorflow/tensorflow": "tensorflow"}
_VERSION_TAG = re.compile(r"\d+(?:\.\d+)+")
_TAG_CUDA = re.compile(r"(?:^|-)cuda(\d+)\.(\d+)")
# `+cu121` on a version, `/whl/cu121` in a download.pytorch.org index or find-links URL.
_LOCAL_CUDA = re.compile(r"\+cu(\d+)(\d)$")
_URL_CUDA = re.compile(r"/whl/(?:nightly/|test/)?cu(\d+)(\d)(?:/|$)")
_URL_CPU = re.compile(r"/whl/(?:nightly/|test/)?cpu(?:/|$)")
_INDEX_OPTIONS = ("-i", "--index-url", "--extra-index-url", "-f", "--find-links")
_REINSTALL_FLAGS = ("-U", "--upgrade", "--force-reinstall", "-I", "--ignore-installed")
_VENV_PROGRAMS = re.compile(r"python[\d.]*|virtualenv|uv")
FIX_PYPI_TEMPLATE = "dockerfiles/pytorch-pypi"


@dataclass(frozen=True)
class BaseImage:
    """What a stage's root image ships, as far as its name and tag say."""

    image: str
    framework: str | None  # the distribution it ships: torch, tensorflow
    framework_version: str | None
    cuda: CudaVersion | None
    cuda_libraries: bool  # nvidia/cuda -runtime and -devel: cuBLAS, cuDNN... are in the image

    @classmethod
    def of(cls, image: str) -> BaseImage:
        ref = ImageRef.parse(image)
        tag = ref.tag or ""
        leading = _VERSION_TAG.match(tag)
        version = leading[0] if leading else None
        framework = next((name for repo, name in _SHIPPED.items() if ref.is_repository(repo)), None)
        if ref.is_repository("nvidia/cuda"):
            parts = tag.split("-")
            cuda = parse_version(version) if version else None
            return cls(image, None, None, cuda, "runtime" in parts or "devel" in parts)
        tag_cuda = _TAG_CUDA.search(tag)
        cuda = (int(tag_cuda[1]), int(tag_cuda[2])) if tag_cuda else None
        return cls(image, framework, version if framework else None, cuda, False)

    def describe_cuda(self) -> str:
        return f"CUDA {self.cuda[0]}.{self.cuda[1]}" if self.cuda else "CUDA"


@dataclass(frozen=True)
class TorchRequest:
    """One `torch` requirement an install resolves, with where it is written."""

    stage: Stage
    run: Instruction
    install: Install
    requirement: Requirement
    where: str  # "line 7" or "requirements.txt:3"
    indexes: tuple[str, ...]

    @property
    def pinned(self) -> str | None:
        pins = [s.version for s in self.requirement.specifier if s.operator in ("==", "===")]
        return pins[0] if pins else None

    @property
    def cpu_only(self) -> bool:
        return (self.pinned or "").endswith("+cpu") or any(_URL_CPU.search(i) for i in self.indexes)

    @property
    def cuda(self) -> CudaVersion | None:
        """The CUDA this torch is built for, where the requirement or its index says it."""
        local = _LOCAL_CUDA.search(self.pinned or "")
        if local:
            return int(local[1]), int(local[2])
        for index in self.indexes:
            found = _URL_CUDA.search(index)
            if found:
                return int(found[1]), int(found[2])
        return self.measured.cuda if self.measured else None

    @property
    def measured(self) -> TorchWheels | None:
        """The measured PyPI wheels of this torch: a measured version, from no other index."""
        return None if self.indexes else MEASURED.get(self.pinned or "")

    def label(self) -> str:
        return f"{self.requirement} ({self.where})"


def torch_requests(target: Subject) -> Iterator[TorchRequest]:
    for stage, run, install in _pip_installs(target):
        yield from _requests(target, stage, run, install)


def reinstalled_framework(target: Subject) -> Iterator[Hit]:
    """ML014: the framework of a pytorch/pytorch or tensorflow/tensorflow base, installed again."""
    for stage, run, install in _pip_installs(target):
        base = _base(target, stage)
        if base.framework is None or base.framework_version is None:
            continue
        for name, requirement, where in _requirements(target, stage, run, install):
            if name != base.framework:
                continue
            why = _reinstall_reason(target, stage, run, install, requirement, base)
            if why is None:
                continue
            keep = (
                "make the venv with --system-site-packages (as dockerfiles/pytorch-gpu does)"
                if why.startswith("the venv")
                else f"leave {name} out of the requirements (or pin {name}=="
                f"{base.framework_version})"
            )
            yield Hit(
                run.line,
                f"{requirement} ({where}) installs {name} again over the "
                f"{base.framework_version} that {base.image} ships ({why}): the image keeps "
                f"both copies{_second_copy_size(name, requirement)}",
                f"{keep} to use the base's, or start from python:3.11-slim and take {name} "
                f"from PyPI ({FIX_PYPI_TEMPLATE})",
            )


def cuda_twice(target: Subject) -> Iterator[Hit]:
    """ML015: torch's own CUDA libraries on an nvidia/cuda image that ships CUDA already."""
    final = _base(target, target.final)
    if not final.cuda_libraries:
        return
    for request in torch_requests(target):
        if request.cpu_only or not _base(target, request.stage).cuda_libraries:
            continue
        yield Hit(
            request.run.line,
            f"{request.label()} brings torch's own CUDA libraries{_cuda_wheels_size(request)} on "
            f"top of the {final.describe_cuda()} that {final.image} ships: the image holds CUDA "
            "twice and torch uses only its own",
            f"start from python:3.11-slim and let torch's wheels bring CUDA "
            f"({FIX_PYPI_TEMPLATE}), or from pytorch/pytorch, which ships torch with its CUDA",
        )


def cuda_mismatch(target: Subject) -> Iterator[Hit]:
    """ML016: a torch CUDA build (+cu121, /whl/cu118) other than the base image's CUDA."""
    for request in torch_requests(target):
        base = _base(target, request.stage)
        built = request.cuda
        if base.cuda is None or built is None or built == base.cuda:
            continue
        if base.framework == "torch" and base.framework_version:
            reinstalled = _reinstall_reason(
                target, request.stage, request.run, request.install, request.requirement, base
            )
            if reinstalled is None:
                continue  # pip keeps the base's torch: this build is never installed
        built_text, base_text = f"{built[0]}.{built[1]}", f"{base.cuda[0]}.{base.cuda[1]}"
        if built > base.cuda:
            minimum = minimum_driver(built_text)
            driver = f" (driver >= {minimum[0]})" if minimum else ""
            effect = (
                f"torch needs a driver for CUDA {built_text}{driver}, but the image declares "
                f"CUDA {base_text}, so the NVIDIA runtime lets older drivers through"
            )
        else:
            effect = (
                f"torch loads its own CUDA {built_text} libraries and the base's CUDA "
                f"{base_text} ones are never used"
            )
        yield Hit(
            request.run.line,
            f"{request.label()} is a CUDA {built_text} build on {base.image} (CUDA {base_text}): "
            + effect,
            f"use the CUDA {built_text} base image, or a torch build for CUDA {base_text} where "
            "its release has one (https://download.pytorch.org/whl/cuXYZ)",
        )


def _pip_installs(target: Subject) -> Iterator[tuple[Stage, Instruction, Install]]:
    for stage in target.dockerfile.stages:
        for run in stage_runs(stage):
            for install in installs(run):
                if install.tool in ("pip", "uv"):
                    yield stage, run, install


def _base(target: Subject, stage: Stage) -> BaseImage:
    return BaseImage.of(target.dockerfile.lineage(stage)[0].image)


def _requests(
    target: Subject, stage: Stage, run: Instruction, install: Install
) -> Iterator[TorchRequest]:
    indexes = (*install.option_values(*_INDEX_OPTIONS), *_file_indexes(target, install))
    for name, requirement, where in _requirements(target, stage, run, install):
        if name == "torch":
            yield TorchRequest(stage, run, install, requirement, where, indexes)


def cache_size_note(target: Subject, stage: Stage, run: Instruction, install: Install) -> str:
    """For ML004: what the kept cache weighs, where the install pins a measured torch."""
    for request in _requests(target, stage, run, install):
        if request.measured:
            return (
                f"; it keeps every wheel downloaded: {human_size(request.measured.download)} for "
                f"torch {request.pinned} and its CUDA wheels alone"
            )
    return ""


def _requirements(
    target: Subject, stage: Stage, run: Instruction, install: Install
) -> Iterator[tuple[str, Requirement, str]]:
    """(canonical name, requirement, where) for what `install` asks for by name."""
    for word in install.packages:
        requirement = _parse(word)
        if requirement:
            yield canonicalize_name(requirement.name), requirement, f"line {run.line}"
    for name in requirement_files(install):
        requirements = context_requirements(target, name)
        if requirements is None:
            continue
        for entry in requirements.entries:
            requirement = _parse(entry.text) if entry.name and not entry.constraint else None
            if requirement:
                where = f"{posixpath.basename(name)}:{entry.origin.rsplit(':', 1)[-1]}"
                yield canonicalize_name(requirement.name), requirement, where


def _file_indexes(target: Subject, install: Install) -> tuple[str, ...]:
    """Index and find-links URLs the install's requirement files set."""
    urls: list[str] = []
    for name in requirement_files(install):
        requirements = context_requirements(target, name)
        if requirements is not None:
            urls += [o.value for o in requirements.options if o.value and o.flag in _INDEX_OPTIONS]
    return tuple(urls)


def _reinstall_reason(
    target: Subject,
    stage: Stage,
    run: Instruction,
    install: Install,
    requirement: Requirement,
    base: BaseImage,
) -> str | None:
    """Why pip installs the package although the base has it; None when it keeps the base's."""
    flags = [w for w in install.command.argv if w in _REINSTALL_FLAGS]
    if flags:
        return f"{flags[0]} reinstalls it"
    venv = _isolated_venv(target, stage, run, install)
    if venv:
        return f"the venv {venv} is made without --system-site-packages and does not see it"
    try:
        shipped = Version(base.framework_version or "")
    except InvalidVersion:
        return None
    if requirement.specifier and not requirement.specifier.contains(shipped, prereleases=True):
        return f"{shipped} does not satisfy {requirement.specifier}"
    return None


def _isolated_venv(target: Subject, stage: Stage, run: Instruction, install: Install) -> str | None:
    """The venv `install` writes to when it cannot see the system site-packages, if any."""
    path = facts.environment(target.dockerfile, stage, upto=run, build=True).get("PATH", "")
    for ancestor in target.dockerfile.lineage(stage):
        for earlier in stage_runs(ancestor):
            if earlier is run:
                return None
            for command in run_commands(earlier):
                venv = _created_venv(command)
                if venv and (
                    f"{venv}/bin" in path.split(":")
                    or install.command.program.startswith(f"{venv}/")
                ):
                    return venv
    return None


def _created_venv(command: Command) -> str | None:
    """The directory `python -m venv DIR` / `virtualenv DIR` / `uv venv DIR` makes, unless it
    is made with --system-site-packages."""
    argv = list(command.argv)
    program = posixpath.basename(command.program)
    if not _VENV_PROGRAMS.fullmatch(program) or "--system-site-packages" in argv:
        return None
    for marker in ("venv", "virtualenv"):
        if marker in argv[1:]:
            positionals = [w for w in argv[argv.index(marker, 1) + 1 :] if not w.startswith("-")]
            return positionals[-1].rstrip("/") if positionals else None
    return None


def _parse(text: str) -> Requirement | None:
    try:
        return Requirement(text)
    except InvalidRequirement:
        return None  # a path, a URL or an option: not a named requirement


def _second_copy_size(name: str, requirement: Requirement) -> str:
    pinned = [s.version for s in requirement.specifier if s.operator in ("==", "===")]
    measured = MEASURED.get(pinned[0]) if pinned and name == "torch" else None
    if measured:
        total = measured.torch_installed + measured.cuda_installed
        return f" (torch {pinned[0]} from PyPI with its CUDA wheels: {human_size(total)} installed)"
    size = installed_size(name)
    return f" ({name} takes {human_size(size)} installed here)" if size else ""


def _cuda_wheels_size(request: TorchRequest) -> str:
    if request.measured is None:
        return ""
    wheels = human_size(request.measured.cuda_installed)
    return f" ({wheels} of nvidia-* and cuda-* wheels installed)"
