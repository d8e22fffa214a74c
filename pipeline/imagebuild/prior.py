"""The image a patch starts from: the nearest earlier candidate of this branch, else the release.

The candidate of the nearest first-parent ancestor commit is the image that differs least from
this commit's; CI may have skipped a commit or two, so a few are tried before the prior release.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.distribution.client import RegistryAPI
from pipeline.gitinfo import SHORT_SHA_LENGTH, open_repo
from pipeline.oci.image import Image
from pipeline.oci.remote import read_image

ANCESTORS_TRIED = 5


def ancestor_tags(project_dir: Path, count: int = ANCESTORS_TRIED) -> list[str]:
    """`sha-<short>` of HEAD's first-parent ancestors, nearest first (HEAD itself excluded)."""
    repo = open_repo(project_dir, "the prior candidate is found by commit")
    commits = repo.iter_commits("HEAD", first_parent=True, max_count=count + 1)
    return [f"sha-{commit.hexsha[:SHORT_SHA_LENGTH]}" for commit in list(commits)[1:]]


def nearest_image(api: RegistryAPI, path: str, tags: list[str]) -> tuple[str, Image] | None:
    """The first of `tags` the repository holds, read (its layers stay in the registry)."""
    for tag in tags:
        if api.digest(path, tag):
            return tag, read_image(api, path, tag)
    return None
