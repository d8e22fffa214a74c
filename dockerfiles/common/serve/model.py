"""The model directory format, and a loader registry keyed on the framework it names.

A model directory holds `model.json` (metadata, see `ModelMetadata`) and the artifact it points
at. Loaders for other frameworks register themselves with `@register_loader("name")` and return
anything that satisfies `Predictor`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

METADATA_FILE = "model.json"
LISTING_LIMIT = 50

FeatureValue = float | int | bool | str
Label = str | int


class ModelLoadError(Exception):
    """The model directory is missing or unusable; the message says what was looked for."""


class Feature(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    type: Literal["float", "int", "bool", "str"]
    # Allowed values of a categorical string feature; requests with other values get a 422.
    categories: tuple[str, ...] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _categories_only_for_strings(self) -> Feature:
        if self.categories is not None and self.type != "str":
            raise ValueError(f"feature {self.name!r}: categories are only allowed on type 'str'")
        return self

    def warmup_value(self) -> FeatureValue:
        """A valid value for the warm-up prediction that proves the model answers."""
        match self.type:
            case "float":
                return 0.0
            case "int":
                return 0
            case "bool":
                return False
            case "str":
                return self.categories[0] if self.categories else ""


class ModelMetadata(BaseModel):
    """`model.json`. Keys beyond these (metrics, training details) are kept for people, not read."""

    model_config = ConfigDict(extra="ignore", frozen=True, protected_namespaces=())

    format_version: Literal[1]
    name: str = Field(min_length=1)
    version: str = Field(min_length=1)
    framework: str = Field(min_length=1)
    artifact: str = Field(min_length=1)
    features: tuple[Feature, ...] = Field(min_length=1)
    labels: tuple[Label, ...] = Field(min_length=2)

    @model_validator(mode="after")
    def _unique_names(self) -> ModelMetadata:
        names = [feature.name for feature in self.features]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"duplicate feature names: {', '.join(duplicates)}")
        return self


class Predictor(Protocol):
    # Where inference runs ("cpu", "cuda:0"), reported by /gpu-info.
    device: str

    def predict_proba(self, rows: Sequence[Sequence[FeatureValue]]) -> list[list[float]]:
        """One probability per label (in metadata `labels` order) for each row of features."""
        ...


Loader = Callable[[Path, ModelMetadata], Predictor]
_LOADERS: dict[str, Loader] = {}


def register_loader(framework: str) -> Callable[[Loader], Loader]:
    def register(loader: Loader) -> Loader:
        _LOADERS[framework] = loader
        return loader

    return register


@dataclass(frozen=True)
class LoadedModel:
    metadata: ModelMetadata
    predictor: Predictor

    def rows(self, instances: Sequence[dict[str, FeatureValue]]) -> list[list[FeatureValue]]:
        names = [feature.name for feature in self.metadata.features]
        return [[instance[name] for name in names] for instance in instances]

    def warm_up(self) -> None:
        """Run one prediction so the first real request does not pay for lazy initialisation."""
        row = [feature.warmup_value() for feature in self.metadata.features]
        (probabilities,) = self.predictor.predict_proba([row])
        if len(probabilities) != len(self.metadata.labels):
            raise ModelLoadError(
                f"warm-up prediction returned {len(probabilities)} probabilities for "
                f"{len(self.metadata.labels)} labels"
            )


def load_model(model_path: Path) -> LoadedModel:
    if not model_path.is_dir():
        raise ModelLoadError(
            f"model directory {model_path} does not exist; {_describe(model_path)}"
        )
    metadata_file = model_path / METADATA_FILE
    if not metadata_file.is_file():
        raise ModelLoadError(f"{metadata_file} does not exist; {_describe(metadata_file)}")
    try:
        metadata = ModelMetadata.model_validate(json.loads(metadata_file.read_text()))
    except (ValueError, ValidationError) as exc:
        raise ModelLoadError(f"{metadata_file} is invalid: {exc}") from exc
    loader = _LOADERS.get(metadata.framework)
    if loader is None:
        known = ", ".join(sorted(_LOADERS))
        raise ModelLoadError(
            f"{metadata_file}: framework {metadata.framework!r} has no loader (known: {known})"
        )
    artifact = model_path / metadata.artifact
    if not artifact.is_file():
        raise ModelLoadError(f"{artifact} does not exist; {_describe(artifact)}")
    return LoadedModel(metadata=metadata, predictor=loader(artifact, metadata))


def _describe(missing: Path) -> str:
    """Name the nearest existing ancestor and its entries: usually a typo or a wrong mount."""
    parent = missing.parent
    while not parent.is_dir() and parent != parent.parent:
        parent = parent.parent
    try:
        entries = sorted(entry.name + ("/" if entry.is_dir() else "") for entry in parent.iterdir())
    except OSError as exc:
        return f"{parent} cannot be listed: {exc.strerror}"
    if not entries:
        return f"{parent} is empty"
    shown = ", ".join(entries[:LISTING_LIMIT])
    more = f" and {len(entries) - LISTING_LIMIT} more" if len(entries) > LISTING_LIMIT else ""
    return f"{parent} holds: {shown}{more}"


class _SklearnPredictor:
    device = "cpu"

    def __init__(self, estimator: Any) -> None:
        self._estimator = estimator

    def predict_proba(self, rows: Sequence[Sequence[FeatureValue]]) -> list[list[float]]:
        import numpy as np

        # Features go in as one object array in metadata order: mixed types survive, and the
        # pipeline's ColumnTransformer selects columns by position.
        matrix = np.array(rows, dtype=object)
        probabilities: list[list[float]] = self._estimator.predict_proba(matrix).tolist()
        return probabilities


@register_loader("sklearn")
def load_sklearn(artifact: Path, metadata: ModelMetadata) -> Predictor:
    # Imported here so images for other frameworks need not ship scikit-learn.
    import joblib

    estimator = joblib.load(artifact)
    if not hasattr(estimator, "predict_proba"):
        raise ModelLoadError(f"{artifact}: {type(estimator).__name__} has no predict_proba")
    classes = [str(label) for label in getattr(estimator, "classes_", [])]
    expected = [str(label) for label in metadata.labels]
    if classes != expected:
        raise ModelLoadError(
            f"{artifact}: estimator classes {classes} differ from model.json labels {expected}"
        )
    return _SklearnPredictor(estimator)


class _TransformersPredictor:
    """A sequence classifier saved with `save_pretrained`; one `str` feature holds the text."""

    def __init__(self, model: Any, tokenizer: Any, device: str, max_length: int) -> None:
        self._model = model
        self._tokenizer = tokenizer
        self._max_length = max_length
        self.device = device

    def predict_proba(self, rows: Sequence[Sequence[FeatureValue]]) -> list[list[float]]:
        import torch

        texts = [str(row[0]) for row in rows]
        batch = self._tokenizer(
            texts, padding=True, truncation=True, max_length=self._max_length, return_tensors="pt"
        ).to(self.device)
        with torch.inference_mode():
            logits = self._model(**batch).logits
        probabilities: list[list[float]] = torch.softmax(logits.float(), dim=-1).cpu().tolist()
        return probabilities


@register_loader("transformers")
def load_transformers(artifact: Path, metadata: ModelMetadata) -> Predictor:
    """`artifact` is the model's `config.json`; weights and tokenizer sit beside it.

    Only local files are read (`local_files_only`): a served model never reaches for a hub.
    """
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    if len(metadata.features) != 1 or metadata.features[0].type != "str":
        raise ModelLoadError(f"{artifact}: a text classifier takes exactly one str feature")
    directory = artifact.parent
    device = "cuda:0" if torch.cuda.is_available() else "cpu"
    model = AutoModelForSequenceClassification.from_pretrained(directory, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(directory, local_files_only=True)
    labels = [str(model.config.id2label[index]) for index in range(model.config.num_labels)]
    expected = [str(label) for label in metadata.labels]
    if labels != expected:
        raise ModelLoadError(
            f"{artifact}: the model's labels {labels} differ from model.json labels {expected}"
        )
    model.to(device).eval()
    return _TransformersPredictor(
        model, tokenizer, device, int(model.config.max_position_embeddings)
    )
