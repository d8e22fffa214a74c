"""Semantic versions from VERSION, conventional commits and git tags; image tags; release tags.

For the release step: `decide_version(config, read_history(config, environ)) -> VersionDecision`
(`.version` is None when there is nothing to release; `.tags` the image tags),
`write_version(config, version)`,
`tag_release(config, version, push=True) -> ReleaseTag`. See README.md here for the rules.
"""

from pipeline.versioning.current import FIRST_VERSION, read_current
from pipeline.versioning.decide import VersionDecision, decide_version, write_version
from pipeline.versioning.history import History, read_history
from pipeline.versioning.image_tags import ImageTags, image_tags
from pipeline.versioning.release_tag import ReleaseTag, tag_release

__all__ = [
    "FIRST_VERSION",
    "History",
    "ImageTags",
    "ReleaseTag",
    "VersionDecision",
    "decide_version",
    "image_tags",
    "read_current",
    "read_history",
    "tag_release",
    "write_version",
]
