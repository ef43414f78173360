"""The target contract: what the Environment asks of a target (an MLflow server, Unity Catalog).

Each target is a folder under components/ with its registry component and a `target.py` implementing
`Target`; components/targets.py is the one table of them, keyed by the `kind` a stack's `target` names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import pulumi

from components.spec import StackSpec


class TargetArgs(Protocol):
    """What a target is given to build a stack's registry (EnvironmentArgs has it)."""

    @property
    def spec(self) -> StackSpec: ...
    @property
    def mlflow_password(self) -> pulumi.Input[str] | None: ...
    @property
    def webhook_secrets(self) -> Mapping[str, pulumi.Input[str]]: ...


@dataclass(frozen=True)
class RegistryOutputs:
    """The outputs every target gives the Environment, and so the stack (components/environment.py)."""

    model_names: pulumi.Output[dict[str, str]]
    alias_uris: pulumi.Output[dict[str, dict[str, str]]]
    grants: pulumi.Output[dict[str, dict[str, list[str]]]]
    unmanaged_aliases: pulumi.Output[dict[str, dict[str, str]]]
    adopted_models: pulumi.Output[list[str]]
    latest_versions: pulumi.Output[dict[str, dict[str, str]]]
    lineage: pulumi.Output[dict[str, dict[str, dict[str, str]]]]


class Target(Protocol):
    """One target: a check before anything registers, and the registry it builds under the Environment."""

    @property
    def kind(self) -> str:
        """The `target.kind` a stack names to choose this target."""
        ...

    def before_registering(self, spec: StackSpec) -> None:
        """Raise to refuse a change before anything registers (say, dropping a model with versions)."""
        ...

    def registry(self, name: str, args: TargetArgs, opts: pulumi.ResourceOptions) -> RegistryOutputs:
        """Build the stack's registry on this target, a child `{name}-<kind>` of the Environment."""
        ...
