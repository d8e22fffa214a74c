"""A splice's layer: its stage built alone with buildx, pushed beside the candidate.

`patchable.SpliceSpec` names a `COPY --link --from=STAGE PATH PATH`: with `--link`, the image's
layer for it is, file by file, STAGE's PATH copied into an empty filesystem. When the proof says
only STAGE's own inputs changed, buildx builds exactly that: a copy of the Dockerfile with one
stage added (`FROM scratch` and `COPY --from=STAGE PATH PATH`), targeted, with the full build's
settings; so STAGE and the stages it needs, which nothing else in the image needs, and no other.
It is pushed as `sha-<short>-stage-<stage>` (`versioning.image_tags.stage_tag`; `prune` removes
it with the candidate); the patch takes its layer from there, in the same repository, so nothing
is copied. The heavy stages are not built, not pulled and not read from any cache.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

from pipeline.distribution.client import RegistryAPI
from pipeline.distribution.mediatypes import layer_compression
from pipeline.distribution.reference import ImageRef
from pipeline.imagebuild.buildx import BuildRequest, Buildx
from pipeline.imagebuild.patchable import SpliceSpec, Unpatchable
from pipeline.imagebuild.steps import Step, StepCallback
from pipeline.oci.layer import Layer
from pipeline.oci.remote import read_image
from pipeline.project.dockerfile import parse_file


def build_stage(
    builder: Buildx,
    request: BuildRequest,
    api: RegistryAPI,
    spec: SpliceSpec,
    tag: ImageRef,
    ignore_file: Path | None,
    on_step: StepCallback | None = None,
) -> tuple[Layer, list[Step]]:
    """Build `spec`'s layer as the full build `request` would, push it as `tag` (in the
    candidate's repository) and return that one layer, whose bytes stay there, with the steps
    the build ran. `ignore_file`: the .dockerignore the full build reads."""
    with tempfile.TemporaryDirectory(prefix="pipeline-splice-") as scratch:
        dockerfile = Path(scratch) / request.dockerfile.name
        target = _one_layer_stage(request, spec, dockerfile)
        if ignore_file is not None:
            # BuildKit reads `<Dockerfile>.dockerignore` beside the Dockerfile before the
            # context's `.dockerignore`: the copy beside the copy keeps the full build's.
            shutil.copyfile(ignore_file, dockerfile.with_name(dockerfile.name + ".dockerignore"))
        stage = replace(
            request, dockerfile=dockerfile, target=target, tag=str(tag), labels={}, cache_to=None
        )
        outcome = builder.build(stage, on_step)
    image = read_image(api, tag.path, outcome.digest or tag.tag or "")
    if len(image.layers) != 1 or len(image.config.diff_ids) != 1:
        raise Unpatchable(f"stage {spec.stage} built {len(image.layers)} layers, not one")
    (descriptor,) = image.layers
    # Built with the full build's output options: compressed as build.compression says.
    compression = layer_compression(descriptor.media_type)
    if compression is None:
        raise Unpatchable(f"stage {spec.stage}'s layer is {descriptor.media_type}")
    layer = Layer(
        image.source(descriptor.digest),
        descriptor.digest,
        descriptor.size,
        image.config.diff_ids[0],
        compression,
    )
    return layer, outcome.steps


def _one_layer_stage(request: BuildRequest, spec: SpliceSpec, dockerfile: Path) -> str:
    """Write `request`'s Dockerfile to `dockerfile` with a stage holding `spec`'s layer alone
    appended (the lines above keep their numbers, so errors name the user's); its name."""
    text = request.dockerfile.read_text(encoding="utf-8")
    names = {stage.name for stage in parse_file(request.dockerfile, request.build_args).stages}
    name = f"pipeline-splice-{spec.line}"
    while name in names:
        name += "-x"
    # The JSON form: a path with spaces stays one path.
    paths = json.dumps([spec.source, spec.destination])
    added = f"FROM scratch AS {name}\nCOPY --from={spec.stage} {paths}\n"
    dockerfile.write_text(text.rstrip("\n") + "\n\n" + added, encoding="utf-8")
    return name
