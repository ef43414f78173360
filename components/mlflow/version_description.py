"""VersionDescription: the description of one model version, on MLflow or on Unity Catalog.

A version's description is the only thing about a version the stack declares (versions themselves
come from training). Removing the declaration clears the description, unless someone changed it
since, in which case theirs is kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, UpdateResult

from components.mlflow import state
from components.mlflow.base import Checker, RegistryError, RegistryProvider, diff_of, strip_provider
from components.mlflow.client import is_not_found, registry_client

REPLACE_KEYS = ("registry_uri", "model", "version")


@dataclass
class VersionDescriptionArgs:
    """Inputs of a VersionDescription."""

    registry_uri: pulumi.Input[str]
    """An MLflow tracking server URL, or `databricks-uc`."""
    model: pulumi.Input[str]
    """The registered model's full name."""
    version: pulumi.Input[str | int]
    description: pulumi.Input[str]


def version_id(model: str, version: str) -> str:
    """The resource id, `model/version`: what `import` takes (model names cannot contain '/')."""
    return f"{model}/{version}"


def _outs(props: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "registry_uri": props["registry_uri"],
        "model": props["model"],
        "version": props["version"],
        "description": description,
    }


class VersionDescriptionProvider(RegistryProvider):
    """Sets, reads and clears one version's description."""

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> Any:
        c = Checker(news)
        c.uri("registry_uri")
        c.model_name("model")
        c.version("version")
        c.text("description", required=False)
        return c.result()

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        return diff_of(olds, news, REPLACE_KEYS, ("description",))

    def create(self, props: dict[str, Any]) -> CreateResult:
        props = strip_provider(props)
        self._set(props["registry_uri"], props["model"], props["version"], props.get("description") or "")
        return CreateResult(
            id_=version_id(props["model"], props["version"]), outs=_outs(props, props["description"])
        )

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        news = strip_provider(news)
        self._set(news["registry_uri"], news["model"], news["version"], news.get("description") or "")
        return UpdateResult(outs=_outs(news, news["description"]))

    @staticmethod
    def _set(uri: str, model: str, version: str, description: str) -> None:
        try:
            updated = registry_client(uri).update_model_version(model, version, description)
        except Exception as exc:
            state.forget_version(uri, model, version)
            if is_not_found(exc):
                raise RegistryError(
                    f"cannot describe version {version} of model {model!r}: it does not exist on {uri}"
                ) from exc
            raise
        state.remember_version(uri, updated)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        props = strip_provider(props)
        model, _, version = id_.rpartition("/")
        props = {**props, "model": props.get("model") or model, "version": props.get("version") or version}
        current = state.get_version(props["registry_uri"], props["model"], props["version"])
        if current is None:
            return ReadResult(None, {})
        return ReadResult(id_, _outs(props, current.description))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        uri, model, version = props["registry_uri"], props["model"], props["version"]
        current = state.get_version(uri, model, version, fresh=True)
        if current is None or current.description != (props.get("description") or ""):
            return  # gone, or someone else's text by now: not ours to clear
        self._set(uri, model, version, "")


class VersionDescription(Resource, module="mrgov", name="VersionDescription"):
    """The description of one model version."""

    registry_uri: pulumi.Output[str]
    model: pulumi.Output[str]
    version: pulumi.Output[str]
    description: pulumi.Output[str]

    def __init__(
        self, resource_name: str, args: VersionDescriptionArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(VersionDescriptionProvider(), resource_name, vars(args).copy(), opts)
