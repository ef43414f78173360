"""RegisteredModel: a registered model on an MLflow server, as a Pulumi dynamic resource."""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, ResourceProvider, UpdateResult

from components.mlflow.client import client_for, is_not_found


class RegisteredModelProvider(ResourceProvider):
    """Creates (or adopts), reads, updates and deletes one registered model."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        client = client_for(props["tracking_uri"])
        try:
            client.create_registered_model(props["name"], description=props.get("description") or None)
        except Exception as exc:
            if getattr(exc, "error_code", None) != "RESOURCE_ALREADY_EXISTS":
                raise
            client.update_registered_model(props["name"], description=props.get("description") or "")
        return CreateResult(id_=props["name"], outs=dict(props))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = [k for k in ("name", "tracking_uri") if olds.get(k) != news.get(k)]
        changed = replaces or [k for k in ("description",) if olds.get(k) != news.get(k)]
        return DiffResult(changes=bool(changed), replaces=replaces, delete_before_replace=True)

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        client = client_for(props["tracking_uri"])
        try:
            model = client.get_registered_model(id_)
        except Exception as exc:
            if is_not_found(exc):
                return ReadResult(id_=None, outs={})
            raise
        return ReadResult(id_=id_, outs={**props, "name": model.name, "description": model.description or ""})

    def update(self, _id: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        client_for(news["tracking_uri"]).update_registered_model(
            news["name"], description=news.get("description") or ""
        )
        return UpdateResult(outs=dict(news))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        client = client_for(props["tracking_uri"])
        try:
            client.delete_registered_model(id_)
        except Exception as exc:
            if not is_not_found(exc):
                raise


class RegisteredModel(Resource):
    """A registered model named `catalog.schema.model` on an MLflow server."""

    name: pulumi.Output[str]
    description: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        *,
        tracking_uri: pulumi.Input[str],
        name: pulumi.Input[str],
        description: pulumi.Input[str] = "",
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(
            RegisteredModelProvider(),
            resource_name,
            {"tracking_uri": tracking_uri, "name": name, "description": description},
            opts,
        )
