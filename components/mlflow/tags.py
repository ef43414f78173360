"""ModelTags: the declared tags of one registered model, on MLflow or on Unity Catalog.

Only the declared keys are managed. Removing a key from the declaration deletes that tag; tags that
others set (a training job's `git_sha`) are never read into the state, diffed or deleted.
Parametric on `registry_uri`: the MLflow target passes the server URL, the Databricks target
`databricks-uc`, and the same code serves both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, UpdateResult

from components.mlflow import state
from components.mlflow.base import Checker, RegistryError, RegistryProvider, diff_of, strip_provider
from components.mlflow.client import is_not_found, registry_client

REPLACE_KEYS = ("registry_uri", "model")


@dataclass
class ModelTagsArgs:
    """Inputs of ModelTags."""

    registry_uri: pulumi.Input[str]
    """An MLflow tracking server URL, or `databricks-uc`."""
    model: pulumi.Input[str]
    """The registered model's full name."""
    tags: pulumi.Input[dict[str, str]]
    """The managed tags; keys not listed here are left alone."""


def _outs(props: dict[str, Any], tags: dict[str, str]) -> dict[str, Any]:
    return {
        "registry_uri": props["registry_uri"],
        "model": props["model"],
        "tags": dict(sorted(tags.items())),
    }


class ModelTagsProvider(RegistryProvider):
    """Sets, reads and deletes the declared tags of one model."""

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> Any:
        c = Checker(news)
        c.uri("registry_uri")
        c.model_name("model")
        c.tags("tags")
        return c.result()

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        return diff_of(olds, news, REPLACE_KEYS, ("tags",))

    def create(self, props: dict[str, Any]) -> CreateResult:
        props = strip_provider(props)
        uri, model, tags = props["registry_uri"], props["model"], props.get("tags") or {}
        # The model usually was just created with these tags (RegisteredModel sends them), and its
        # answer is cached: then there is nothing to send.
        current = state.get_model(uri, model)
        if current is None:
            raise RegistryError(f"cannot tag registered model {model!r} on {uri}: it does not exist")
        self._apply(uri, model, {k: v for k, v in tags.items() if current.tags.get(k) != v}, [])
        return CreateResult(id_=model, outs=_outs(props, tags))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        props = strip_provider(props)
        model = props.get("model") or id_
        current = state.get_model(props["registry_uri"], model)
        if current is None:
            return ReadResult(None, {})
        declared = props.get("tags") or {}
        held = {k: current.tags[k] for k in declared if k in current.tags}
        return ReadResult(id_, _outs({**props, "model": model}, held))

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        news = strip_provider(news)
        old_tags: dict[str, str] = olds.get("tags") or {}
        new_tags: dict[str, str] = news.get("tags") or {}
        sets = {k: v for k, v in new_tags.items() if old_tags.get(k) != v}
        deletes = [k for k in old_tags if k not in new_tags]
        self._apply(news["registry_uri"], news["model"], sets, deletes)
        return UpdateResult(outs=_outs(news, new_tags))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        try:
            self._apply(props["registry_uri"], props["model"], {}, list(props.get("tags") or {}))
        except Exception as exc:
            if not is_not_found(exc):  # the model is gone, and its tags with it
                raise

    @staticmethod
    def _apply(uri: str, model: str, sets: dict[str, str], deletes: list[str]) -> None:
        if not sets and not deletes:
            return
        client = registry_client(uri)
        try:
            for key, value in sorted(sets.items()):
                client.set_registered_model_tag(model, key, value)
            for key in sorted(deletes):
                client.delete_registered_model_tag(model, key)
        finally:
            state.forget_model(uri, model)


class ModelTags(Resource, module="mrgov", name="ModelTags"):
    """The declared tags of one registered model."""

    registry_uri: pulumi.Output[str]
    model: pulumi.Output[str]
    tags: pulumi.Output[dict[str, str]]

    def __init__(
        self, resource_name: str, args: ModelTagsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(ModelTagsProvider(), resource_name, vars(args).copy(), opts)
