"""RegisteredModel: a registered model on an MLflow registry, as a Pulumi dynamic resource.

- Create adopts a model that already exists (a training pipeline got there first): no error, no
  recreation; only the declared description is applied.
- The description is updated in place. A new name or registry is a replacement (and so a delete of
  the old model, which the rule below guards).
- Delete refuses while the model has versions, because deleting a model deletes its versions. With
  `retain_on_delete` the model is left in the registry instead.
- `initial_tags` are sent with the create call, which saves one request per tag (FACTS.md §2); they are
  not diffed. `ModelTags` manages tags after that, and finds them already set.
- The output `registry_aliases` is every alias on the model as last seen (at create, update or
  refresh), including those the stack does not manage; it is never diffed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, UpdateResult

from components.mlflow import state
from components.mlflow.base import Checker, RegistryError, RegistryProvider, diff_of, strip_provider
from components.mlflow.client import is_already_exists, is_not_found, registry_client

PROMPT_TAG = "mlflow.prompt.is_prompt"
REPLACE_KEYS = ("registry_uri", "name")
UPDATE_KEYS = ("description", "retain_on_delete")


@dataclass
class RegisteredModelArgs:
    """Inputs of a RegisteredModel."""

    registry_uri: pulumi.Input[str]
    """An MLflow tracking server URL (`http://127.0.0.1:5000`), or `databricks-uc`."""
    name: pulumi.Input[str]
    """The full name, `catalog.schema.model`."""
    description: pulumi.Input[str] = ""
    initial_tags: pulumi.Input[dict[str, str]] = field(default_factory=dict)
    """Tags sent with the create request only (ModelTags owns them afterwards)."""
    retain_on_delete: pulumi.Input[bool] = False
    """Leave the model in the registry when it leaves the stack, instead of deleting it."""


def _outs(props: dict[str, Any], seen: state.ModelState | None, **overrides: Any) -> dict[str, Any]:
    keys = (*REPLACE_KEYS, *UPDATE_KEYS, "initial_tags")
    outs = {k: overrides.get(k, props.get(k)) for k in keys}
    outs["registry_aliases"] = (
        dict(sorted(seen.aliases.items())) if seen else props.get("registry_aliases", {})
    )
    return outs


class RegisteredModelProvider(RegistryProvider):
    """Creates (or adopts), reads, updates and deletes one registered model."""

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> Any:
        c = Checker(news)
        c.uri("registry_uri")
        c.model_name("name")
        c.text("description", required=False)
        c.tags("initial_tags")
        c.flag("retain_on_delete")
        return c.result()

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        # Create the new model before deleting the old one: if the old one is refused (it has
        # versions), the stack still has the new one.
        return diff_of(olds, news, REPLACE_KEYS, UPDATE_KEYS)

    def create(self, props: dict[str, Any]) -> CreateResult:
        props = strip_provider(props)
        uri, name, description = props["registry_uri"], props["name"], props.get("description") or ""
        client = registry_client(uri)
        try:
            created = client.create_registered_model(
                name, tags=props.get("initial_tags") or {}, description=description or None
            )
        except Exception as exc:
            if not is_already_exists(exc):
                raise
            seen = self._adopt(uri, name, description)
        else:
            seen = state.remember_model(uri, created)
        return CreateResult(id_=name, outs=_outs(props, seen))

    def _adopt(self, uri: str, name: str, description: str) -> state.ModelState:
        current = state.get_model(uri, name, fresh=True)
        if current is None:  # deleted between our create and our read: let the next run create it
            raise RegistryError(f"registered model {name!r} on {uri} vanished while being adopted; run again")
        if current.tags.get(PROMPT_TAG, "").lower() == "true":
            raise RegistryError(
                f"{name!r} on {uri} is an MLflow prompt, not a registered model; choose another model name"
            )
        if current.description != description:
            return state.remember_model(uri, registry_client(uri).update_registered_model(name, description))
        return current

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        props = strip_provider(props)
        uri = props["registry_uri"]
        current = state.get_model(uri, id_)
        if current is None:
            return ReadResult(None, {})
        return ReadResult(id_, _outs(props, current, name=current.name, description=current.description))

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        news = strip_provider(news)
        uri, name = news["registry_uri"], news["name"]
        # retain_on_delete lives in the state only: changing it sends nothing.
        seen = None
        if (olds.get("description") or "") != (news.get("description") or ""):
            seen = state.remember_model(
                uri, registry_client(uri).update_registered_model(name, news["description"])
            )
        return UpdateResult(outs=_outs({**news, "registry_aliases": olds.get("registry_aliases", {})}, seen))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        uri = props["registry_uri"]
        if props.get("retain_on_delete"):
            return
        client = registry_client(uri)
        versions = sorted(
            (int(v.version) for v in client.search_model_versions(f"name='{id_}'", max_results=100)),
        )
        if versions:
            listed = ", ".join(str(v) for v in versions[:10]) + (", ..." if len(versions) > 10 else "")
            raise RegistryError(
                f"refusing to delete registered model {id_!r} on {uri}: it still has "
                f"{len(versions)}{'+' if len(versions) == 100 else ''} version(s) ({listed}), and deleting "
                "the model would delete them. Delete the versions first, or set retainOnDelete: true on "
                "the model to leave it in the registry when it leaves the stack."
            )
        try:
            client.delete_registered_model(id_)
        except Exception as exc:
            if not is_not_found(exc):
                raise
        finally:
            state.forget_model(uri, id_)


class RegisteredModel(Resource, module="mrgov", name="RegisteredModel"):
    """A registered model named `catalog.schema.model` on an MLflow registry."""

    registry_uri: pulumi.Output[str]
    name: pulumi.Output[str]
    description: pulumi.Output[str]
    retain_on_delete: pulumi.Output[bool]
    registry_aliases: pulumi.Output[dict[str, str]]

    def __init__(
        self, resource_name: str, args: RegisteredModelArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        # registry_aliases is an output only; declaring it makes it an attribute of the resource.
        super().__init__(
            RegisteredModelProvider(), resource_name, {**vars(args), "registry_aliases": None}, opts
        )
