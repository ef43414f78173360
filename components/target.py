"""The target contract: what the program and the commands ask of a target (an MLflow server, Unity Catalog).

Each target is a folder under components/ with its registry component and a `target.py` implementing
`Target`; components/targets.py is the one table of them, keyed by the `kind` a stack's `target` names.
Callers look the target up there and ask it, rather than test its kind. What the governance rules and
the spec ask of a target (they sit below the table) are the capabilities of its config model in
components/spec/document.py.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import pulumi

from components.spec import StackSpec

if TYPE_CHECKING:
    from components.audit.snapshot import RegistrySnapshot

HasPlugin = Callable[[str], bool] | None
"""Whether the Pulumi CLI has a provider plugin (None: do not check)."""
LocalSecrets = Callable[[], Mapping[str, str]] | None
"""The local MLflow server's secrets, read when asked (None: there is no local server)."""


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
    """One target: a check before anything registers, the registry it builds under the Environment, and
    what the project's commands (localdev/) need of it: previewing, auditing, a new environment."""

    @property
    def kind(self) -> str:
        """The `target.kind` a stack names to choose this target."""
        ...

    @property
    def tracking_uri_key(self) -> str | None:
        """The key of the target's config that `make new-env --tracking-uri` sets; None if it has none."""
        ...

    def before_registering(self, spec: StackSpec) -> None:
        """Raise to refuse a change before anything registers (say, dropping a model with versions)."""
        ...

    def registry(self, name: str, args: TargetArgs, opts: pulumi.ResourceOptions) -> RegistryOutputs:
        """Build the stack's registry on this target, a child `{name}-<kind>` of the Environment."""
        ...

    def label(self, spec: StackSpec) -> str:
        """How `make preview-all`'s summary names the stack's target (`mlflow http://…`)."""
        ...

    def preview_problem(self, spec: StackSpec, env: Mapping[str, str], has_plugin: HasPlugin) -> str | None:
        """Why `make preview-all` cannot preview the stack from here (a server down, no credentials, a
        provider plugin missing: `has_plugin` asks the Pulumi CLI, None skips that check), or None."""
        ...

    def audit_problem(
        self, spec: StackSpec, env: MutableMapping[str, str], local_secrets: LocalSecrets
    ) -> str | None:
        """Make the registry readable for `make audit` (credentials into `env`, `local_secrets` the
        local server's if there are any), or say why it cannot be read."""
        ...

    def read_registry(self, spec: StackSpec) -> RegistrySnapshot:
        """The stack's registry as the audit sees it (components/audit/), read-only."""
        ...
