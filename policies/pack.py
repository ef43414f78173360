"""The pulumi-policy side of the pack: each rule of policies/governance.py as a Pulumi policy.

A rule's id is the policy name, so `pulumi preview` reports `[mandatory] model-description` and the
like. Mandatory rules are `EnforcementLevel.MANDATORY` (preview and `up` fail), advisory ones
`ADVISORY` (a warning). The per-rule settings (`requiredTags`, `productionStacks`, ...) come from
`--policy-pack-config`, keyed by rule id, as Pulumi's policy config always is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyConfigSchema,
    PolicyPack,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

from components import rules
from policies.governance import PACK_NAME, POLICY_RULES, UNKNOWN, PolicyRule, Res

LEVEL: Mapping[rules.Severity, EnforcementLevel] = {
    "mandatory": EnforcementLevel.MANDATORY,
    "advisory": EnforcementLevel.ADVISORY,
}


def plain(value: Any) -> Any:
    """pulumi-policy's property proxies as plain dicts and lists; values unknown in preview as UNKNOWN.

    The proxies raise UnknownValueError on any unknown value they are asked for; a rule that does not
    need that value should still run, so each value is read on its own.
    """
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key in value:
            try:
                out[str(key)] = plain(value[key])
            except UnknownValueError:
                out[str(key)] = UNKNOWN
        return out
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        items: list[Any] = []
        for i in range(len(value)):
            try:
                items.append(plain(value[i]))
            except UnknownValueError:
                items.append(UNKNOWN)
        return items
    return value


def to_res(resource: Any) -> Res:
    """A Res from pulumi-policy's ResourceValidationArgs, PolicyResource or PolicyProviderResource.

    The first two carry the resource's provider (`provider`: a PolicyProviderResource with the
    provider's type, name, URN and inputs) when the engine sends it; it does for explicit and default
    providers alike, in resource and stack analysis.
    """
    opts = getattr(resource, "opts", None)
    provider = getattr(resource, "provider", None)
    return Res(
        type=resource.resource_type,
        name=resource.name,
        urn=resource.urn,
        props=plain(resource.props),
        protect=bool(getattr(opts, "protect", False)),
        provider=to_res(provider) if provider is not None else None,
    )


def _described(rule: PolicyRule) -> dict[str, Any]:
    """The policy's arguments besides its `validate`, the same for a resource and a stack policy."""
    config = rule.config
    schema = PolicyConfigSchema(properties={k: dict(v) for k, v in config.items()}) if config else None
    return {
        "name": rule.id,
        "description": rule.title,
        "enforcement_level": LEVEL[rule.severity],
        "config_schema": schema,
    }


def resource_policy(rule: PolicyRule) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        for finding in rule.check(to_res(args), args.get_config() or {}):  # type: ignore[arg-type]
            report(finding.message, None)

    return ResourceValidationPolicy(validate=validate, **_described(rule))


def stack_policy(rule: PolicyRule) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report: ReportViolation) -> None:
        resources = [to_res(r) for r in args.resources]
        for finding in rule.check(resources, args.get_config() or {}):  # type: ignore[arg-type]
            report(finding.message, finding.urn or None)

    return StackValidationPolicy(validate=validate, **_described(rule))


def policies() -> list[Policy]:
    return [resource_policy(r) if r.scope == "resource" else stack_policy(r) for r in POLICY_RULES]


def serve() -> None:
    """Serve the pack to the engine (blocks until the engine stops it)."""
    PolicyPack(name=PACK_NAME, policies=policies())
