"""The typed stack spec: the one place that reads Pulumi config.

Walking-skeleton version: a target and the models to declare. The spec issue
grows this into the full description (catalog, schemas, roles, grants, tags,
aliases) with governance rules.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True)


class MlflowTarget(_Spec):
    """Any MLflow tracking server; credentials come from the environment."""

    kind: Literal["mlflow"]
    tracking_uri: str


class DatabricksTarget(_Spec):
    """A Databricks workspace with Unity Catalog; credentials from the Databricks environment."""

    kind: Literal["databricks"]


Target = Annotated[MlflowTarget | DatabricksTarget, Field(discriminator="kind")]


class ModelSpec(_Spec):
    """One registered model, named within the stack's catalog and schema."""

    name: str
    description: str = ""


class StackSpec(_Spec):
    """Everything one stack declares."""

    stack: str
    target: Target
    catalog: str
    schema_name: str = Field("gold_features", alias="schema")
    models: tuple[ModelSpec, ...] = ()

    def full_name(self, model: ModelSpec) -> str:
        return f"{self.catalog}.{self.schema_name}.{model.name}"


class SpecError(ValueError):
    """Bad stack config; the message names the stack, the key and what is allowed."""


DEFAULT_MODELS: tuple[dict[str, str], ...] = (
    {"name": "cost_anomaly_detector", "description": "Detects unusual spending in Databricks usage."},
)


def build(stack: str, raw: dict[str, Any]) -> StackSpec:
    """Validate raw config values (keys without the project prefix) into a StackSpec."""
    data = {"stack": stack, "models": list(DEFAULT_MODELS), **raw}
    try:
        return StackSpec.model_validate(data)
    except ValidationError as exc:
        problems = "\n".join(
            f"  mrgov:{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise SpecError(f"stack {stack!r} (Pulumi.{stack}.yaml) has bad config:\n{problems}") from None


def load_from_pulumi() -> StackSpec:
    """Read this stack's config through pulumi.Config and validate it."""
    import pulumi

    cfg = pulumi.Config()
    raw: dict[str, Any] = {}
    for key in ("target", "catalog", "schema", "models"):
        value = cfg.get(key)
        if value is not None:
            try:
                raw[key] = json.loads(value)  # objects and lists arrive as JSON text
            except json.JSONDecodeError:
                raw[key] = value
    return build(pulumi.get_stack(), raw)
