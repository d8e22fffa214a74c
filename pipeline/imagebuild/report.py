"""What a build reports: for machines (JSON) and for people (a table)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pipeline.core.sizes import human_size
from pipeline.imagebuild.steps import Step, cache_hit_ratio
from pipeline.oci.image import Image


@dataclass
class Layer:
    created_by: str
    size: int


def registry_layers(image: Image) -> list[Layer]:
    """`image`'s layers as a registry holds them: what made each (its history) and its
    compressed size."""
    made = [entry for entry in image.config.history if not entry.get("empty_layer")]
    return [
        Layer(created_by=str(entry.get("created_by", "")), size=descriptor.size)
        for entry, descriptor in zip(made, image.layers, strict=True)
    ]


@dataclass
class BuildReport:
    backend: str
    builder: str  # which CLI, buildx version and builder, as `auto` found them
    image: str
    image_id: str | None  # None when the builder keeps no copy in the engine
    digest: str | None
    pushed: bool
    steps: list[Step]
    seconds: float
    size: int | None  # in the engine, uncompressed; None when it keeps no copy
    layers: list[Layer]
    labels: dict[str, str]
    prior: str | None = None
    compressed_size: int | None = None
    prior_compressed_size: int | None = None
    cache_images: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # "patch": made in the registry from a prior image (pipeline/imagebuild/patch.py).
    path: str = "full"
    path_reason: str = ""  # why this path: what the patch redid, or why it could not
    patched_layers: list[str] = field(default_factory=list)
    cache_mode: str | None = None  # of the registry cache export; None when none was written
    cache_mode_reason: str = ""

    @property
    def cache_hit_ratio(self) -> float | None:
        return cache_hit_ratio(self.steps)

    @property
    def size_change(self) -> int | None:
        if self.compressed_size is None or self.prior_compressed_size is None:
            return None
        return self.compressed_size - self.prior_compressed_size

    def as_dict(self) -> dict[str, Any]:
        ratio = self.cache_hit_ratio
        return {
            "backend": self.backend,
            "builder": self.builder,
            # Pushed as one plain image manifest: no provenance or SBOM attestation is attached.
            "attestations": [],
            "image": self.image,
            "image_id": self.image_id,
            "digest": self.digest,
            "pushed": self.pushed,
            "seconds": round(self.seconds, 2),
            "cache_hit_ratio": None if ratio is None else round(ratio, 3),
            "steps": [step.as_dict() for step in self.steps],
            "size": self.size,
            "compressed_size": self.compressed_size,
            "prior": self.prior,
            "prior_compressed_size": self.prior_compressed_size,
            "size_change": self.size_change,
            "layers": [{"created_by": la.created_by, "size": la.size} for la in self.layers],
            "labels": self.labels,
            "cache_images": self.cache_images,
            "cache_mode": self.cache_mode,
            "cache_mode_reason": self.cache_mode_reason,
            "path": self.path,
            "path_reason": self.path_reason,
            "patched_layers": self.patched_layers,
            "warnings": self.warnings,
        }

    def text(self) -> str:
        lines = [f"built {self.image} with {self.builder} in {self.seconds:.1f}s"]
        lines.append(f"path: {self.path}" + (f" ({self.path_reason})" if self.path_reason else ""))
        width = max((len(s.label()) for s in self.steps), default=0)
        width = min(width, 80)
        for step in self.steps:
            state = "cached" if step.cached else f"{step.seconds:6.1f}s"
            lines.append(f"  {step.label()[:width]:<{width}}  {state}")
        ratio = self.cache_hit_ratio
        lines.append(
            "cache hit ratio: "
            + ("-" if ratio is None else f"{ratio:.0%}")
            + f"   image size: {human_size(self.size)}"
            + (f" ({human_size(self.compressed_size)} compressed)" if self.compressed_size else "")
        )
        if self.cache_mode:
            lines.append(f"cache export: mode={self.cache_mode} ({self.cache_mode_reason})")
        if self.size_change is not None:
            sign = "+" if self.size_change >= 0 else "-"
            lines.append(f"size change vs {self.prior}: {sign}{human_size(abs(self.size_change))}")
        biggest = sorted(self.layers, key=lambda la: la.size, reverse=True)[:5]
        if biggest:
            lines.append("largest layers:")
            lines += [f"  {human_size(la.size):>9}  {la.created_by[:90]}" for la in biggest]
        if self.digest:
            lines.append(f"digest: {self.digest}" + (" (pushed)" if self.pushed else ""))
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)
