"""A commit's candidate tag never changes digest.

Git sees no difference where the build still does: a file's mode beyond the executable bit
(`chmod 600`, or any mode with `core.fileMode false`), a file `.gitignore` hides. A clean tree
whose proof (`fingerprint`) differs from the one the commit's candidate was built from would
push a different image under the same `sha-` tag, so the build stops first and says what
differs: the tag keeps naming the image it named.
"""

from __future__ import annotations

from pipeline.core.errors import CheckFailed
from pipeline.distribution.reference import ImageRef
from pipeline.imagebuild.fingerprint import BuildProof
from pipeline.imagebuild.record import built_by_us
from pipeline.oci.remote import read_image
from pipeline.registries import Target


def check_unchanged(target: Target, candidate: ImageRef, proof: BuildProof) -> None:
    """Raises CheckFailed (exit 2) when `candidate`, one of ours, exists with another proof."""
    api, path, tag = target.api(), target.staging.path, candidate.tag or ""
    digest = api.digest(path, tag)
    if digest is None or not built_by_us(api, path, digest):
        return
    built = BuildProof.from_labels(read_image(api, path, tag).config.labels)
    if built is None:
        return
    differs = proof.changed_parts(built) + [
        f"the sources of the COPY on Dockerfile line {line}"
        for line, copied in sorted(proof.copies.items())
        if built.copies.get(line) != copied
    ]
    if differs:
        raise CheckFailed(
            f"{candidate} ({digest}) was built from this commit with other contents than the "
            f"build context holds now, though git sees no change: {'; '.join(differs)}. A "
            "difference git does not track: a file mode (chmod; git keeps only 644 or 755, and "
            "nothing with core.fileMode false) or a file .gitignore hides. A commit's candidate "
            "never changes digest, so nothing was built or pushed: restore the files as the "
            "commit has them (`git ls-files -s` lists its modes: chmod 644 or 755), or commit "
            "the change"
        )
