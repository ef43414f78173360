"""The Python SDK of the mrgov provider: typed resource classes carrying the schema's type tokens.

Each class takes the resource's declaration (the same dataclass the provider checks and the schema is
made from) as its args, so a property exists in the SDK exactly when it exists in the schema;
`tests/unit/test_provider_schema.py` keeps the typed attributes below in step with the schema.
Nothing here imports MLflow: a program that declares resources stays light.
"""

from __future__ import annotations

from typing import Any

import pulumi

from provider import VERSION
from provider.auth.model_permissions import ModelPermissionsProps as ModelPermissionsArgs
from provider.auth.role import RoleProps as RoleArgs
from provider.config import ProviderConfig as ProviderArgs
from provider.declare import Props, from_wire, specs, to_wire
from provider.events.webhook import WebhookProps as WebhookArgs
from provider.registry.deployment_job_link import DeploymentJobLinkProps as DeploymentJobLinkArgs
from provider.registry.gates import Gate
from provider.registry.model_metadata import ModelMetadataProps as ModelMetadataArgs
from provider.registry.registered_model import RegisteredModelProps as RegisteredModelArgs

__all__ = [
    "DeploymentJobLink",
    "DeploymentJobLinkArgs",
    "Gate",
    "ModelMetadata",
    "ModelMetadataArgs",
    "ModelPermissions",
    "ModelPermissionsArgs",
    "Provider",
    "ProviderArgs",
    "RegisteredModel",
    "RegisteredModelArgs",
    "Role",
    "RoleArgs",
    "Webhook",
    "WebhookArgs",
]


def _props(args: Props) -> dict[str, Any]:
    """The resource's properties by wire name: inputs from `args` (secrets wrapped), outputs None.

    Wire names go to the engine as they are: the SDK's name translation (`translate_input_property`)
    would also rename the keys of map values such as tags and aliases.
    """
    props: dict[str, Any] = {}
    for s in specs(type(args)):
        # Nested object types (a ModelMetadata's `Gate`s) go as mappings of wire names.
        value = None if s.role.output else to_wire(getattr(args, s.attr))
        props[s.name] = pulumi.Output.secret(value) if s.role.secret and value is not None else value
    return props


def _options(opts: pulumi.ResourceOptions | None) -> pulumi.ResourceOptions:
    # The version the program asks for must equal the one in Pulumi.yaml's `plugins` entry.
    return pulumi.ResourceOptions.merge(pulumi.ResourceOptions(version=VERSION), opts)


class _Custom(pulumi.CustomResource):
    """A resource whose outputs are attributes by wire name; the Python names are properties below."""

    def _out(self, wire_name: str) -> pulumi.Output[Any]:
        # The SDK stores outputs in the instance's __dict__ by wire name, where a property of the same
        # name (`gates`) would shadow them.
        value: pulumi.Output[Any] = self.__dict__[wire_name]
        return value


class Provider(pulumi.ProviderResource):
    """An instance of the mrgov provider: one registry and the credentials to reach it."""

    def __init__(self, resource_name: str, args: ProviderArgs, opts: pulumi.ResourceOptions | None = None):
        props = {k: v for k, v in _props(args).items() if v is not None}
        super().__init__("mrgov", resource_name, props, _options(opts))


class RegisteredModel(_Custom):
    """A registered model on an MLflow tracking server (`mrgov:registry:RegisteredModel`)."""

    name: pulumi.Output[str]
    description: pulumi.Output[str]
    adopted: pulumi.Output[bool]

    def __init__(
        self, resource_name: str, args: RegisteredModelArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__(RegisteredModelArgs.TOKEN, resource_name, _props(args), _options(opts))

    @property
    def initial_tags(self) -> pulumi.Output[dict[str, str]]:
        return self._out("initialTags")

    @property
    def retain_on_delete(self) -> pulumi.Output[bool]:
        return self._out("retainOnDelete")

    @property
    def registry_aliases(self) -> pulumi.Output[dict[str, str]]:
        return self._out("registryAliases")


class ModelMetadata(_Custom):
    """A model's tags, alias pins, version descriptions and version tags (`mrgov:registry:ModelMetadata`)."""

    model: pulumi.Output[str]
    tags: pulumi.Output[dict[str, str]]
    aliases: pulumi.Output[dict[str, str]]
    lineage: pulumi.Output[dict[str, dict[str, str]]]

    def __init__(
        self, resource_name: str, args: ModelMetadataArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__(ModelMetadataArgs.TOKEN, resource_name, _props(args), _options(opts))

    @property
    def version_descriptions(self) -> pulumi.Output[dict[str, str]]:
        return self._out("versionDescriptions")

    @property
    def version_tags(self) -> pulumi.Output[dict[str, dict[str, str]]]:
        return self._out("versionTags")

    @property
    def other_aliases(self) -> pulumi.Output[dict[str, str]]:
        return self._out("otherAliases")

    @property
    def archive_after_days(self) -> pulumi.Output[int | None]:
        return self._out("archiveAfterDays")

    @property
    def archive_keep_latest(self) -> pulumi.Output[int]:
        return self._out("archiveKeepLatest")

    @property
    def gates(self) -> pulumi.Output[dict[str, Gate]]:
        # The engine hands nested objects back as mappings of wire names.
        return self._out("gates").apply(lambda gates: from_wire(dict[str, Gate], gates or {}))

    @property
    def gate_overrides(self) -> pulumi.Output[dict[str, str]]:
        return self._out("gateOverrides")

    @property
    def latest_version(self) -> pulumi.Output[str]:
        return self._out("latestVersion")


class ModelPermissions(_Custom):
    """Declared users' and roles' levels on one model (`mrgov:auth:ModelPermissions`)."""

    model: pulumi.Output[str]
    users: pulumi.Output[dict[str, str]]
    roles: pulumi.Output[dict[str, str]]
    workspace: pulumi.Output[str]

    def __init__(
        self, resource_name: str, args: ModelPermissionsArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__(ModelPermissionsArgs.TOKEN, resource_name, _props(args), _options(opts))


class Role(_Custom):
    """An MLflow role and, optionally, its members (`mrgov:auth:Role`)."""

    name: pulumi.Output[str]
    description: pulumi.Output[str]
    members: pulumi.Output[list[str] | None]
    workspace: pulumi.Output[str]

    def __init__(self, resource_name: str, args: RoleArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(RoleArgs.TOKEN, resource_name, _props(args), _options(opts))


# ------------------------------------------------------------------------------------------------
# Registry events
# ------------------------------------------------------------------------------------------------
class Webhook(_Custom):
    """An MLflow webhook: registry events POSTed, signed, to a URL (`mrgov:events:Webhook`)."""

    name: pulumi.Output[str]
    url: pulumi.Output[str]
    events: pulumi.Output[list[str]]
    description: pulumi.Output[str]
    status: pulumi.Output[str]
    secret: pulumi.Output[str | None]

    def __init__(self, resource_name: str, args: WebhookArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(WebhookArgs.TOKEN, resource_name, _props(args), _options(opts))


class DeploymentJobLink(_Custom):
    """A Unity Catalog model's deployment job (`mrgov:registry:DeploymentJobLink`)."""

    model: pulumi.Output[str]

    def __init__(
        self, resource_name: str, args: DeploymentJobLinkArgs, opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__(DeploymentJobLinkArgs.TOKEN, resource_name, _props(args), _options(opts))

    @property
    def job_id(self) -> pulumi.Output[str]:
        return self._out("jobId")

    @property
    def job_state(self) -> pulumi.Output[str]:
        return self._out("jobState")
