"""A splice's layer: its stage built alone with buildx, pushed beside the candidate.

`patchable.SpliceSpec` names a `COPY --link --from=STAGE PATH PATH` whose STAGE is a scratch
stage holding PATH alone: the image's layer for that COPY is, file by file, STAGE's one layer.
When the proof says only STAGE's own inputs changed, buildx builds STAGE (with the stages it
needs, which nothing else in the image needs) with the full build's settings and pushes it as
`sha-<short>-stage-<stage>` (`versioning.image_tags.stage_tag`; `prune` removes it with the
candidate); the patch takes its layer from there, in the same repository, so nothing is
copied. The heavy stages are not built, not pulled and not read from any cache.
"""

from __future__ import annotations

from dataclasses import replace

from pipeline.distribution.client import RegistryAPI
from pipeline.distribution.mediatypes import layer_compression
from pipeline.distribution.reference import ImageRef
from pipeline.imagebuild.buildx import BuildRequest, Buildx
from pipeline.imagebuild.patchable import SpliceSpec, Unpatchable
from pipeline.imagebuild.steps import Step, StepCallback
from pipeline.oci.layer import Layer
from pipeline.oci.remote import read_image


def build_stage(
    builder: Buildx,
    request: BuildRequest,
    api: RegistryAPI,
    spec: SpliceSpec,
    tag: ImageRef,
    on_step: StepCallback | None = None,
) -> tuple[Layer, list[Step]]:
    """Build `spec`'s stage as the full build `request` would, push it as `tag` (in the
    candidate's repository) and return its one layer, whose bytes stay there, with the steps
    the build ran."""
    stage = replace(request, target=spec.stage, tag=str(tag), labels={}, cache_to=None)
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
