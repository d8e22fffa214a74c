"""A commit's candidate tag never changes digest.

Git sees no difference where the build still does: a file's mode beyond the executable bit
(`chmod 600`, or any mode with `core.fileMode false`), a file `.gitignore` hides. A clean tree
whose proof (`fingerprint`) differs from the one the commit's candidate was built from would
push a different image under the same `sha-` tag, so the build stops first and says what
differs: the tag keeps naming the image it named. So does a candidate whose layers are not
compressed as `build.compression` says.
"""

from __future__ import annotations

from pipeline.core.errors import CheckFailed
from pipeline.distribution.mediatypes import layer_compression
from pipeline.distribution.reference import ImageRef
from pipeline.imagebuild.fingerprint import BuildProof
from pipeline.imagebuild.record import built_by_us
from pipeline.oci.image import Image
from pipeline.oci.remote import read_image
from pipeline.registries import Target


def other_compression(image: Image, compression: str) -> str | None:
    """What in `image` a build with `compression` would not have made: with zstd
    (`force-compression`) every layer is zstd; with gzip BuildKit recompresses none of the
    base image's layers, so only a zstd one can tell. None when there is nothing."""
    found = {layer_compression(layer.media_type) or "uncompressed" for layer in image.layers}
    other = found - {"zstd"} if compression == "zstd" else found & {"zstd"}
    return f"{' and '.join(sorted(other))} layers" if other else None


def check_unchanged(
    target: Target, candidate: ImageRef, proof: BuildProof, compression: str
) -> None:
    """Raises CheckFailed (exit 2) when `candidate`, one of ours, exists with another proof or
    another compression."""
    api, path, tag = target.api(), target.staging.path, candidate.tag or ""
    digest = api.digest(path, tag)
    if digest is None or not built_by_us(api, path, digest):
        return
    image = read_image(api, path, tag)
    other = other_compression(image, compression)
    if other:
        raise CheckFailed(
            f"{candidate} ({digest}) was built from this commit with {other}, and "
            f"build.compression is {compression}: a commit's candidate never changes digest, so "
            "nothing was built or pushed. Set build.compression as it was for this commit, or "
            "commit the change (pipeline.yaml) and build the new commit"
        )
    built = BuildProof.from_labels(image.config.labels)
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
