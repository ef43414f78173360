"""ModelAlias: one alias of a registered model, pinned to a version, on MLflow or on Unity Catalog.

Before the alias is set or moved, the target version must exist, be READY, and carry a signature with
both inputs and outputs; otherwise the provider raises an error naming what is wrong, and nothing is
sent. Moving the alias to another version is an update, not a replacement, so the alias never
disappears in between. Only the declared alias is touched: other aliases on the model (a `Challenger`
set by a training job) are left alone.

On Unity Catalog (`registry_uri="databricks-uc"`) the signature is not downloaded: UC refuses to
register a version whose signature lacks inputs or outputs, so every READY version has one.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, UpdateResult

from components.mlflow import state
from components.mlflow.base import Checker, RegistryError, RegistryProvider, diff_of, strip_provider
from components.mlflow.client import (
    is_not_found,
    is_uc,
    preload_mlflow,
    registry_client,
    tracking_uri_for,
)

REPLACE_KEYS = ("registry_uri", "model", "alias")
READY = "READY"


@dataclass
class ModelAliasArgs:
    """Inputs of a ModelAlias."""

    registry_uri: pulumi.Input[str]
    """An MLflow tracking server URL, or `databricks-uc`."""
    model: pulumi.Input[str]
    """The registered model's full name."""
    alias: pulumi.Input[str]
    """For example `Production`; `latest` and `v<number>` are reserved."""
    version: pulumi.Input[str | int]
    """The version the alias points at."""


def alias_id(model: str, alias: str) -> str:
    """The resource id, `model@alias`: what `import` takes."""
    return f"{model}@{alias}"


def _outs(props: dict[str, Any], version: str) -> dict[str, Any]:
    return {
        "registry_uri": props["registry_uri"],
        "model": props["model"],
        "alias": props["alias"],
        "version": version,
    }


def verify_version(uri: str, model: str, alias: str, version: str) -> None:
    """Raise RegistryError unless `version` of `model` exists, is READY and has a full signature.

    The verdict is kept for the provider process's cache lifetime, so two aliases pinned to one
    version (Champion and Production) verify it once.
    """
    reason = state.CACHE.get(("verified", uri, model, version), lambda: _problem(uri, model, version))
    if reason:
        raise RegistryError(f"cannot point alias {alias!r} of model {model!r} at version {version}: {reason}")


def _problem(uri: str, model: str, version: str) -> str:
    """What stops an alias pointing at the version ("" when nothing does)."""
    current = state.get_version(uri, model, version, fresh=True)
    if current is None:
        return f"version {version} does not exist on {uri}"
    if current.status != READY:
        return (
            f"the version's status is {current.status}, not {READY}; wait until its registration "
            "finishes (or register it again) and rerun"
        )
    if is_uc(uri):
        return ""
    try:
        inputs, outputs = _signature(uri, model, version)
    except Exception as exc:  # noqa: BLE001 - any failure to read it means we cannot vouch for the version
        return f"could not read the version's MLmodel file to check its signature: {exc}"
    missing = [part for part, present in (("inputs", inputs), ("outputs", outputs)) if not present]
    if len(missing) == 2:
        return (
            "the version was logged without a signature; log the model with "
            "signature=infer_signature(model_input, model_output) and register a new version"
        )
    if missing:
        return (
            f"the version's signature has no {missing[0]}; log the model with a signature that "
            "describes both inputs and outputs and register a new version"
        )
    return ""


def _signature(uri: str, model: str, version: str) -> tuple[bool, bool]:
    """(has inputs, has outputs) of the version's logged signature, from its MLmodel file."""
    preload_mlflow()
    from mlflow.artifacts import download_artifacts
    from mlflow.models import Model

    source = registry_client(uri).get_model_version_download_uri(model, version)
    with tempfile.TemporaryDirectory(prefix="mrgov-mlmodel-") as tmp:
        path = download_artifacts(
            artifact_uri=f"{str(source).rstrip('/')}/MLmodel",
            dst_path=tmp,
            tracking_uri=tracking_uri_for(uri),
        )
        signature = Model.load(path).signature
    if signature is None:
        return False, False
    return bool(signature.inputs and signature.inputs.inputs), bool(
        signature.outputs and signature.outputs.inputs
    )


class ModelAliasProvider(RegistryProvider):
    """Sets, moves, reads and deletes one alias."""

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> Any:
        c = Checker(news)
        c.uri("registry_uri")
        c.model_name("model")
        c.alias("alias")
        c.version("version")
        return c.result()

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        return diff_of(olds, news, REPLACE_KEYS, ("version",))

    def create(self, props: dict[str, Any]) -> CreateResult:
        props = strip_provider(props)
        # An alias already pointing where declared is adopted when this process has just seen the model
        # (its create or adoption answered with it); otherwise verify and set, which is idempotent.
        current = state.cached_model(props["registry_uri"], props["model"])
        if current is None or current.aliases.get(props["alias"]) != props["version"]:
            self._point(props)
        return CreateResult(id_=alias_id(props["model"], props["alias"]), outs=_outs(props, props["version"]))

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        news = strip_provider(news)
        self._point(news)
        return UpdateResult(outs=_outs(news, news["version"]))

    @staticmethod
    def _point(props: dict[str, Any]) -> None:
        uri, model, alias, version = props["registry_uri"], props["model"], props["alias"], props["version"]
        verify_version(uri, model, alias, version)
        try:
            registry_client(uri).set_registered_model_alias(model, alias, version)
        finally:
            state.forget_model(uri, model)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        props = strip_provider(props)
        model, _, alias = id_.rpartition("@")
        props = {**props, "model": props.get("model") or model, "alias": props.get("alias") or alias}
        current = state.get_model(props["registry_uri"], props["model"])
        version = current.aliases.get(props["alias"]) if current is not None else None
        if version is None:
            return ReadResult(None, {})
        return ReadResult(id_, _outs(props, version))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        uri, model = props["registry_uri"], props["model"]
        try:
            registry_client(uri).delete_registered_model_alias(model, props["alias"])
        except Exception as exc:
            if not is_not_found(exc):  # the model is gone, and its aliases with it
                raise
        finally:
            state.forget_model(uri, model)


class ModelAlias(Resource, module="mrgov", name="ModelAlias"):
    """One alias of a registered model, pinned to a version."""

    registry_uri: pulumi.Output[str]
    model: pulumi.Output[str]
    alias: pulumi.Output[str]
    version: pulumi.Output[str]

    def __init__(
        self, resource_name: str, args: ModelAliasArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(ModelAliasProvider(), resource_name, vars(args).copy(), opts)
