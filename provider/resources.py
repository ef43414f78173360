"""Every resource the provider serves, one module each."""

from __future__ import annotations

from typing import Any

from provider.auth.model_permissions import ModelPermissions
from provider.auth.role import Role
from provider.events.webhook import Webhook
from provider.registry.deployment_job_link import DeploymentJobLink
from provider.registry.model_metadata import ModelMetadata
from provider.registry.registered_model import RegisteredModel
from provider.resource import Resource

RESOURCES: tuple[Resource[Any], ...] = (
    RegisteredModel(),
    ModelMetadata(),
    ModelPermissions(),
    Role(),
    # Registry events: an MLflow server's webhooks, a Unity Catalog model's deployment job.
    Webhook(),
    DeploymentJobLink(),
)
