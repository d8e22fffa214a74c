"""Request and response bodies. The request model is built from the loaded model's metadata."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, create_model, field_validator

from serve.model import Feature, FeatureValue, Label, ModelMetadata

# Strict: a JSON type mismatch ("12" for a number, 1 for a boolean) is a client error, not
# something to coerce silently. A JSON integer is still accepted where a float is declared.
_TYPES: dict[str, Any] = {
    "float": Annotated[float, Strict(), Field(allow_inf_nan=False)],
    # Bounded to what a float64 holds exactly, which is how numeric models consume it.
    "int": Annotated[int, Strict(), Field(ge=-(2**53), le=2**53)],
    "bool": Annotated[bool, Strict()],
    "str": Annotated[str, Strict()],
}


def request_validator(metadata: ModelMetadata) -> type[BaseModel]:
    """A model accepting `{"instances": {...}}` or `{"instances": [{...}, ...]}`.

    Feature names become aliases of positional field names, so any name (a Python keyword, a
    BaseModel attribute, one with spaces) works and validation errors name the feature itself.
    """
    fields: dict[str, Any] = {
        f"f{index}": (_annotation(feature), Field(alias=feature.name))
        for index, feature in enumerate(metadata.features)
    }
    instance = create_model("Instance", __config__=ConfigDict(extra="forbid"), **fields)
    validator: type[BaseModel] = create_model(
        "PredictRequestBody",
        __config__=ConfigDict(extra="forbid"),
        __validators__={"one_or_many": field_validator("instances", mode="before")(_as_list)},
        instances=(list[instance], Field(min_length=1)),  # type: ignore[valid-type]
    )
    return validator


def parse_instances(validator: type[BaseModel], body: bytes) -> list[dict[str, FeatureValue]]:
    """Validate raw JSON; raises pydantic.ValidationError naming the offending fields."""
    parsed: Any = validator.model_validate_json(body)
    return [instance.model_dump(by_alias=True) for instance in parsed.instances]


def _annotation(feature: Feature) -> Any:
    if feature.categories is not None:
        return Literal[feature.categories]
    return _TYPES[feature.type]


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, dict) else value


class Prediction(BaseModel):
    label: Label
    probability: float
    confident: bool


class PredictResponse(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    predictions: list[Prediction]
    model_version: str
