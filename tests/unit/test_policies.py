"""The policy pack without the engine: resource inputs fed to the rules, and the pulumi-policy glue.

Each rule the pack applies has a passing and a failing case (`CASES`), asserted on rule id, severity
and message text. Our own stacks, built under Pulumi mocks, must pass the pack; a program written
straight against pulumi_databricks or the mrgov provider (no spec in between) must not.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
import pulumi_databricks as databricks
import pytest
from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

from components import rules
from components.databricks.registry import DatabricksRegistry, DatabricksRegistryArgs
from components.mlflow.registry import MlflowRegistry, MlflowRegistryArgs
from components.spec import build, load_stack_file
from policies import governance, pack
from policies.governance import POLICY_RULES, SPEC_ONLY, UNKNOWN, Finding, Res, evaluate
from provider import sdk
from tests.unit.conftest import (
    MRGOV_METADATA,
    MRGOV_MODEL,
    MRGOV_PERMISSIONS,
    MRGOV_PROVIDER,
    MRGOV_ROLE,
    MockRun,
)

ROOT = Path(__file__).resolve().parents[2]

CATALOG = "databricks:index/catalog:Catalog"
SCHEMA = "databricks:index/schema:Schema"
UC_MODEL = "databricks:index/registeredModel:RegisteredModel"
GRANTS = "databricks:index/grants:Grants"
GRANT = "databricks:index/grant:Grant"
PROVIDER = "pulumi:providers:databricks"

URI = "http://127.0.0.1:5000"
FULL = "dev_catalog.gold_features.cost_anomaly_detector"
OTHER = "dev_catalog.gold_features.budget_forecaster"
GOOD_TAGS = {"domain": "cost", "algorithm": "isolation_forest", "model_type": "anomaly_detection"}


def r(
    type_: str,
    name: str = "r",
    /,
    *,
    stack: str = "dev",
    protect: bool = False,
    provider: Res | None = None,
    **props: Any,
) -> Res:
    return Res(type_, name, f"urn:pulumi:{stack}::mrgov::{type_}::{name}", props, protect, provider)


def mrgov_provider(name: str = "mlflow", stack: str = "dev", **props: Any) -> Res:
    """A `pulumi:providers:mrgov` resource with these inputs (wire names)."""
    return r(MRGOV_PROVIDER, name, stack=stack, **props)


MLFLOW = mrgov_provider(trackingUri=URI)
UC = mrgov_provider("uc", registryUri="databricks-uc")


def model(name: str = FULL, description: str = "Detects odd spend.", **kw: Any) -> Res:
    stack = kw.pop("stack", "dev")
    return r(
        MRGOV_MODEL,
        kw.pop("res_name", "m"),
        stack=stack,
        provider=kw.pop("provider", MLFLOW),
        name=name,
        description=description,
        **kw,
    )


def metadata(
    model_name: str = FULL,
    *,
    res_name: str = "md",
    stack: str = "dev",
    provider: Res | None = MLFLOW,
    **props: Any,
) -> Res:
    """A ModelMetadata on `model_name`; props are its wire inputs (tags, aliases, versionDescriptions)."""
    return r(MRGOV_METADATA, res_name, stack=stack, provider=provider, model=model_name, **props)


def permissions(model_name: str = FULL, *, provider: Res | None = MLFLOW, **props: Any) -> Res:
    return r(MRGOV_PERMISSIONS, "perms", provider=provider, model=model_name, **props)


def role(name: str, *, provider: Res | None = MLFLOW, **props: Any) -> Res:
    return r(MRGOV_ROLE, f"role-{name}", provider=provider, name=name, **{"workspace": "default", **props})


def grants(
    privileges: list[str], principal: str = "dev-ml-engineers", on: str = "model", name: str = "g"
) -> Res:
    """A databricks.Grants on the model (or on a catalog or schema named like it: only the key matters)."""
    props: dict[str, Any] = {on: FULL, "grants": [{"principal": principal, "privileges": privileges}]}
    return r(GRANTS, name, **props)


def uc_model(**props: Any) -> Res:
    base = {"catalogName": "dev_catalog", "schemaName": "gold_features", "name": "cost_anomaly_detector"}
    return r(UC_MODEL, "uc", **{**base, "comment": "Detects odd spend.", **props})


def _one_metadata(
    rule_id: str, good: dict[str, Any], bad: dict[str, Any], says: str
) -> tuple[str, list[Res], list[Res], dict[str, Any], str]:
    """A case of CASES whose passing and failing resources are one ModelMetadata each, with these inputs."""
    return (rule_id, [metadata(**good)], [metadata(**bad)], {}, says)


# (rule id, passing resources, failing resources, config for the rule, text the failure says)
CASES: list[tuple[str, list[Res], list[Res], dict[str, Any], str]] = [
    (
        "securable-name",
        [r(CATALOG, name="dev_catalog"), r(SCHEMA, catalogName="dev_catalog", name="gold_features"), model()],
        [r(SCHEMA, catalogName="dev_catalog", name="Gold-Features")],
        {},
        "schema name 'Gold-Features' is not a valid name; allowed: lowercase letters, digits and '_'",
    ),
    (
        "model-name",
        [uc_model(), model()],
        [uc_model(name="CostModel")],
        {},
        "model name 'CostModel' does not follow the naming convention; allowed: lowercase snake_case",
    ),
    (
        "model-description",
        [uc_model(), model()],
        [model(description="  ")],
        {},
        "description is missing or empty; allowed: a text saying what the model does",
    ),
    (
        "required-tags",
        [model(initialTags={"domain": "cost"}), metadata(tags=GOOD_TAGS)],
        [model(initialTags={"domain": "cost"}), metadata(tags={"model_type": "x"})],
        {},
        "required tag 'algorithm' is missing or empty; allowed: every model carries domain, algorithm, "
        "model_type",
    ),
    (
        "tag-limits",
        [
            metadata(provider=UC, tags=GOOD_TAGS, versionTags={"3": {"validated": "true"}}),
            # Unity Catalog's limits, not MLflow's: on an MLflow server these tags are fine.
            metadata(OTHER, res_name="md2", tags={"team.name": "x" * 2000}),
            model(initialTags={"team.name": "platform"}),
        ],
        [metadata(provider=UC, tags={"team.name": "platform"})],
        {},
        "tags.team.name: tag key 'team.name' contains .; allowed: any characters except . , - = / :",
    ),
    _one_metadata(
        "alias-name",
        {"aliases": {"Champion": "3", "Production": "3"}},
        {"aliases": {"Champion": "3", "latest": "3"}},
        "alias 'latest' is reserved by MLflow",
    ),
    _one_metadata(
        "alias-version",
        {"aliases": {"Champion": "3", "Production": 3}},
        {"aliases": {"Champion": "3", "Production": "0"}},
        "alias 'Production': version '0' is not a model version; allowed: a positive integer such as 3",
    ),
    _one_metadata(
        "version-description",
        {"versionDescriptions": {"2": "First.", "3": "Retrained."}},
        {"versionDescriptions": {"2": "First.", "3": " "}},
        "version 3: is empty; allowed: a text saying what changed",
    ),
    (
        "privilege",
        [grants(["EXECUTE", "APPLY_TAG"]), grants(["USE CATALOG"], on="catalog")],
        [grants(["USE_MODEL"])],
        {},
        "there is no 'USE_MODEL' privilege in Unity Catalog; use EXECUTE (load, download, serve)",
    ),
    (
        "grant-shape",
        [grants(["EXECUTE"])],
        [grants([])],
        {},
        "is missing or empty; allowed: one or more privileges, such as [EXECUTE]",
    ),
    (
        "principal-name",
        [
            grants(["EXECUTE"]),
            role("ml_engineers"),
            permissions(users={"alice": "READ"}, roles={"ml_engineers": "EDIT"}),
        ],
        [grants(["EXECUTE"], principal=" ")],
        {},
        "is empty; allowed: a name",
    ),
    (
        "unique-names",
        [model(), model(OTHER, res_name="m2"), metadata(aliases={"Champion": "3"})],
        [model(), model("dev_catalog.gold_features.Cost_Anomaly_Detector", res_name="m2")],
        {},
        "declared by 2 resources ('m', 'm2'); names are case-insensitive; allowed: each model once",
    ),
    (
        "broad-all-privileges",
        [grants(["ALL_PRIVILEGES"], principal="dev-ml-engineers")],
        [grants(["ALL_PRIVILEGES"], principal="Account Users", on="catalog")],
        {},
        "ALL_PRIVILEGES to the broad principal 'Account Users'; allowed: narrower privileges",
    ),
    (
        "production-alias",
        [model(stack="prod"), metadata(stack="prod", aliases={"Production": "3"})],
        [model(stack="prod"), metadata(stack="prod", aliases={"Champion": "3"})],
        {},
        "model is served in production environment 'prod' but pins no 'Production' alias",
    ),
    (
        "deployer-manage",
        [grants(["MANAGE", "USE_CATALOG"], principal="deployer-sp", on="catalog")],
        [grants(["USE_CATALOG"], principal="deployer-sp", on="catalog")],
        {"deployer": "deployer-sp"},
        "would take MANAGE away from the deployer 'deployer-sp', which would lock `pulumi up` out",
    ),
    (
        "tracking-uri",
        [
            MLFLOW,
            UC,
            mrgov_provider("uc-profile", registryUri="databricks-uc://dev", trackingUri="databricks://dev"),
            mrgov_provider("from-env"),  # MLFLOW_TRACKING_URI, read by the provider at call time
        ],
        [mrgov_provider(trackingUri="127.0.0.1:5000")],
        {},
        "trackingUri '127.0.0.1:5000' is not a server URL; allowed: http://host:port or https://host",
    ),
    (
        "no-plaintext-credentials",
        [
            r(PROVIDER, "p", host="https://adb-1.azuredatabricks.net", profile="dev"),
            # The mrgov provider's declared secret inputs: its SDK sends them as Pulumi secrets.
            mrgov_provider(trackingUri=URI, username="admin", password="from-secret-config"),
        ],
        [r(PROVIDER, "p", host="https://adb-1.azuredatabricks.net", token="dapi0123")],
        {},
        "input 'token': credentials never go in config in clear; allowed: the environment",
    ),
    (
        "protect-production",
        [uc_model(stack="prod", protect=True), model(stack="dev")],
        [r(CATALOG, "cat", stack="prod", name="prod_catalog")],
        {},
        "protect is not set in production environment 'prod'; allowed: true",
    ),
    (
        "role-principals",
        [role("dashboards", members=["bi_user"]), permissions(roles={"dashboards": "READ"})],
        [role("dashboards", members=[]), permissions(roles={"dashboards": "READ"})],
        {},
        "role 'dashboards' is granted privileges but has no principals",
    ),
    _one_metadata(
        "pinned-version-described",
        {"aliases": {"Champion": "3"}, "versionDescriptions": {"3": "Retrained."}},
        {"aliases": {"Champion": "3"}, "versionDescriptions": {"2": "Retrained."}},
        "version 3 is pinned by alias 'Champion' but has no description",
    ),
]


def of(rule_id: str, findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.rule_id == rule_id]


def test_every_rule_of_the_pack_has_a_case() -> None:
    assert sorted(c[0] for c in CASES) == sorted(p.id for p in POLICY_RULES)


def test_every_rule_is_either_in_the_pack_or_spec_only() -> None:
    every = {r.id for r in rules.RULES} | {rid for rid, _s, _t in rules.RAW_RULES} | {"structure"}
    in_pack = {p.id for p in POLICY_RULES}
    assert in_pack | set(SPEC_ONLY) == every
    assert not in_pack & set(SPEC_ONLY)


def test_docs_list_every_rule_with_its_severity_and_scope() -> None:
    text = (ROOT / "docs" / "policies.md").read_text()
    rows = {
        m.group(1): (m.group(2), m.group(3))
        for m in re.finditer(r"^\| `([a-z-]+)` \| (mandatory|advisory) \| (resource|stack) \|", text, re.M)
    }
    assert rows == {p.id: (p.severity, p.scope) for p in POLICY_RULES}
    for rule_id in SPEC_ONLY:
        assert f"| `{rule_id}` |" in text


@pytest.mark.parametrize(("rule_id", "good", "bad", "config", "says"), CASES, ids=[c[0] for c in CASES])
def test_rule_passes_then_fails(
    rule_id: str, good: list[Res], bad: list[Res], config: dict[str, Any], says: str
) -> None:
    assert of(rule_id, evaluate(good, {rule_id: config})) == []
    found = of(rule_id, evaluate(bad, {rule_id: config}))
    assert found, f"{rule_id} found nothing in {bad}"
    assert any(says in f.message for f in found), [f.message for f in found]
    assert {f.severity for f in found} == {governance.SEVERITY[rule_id]}
    assert all(f.urn.startswith("urn:pulumi:") for f in found)


def test_message_names_the_resource_and_its_model() -> None:
    [finding] = of("model-description", evaluate([model(description="")]))
    assert finding.message.startswith(f"mrgov RegisteredModel 'm' (model '{FULL}'): description is missing")
    assert finding.urn == model().urn


def test_privilege_is_checked_against_the_securable() -> None:
    on_model = of("privilege", evaluate([grants(["CREATE_SCHEMA"])]))
    assert [f.message for f in on_model] == [
        f"databricks.Grants 'g': grant on model '{FULL}' to 'dev-ml-engineers': 'CREATE_SCHEMA' is not a "
        "privilege on a model; allowed: ALL_PRIVILEGES, APPLY_TAG, CREATE_MODEL_VERSION, EXECUTE, MANAGE"
    ]
    assert of("privilege", evaluate([grants(["CREATE_SCHEMA"], on="catalog")])) == []
    single = r(GRANT, "one", schema="dev_catalog.gold_features", principal="x", privileges=["USE_CATALOG"])
    assert [f.message for f in of("privilege", evaluate([single]))] == [
        "databricks.Grant 'one': grant on schema 'dev_catalog.gold_features' to 'x': 'USE_CATALOG' is not a "
        "privilege on a schema; allowed: " + ", ".join(sorted(rules.VALID_PRIVILEGES["schema"]))
    ]
    # Securables our rules do not cover (tables, volumes, ...) are not judged.
    assert (
        evaluate([r(GRANTS, "t", table="c.s.t", grants=[{"principal": "x", "privileges": ["SELECT"]}])]) == []
    )


def test_rule_knobs_come_from_the_pack_config() -> None:
    config: dict[str, dict[str, Any]] = {
        "model-name": {"modelNamePattern": "^[a-z]+$", "modelNameHint": "one lowercase word"},
        "required-tags": {"requiredTags": ["owner"]},
        "broad-all-privileges": {"broadPrincipals": ["everyone"]},
        "production-alias": {"productionStacks": ["live"], "servedModels": ["budget_forecaster"]},
    }
    found = evaluate(
        [
            model(stack="live"),
            metadata(tags={"owner": "cost-team"}),
            grants(["ALL_PRIVILEGES"], principal="everyone"),
            grants(["ALL_PRIVILEGES"], principal="account users", name="g2", on="catalog"),
        ],
        config,
    )
    assert [f.rule_id for f in found if f.severity == "mandatory"] == ["model-name", "broad-all-privileges"]
    assert "allowed: one lowercase word" in of("model-name", found)[0].message
    assert "'everyone'" in of("broad-all-privileges", found)[0].message
    # Only the configured served models must pin Production in the configured production stacks.
    served = model("c.s.budget_forecaster", stack="live", res_name="m2")
    assert of("production-alias", evaluate([served], config))


def test_unique_names_in_grants_and_grant_resources() -> None:
    twice = r(
        GRANTS,
        "g",
        model=FULL,
        grants=[
            {"principal": "a", "privileges": ["EXECUTE", "execute"]},
            {"principal": "a", "privileges": ["APPLY_TAG"]},
        ],
    )
    messages = [f.message for f in of("unique-names", evaluate([twice]))]
    assert any("principals: 'a' appears more than once in this list" in m for m in messages), messages
    assert any("privileges of 'a': 'EXECUTE' appears more than once" in m for m in messages), messages
    mixed = [grants(["EXECUTE"]), r(GRANT, "one", model=FULL, principal="b", privileges=["EXECUTE"])]
    [finding] = of("unique-names", evaluate(mixed))
    assert "databricks.Grants revokes what the others grant" in finding.message
    only_grant = [
        r(GRANT, "one", model=FULL, principal="a", privileges=["EXECUTE"]),
        r(GRANT, "two", model=FULL, principal="b", privileges=["EXECUTE"]),
    ]
    assert of("unique-names", evaluate(only_grant)) == []


def test_unknown_values_are_skipped_not_judged() -> None:
    pending = [
        model(name=UNKNOWN),
        metadata(provider=UC, tags=UNKNOWN, aliases={"Champion": UNKNOWN}, versionTags={"3": UNKNOWN}),
        metadata(OTHER, res_name="md2", aliases=UNKNOWN, versionDescriptions={"3": UNKNOWN}),
        permissions(users=UNKNOWN, roles={"x": UNKNOWN}),
        mrgov_provider(trackingUri=UNKNOWN, registryUri=UNKNOWN),
        r(GRANTS, "g", model=FULL, grants=[{"principal": UNKNOWN, "privileges": ["USE_MODEL"]}]),
    ]
    assert [f for f in evaluate(pending) if f.severity == "mandatory"] == []
    # A model whose pins are not known yet is not said to lack Production.
    prod = [model(stack="prod", protect=True), metadata(stack="prod", tags=GOOD_TAGS, aliases=UNKNOWN)]
    assert evaluate(prod) == []


def test_types_are_the_provider_declarations() -> None:
    assert governance.kind_of(sdk.ProviderArgs.TOKEN) == "mrgov_provider"
    assert governance.kind_of(sdk.RegisteredModelArgs.TOKEN) == "mlflow_model"
    assert governance.kind_of(sdk.ModelMetadataArgs.TOKEN) == "model_metadata"
    assert governance.kind_of(sdk.ModelPermissionsArgs.TOKEN) == "model_permissions"
    assert governance.kind_of(sdk.RoleArgs.TOKEN) == "mlflow_role"
    # The dynamic providers are gone, and so are their types.
    for gone in ("pulumi-python:dynamic/mrgov:ModelAlias", "pulumi-python:dynamic:Resource"):
        assert governance.kind_of(gone) is None
    assert governance.kind_of("aws:s3/bucket:Bucket") is None


def test_tag_limits_follow_the_provider_of_the_metadata() -> None:
    bad = {"team.name": "platform"}
    found = of("tag-limits", evaluate([metadata(provider=UC, tags=bad, versionTags={"3": {"a=b": "x"}})]))
    assert [f.message.split(": ", 1)[1] for f in found] == [
        "tags.team.name: tag key 'team.name' contains .; allowed: any characters except . , - = / :",
        "versionTags.3.a=b: tag key 'a=b' contains =; allowed: any characters except . , - = / :",
    ]
    many = {f"k{i}": "v" for i in range(51)}
    [finding] = of("tag-limits", evaluate([metadata(provider=UC, tags=many)]))
    assert "tags: 51 tags; allowed: at most 50 per model" in finding.message
    assert of("tag-limits", evaluate([metadata(provider=MLFLOW, tags=many)])) == []
    # A provider whose inputs do not name the registry (the environment does), or no provider at all:
    # Unity Catalog when the stack has databricks resources.
    unsaid = [
        mrgov_provider("env"),
        mrgov_provider("ws", trackingUri="databricks"),
        mrgov_provider("pending", registryUri=UNKNOWN),
        None,
    ]
    for provider in unsaid:
        alone = [metadata(provider=provider, tags=bad)]
        assert of("tag-limits", evaluate(alone)) == [], provider
        assert of("tag-limits", evaluate([*alone, uc_model()])), provider


def test_too_many_version_tags_are_counted_per_version() -> None:
    many = {f"k{i}": "v" for i in range(51)}
    [finding] = of("tag-limits", evaluate([metadata(provider=UC, versionTags={"3": many})]))
    assert finding.message.endswith(": versionTags.3: 51 tags; allowed: at most 50 per version")


def test_principal_names_of_model_permissions() -> None:
    found = of("principal-name", evaluate([permissions(users={" ": "READ"}, roles={"": "READ"})]))
    assert [f.message for f in found] == [
        f"mrgov ModelPermissions 'perms' (model '{FULL}'): users key ' ' is empty; allowed: a name",
        f"mrgov ModelPermissions 'perms' (model '{FULL}'): roles key '' is empty; allowed: a name",
    ]
    [finding] = of("principal-name", evaluate([role(" ")]))
    assert finding.message == "mrgov Role 'role- ': name is empty; allowed: a name"


def test_unique_aliases_across_and_within_metadata() -> None:
    across = [
        metadata(aliases={"Champion": "3"}),
        metadata(res_name="md2", aliases={"champion": "2"}),
    ]
    [finding] = of("unique-names", evaluate(across))
    assert finding.message == (
        f"mrgov ModelMetadata 'md2' (model '{FULL}'): alias '{FULL}@champion' is declared by 2 resources "
        "('md', 'md2'); names are case-insensitive; allowed: each alias once"
    )
    within = of("unique-names", evaluate([metadata(aliases={"Champion": "3", "champion": "2"})]))
    assert within and all("aliases are case-insensitive" in f.message for f in within), within
    # One alias name on two models is fine.
    assert (
        of("unique-names", evaluate([metadata(aliases={"A": "1"}), metadata(OTHER, aliases={"A": "1"})]))
        == []
    )


def test_credentials_on_the_mrgov_provider_other_than_its_secret_inputs() -> None:
    [finding] = of("no-plaintext-credentials", evaluate([mrgov_provider(trackingUri=URI, apiKey="k")]))
    assert finding.message.startswith("mrgov provider 'mlflow': input 'apiKey': credentials never go in")
    assert {"password", "token"} == governance.PROVIDER_SECRET_INPUTS


def test_role_principals_match_registry_and_workspace() -> None:
    other = mrgov_provider("other", trackingUri="http://10.0.0.2:5000")
    granted = permissions(roles={"dashboards": "READ"})
    assert of("role-principals", evaluate([role("dashboards", members=[], provider=other), granted])) == []
    elsewhere = role("dashboards", members=[], workspace="team-a")
    assert of("role-principals", evaluate([elsewhere, granted])) == []
    # Two provider instances on one server are one registry.
    same = mrgov_provider("same", trackingUri=URI + "/")
    assert of("role-principals", evaluate([role("dashboards", members=[], provider=same), granted]))


def test_role_principals_names_the_stack_as_the_environment() -> None:
    found = of(
        "role-principals",
        evaluate([role("bi", members=[], stack="staging"), permissions(roles={"bi": "READ"})]),
    )
    assert [f.message for f in found] == [
        "mrgov Role 'role-bi': role 'bi' is granted privileges but has no principals in environment "
        "'staging', so its grants do nothing; allowed: a list of principals"
    ]


def test_pinned_versions_may_be_described_by_another_metadata_of_the_model() -> None:
    split = [
        metadata(aliases={"Champion": "3"}),
        metadata(res_name="md2", versionDescriptions={"3": "Retrained."}),
    ]
    assert of("pinned-version-described", evaluate(split)) == []
    # An invalid pin is alias-version's to report, not this rule's.
    assert of("pinned-version-described", evaluate([metadata(aliases={"Champion": "zero"})])) == []


# --------------------------------------------------------------------------------------------------------
# The pulumi-policy glue
# --------------------------------------------------------------------------------------------------------
def _opts(protect: bool = False) -> PolicyResourceOptions:
    return PolicyResourceOptions(protect, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])


def recorder(into: list[tuple[str, str | None]]) -> Callable[[str, str | None], None]:
    """A report_violation callback that keeps what it is given."""

    def report(message: str, urn: str | None = None) -> None:
        into.append((message, urn))

    return report


def test_pack_has_one_policy_per_rule_at_its_severity() -> None:
    policies = pack.policies()
    assert [p.name for p in policies] == [r.id for r in POLICY_RULES]
    for policy, rule in zip(policies, POLICY_RULES, strict=True):
        expected = EnforcementLevel.MANDATORY if rule.severity == "mandatory" else EnforcementLevel.ADVISORY
        assert policy.enforcement_level == expected
        assert policy.description == rule.title
        kind = ResourceValidationPolicy if rule.scope == "resource" else StackValidationPolicy
        assert isinstance(policy, kind)


def _policy_provider(res: Res) -> PolicyProviderResource:
    return PolicyProviderResource(res.type, unknown_checking_proxy(dict(res.props)), res.urn, res.name)


def test_resource_policy_reads_proxied_inputs_with_unknowns() -> None:
    props = unknown_checking_proxy({"model": UNKNOWN_STRING_VALUE, "aliases": {"v2": "1"}})
    args = ResourceValidationArgs(
        MRGOV_METADATA, props, metadata().urn, "a", _opts(), _policy_provider(UC), None
    )
    reported: list[tuple[str, str | None]] = []
    [policy] = [p for p in pack.policies() if p.name == "alias-name"]
    assert isinstance(policy, ResourceValidationPolicy)
    policy.validate(args, recorder(reported))
    assert reported == [
        (
            "mrgov ModelMetadata 'a': alias 'v2' is reserved by MLflow; allowed: any name but 'latest' "
            "(any case) and v<digits>",
            None,
        )
    ]
    assert pack.plain(props)["model"] is UNKNOWN
    provider = pack.to_res(args).provider
    assert provider is not None and provider.kind == "mrgov_provider"
    assert provider.props == {"registryUri": "databricks-uc"}


def test_stack_policy_sees_each_resource_with_its_provider() -> None:
    bad = metadata(tags={"team.name": "platform"})
    resources = [
        PolicyResource(
            MRGOV_METADATA,
            unknown_checking_proxy(dict(bad.props)),
            bad.urn,
            bad.name,
            _opts(),
            _policy_provider(provider),
            None,
            [],
            {},
        )
        for provider in (UC, MLFLOW)
    ]
    [policy] = [p for p in pack.policies() if p.name == "tag-limits"]
    assert isinstance(policy, StackValidationPolicy)
    for resource, expected in zip(resources, (1, 0), strict=True):
        reported: list[tuple[str, str | None]] = []
        policy.validate(StackValidationArgs([resource], None), recorder(reported))
        assert len(reported) == expected
        assert all(urn == bad.urn for _m, urn in reported)


def test_stack_policy_reports_against_the_offending_resource() -> None:
    good = model()
    props = unknown_checking_proxy(dict(good.props))
    resource = PolicyResource(MRGOV_MODEL, props, good.urn, good.name, _opts(), None, None, [], {})
    reported: list[tuple[str, str | None]] = []
    [policy] = [p for p in pack.policies() if p.name == "required-tags"]
    assert isinstance(policy, StackValidationPolicy)
    policy.validate(StackValidationArgs([resource], {"requiredTags": ["domain"]}), recorder(reported))
    assert reported == [
        (
            f"mrgov RegisteredModel 'm' (model '{FULL}'): required tag 'domain' is missing or empty; "
            "allowed: every model carries domain",
            good.urn,
        )
    ]


# --------------------------------------------------------------------------------------------------------
# Whole programs under Pulumi mocks
# --------------------------------------------------------------------------------------------------------
DEPLOYER = {
    "dev": "3f0c2a55-8b1e-4d6a-9c2f-1a7e5b9d0c11",
    "staging": "8d2b6e14-3a7c-4f90-b5e1-c4a9f0d27e36",
    "prod": "e91f4c07-5d2a-4b83-8f6e-2a0d9c4b7f58",
}


def resources_of(run: MockRun) -> list[Res]:
    """The registrations as the pack sees them, each with its explicit provider resource."""
    regs = [reg for reg in run.registrations if not reg.read]
    plain = {
        reg.urn: Res(reg.type, reg.name, reg.urn, {k: v for k, v in reg.inputs.items() if k != "version"})
        for reg in regs
        if reg.type.startswith("pulumi:providers:")
    }
    return [
        Res(
            reg.type,
            reg.name,
            reg.urn,
            dict(reg.inputs),
            reg.protect,
            # A provider reference is `<urn>::<id>`.
            plain.get(reg.provider.rsplit("::", 1)[0]) if reg.provider else None,
        )
        for reg in regs
    ]


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_our_databricks_stacks_pass_the_pack(stack: str, mock_program: Callable[..., MockRun]) -> None:
    spec = build(stack, copy.deepcopy(load_stack_file(ROOT, stack)), ROOT)
    run = mock_program(
        lambda: DatabricksRegistry("registry", DatabricksRegistryArgs(spec)) and None, stack=stack
    )
    found = evaluate(resources_of(run), {"deployer-manage": {"deployer": DEPLOYER[stack]}})
    assert found == []
    # The pack saw the Databricks resources, not only ours, and each model's metadata goes to Unity
    # Catalog by its provider's own inputs.
    resources = resources_of(run)
    assert {res.kind for res in resources} >= {
        "catalog",
        "schema",
        "uc_model",
        "grants",
        "model_metadata",
        "mrgov_provider",
    }
    metadata_ = [res for res in resources if res.kind == "model_metadata"]
    assert metadata_ and all(
        governance.provider_registry(res.provider) == "databricks-uc" for res in metadata_
    )


def test_our_local_stack_passes_the_pack(mock_program: Callable[..., MockRun]) -> None:
    spec = build("local", copy.deepcopy(load_stack_file(ROOT, "local")), ROOT)
    run = mock_program(lambda: MlflowRegistry("registry", MlflowRegistryArgs(spec)) and None, stack="local")
    resources = resources_of(run)
    assert {res.kind for res in resources} >= {
        "mrgov_provider",
        "mlflow_model",
        "model_metadata",
        "model_permissions",
        "mlflow_role",
    }
    assert all(res.provider is not None for res in resources if res.kind and res.type.startswith("mrgov:"))
    assert evaluate(resources) == []


def test_a_program_without_the_spec_is_held_to_the_same_rules(mock_program: Callable[..., MockRun]) -> None:
    def program() -> None:
        databricks.Catalog("cat", name="prod_catalog", comment="Models.")
        databricks.Schema("sch", catalog_name="prod_catalog", name="Features")
        databricks.RegisteredModel("mdl", catalog_name="prod_catalog", schema_name="features", name="churn")
        databricks.Grants(
            "mdl-grants",
            model="prod_catalog.features.churn",
            grants=[
                databricks.GrantsGrantArgs(principal="account users", privileges=["ALL_PRIVILEGES"]),
                databricks.GrantsGrantArgs(principal="analysts", privileges=["USE MODEL"]),
            ],
        )
        databricks.Grant(
            "mdl-grant", model="prod_catalog.features.churn", principal="bi", privileges=["EXECUTE"]
        )
        pulumi.export("done", True)

    run = mock_program(program, stack="prod")
    found = evaluate(resources_of(run))
    by_rule = {(f.rule_id, f.severity) for f in found}
    assert by_rule == {
        ("securable-name", "mandatory"),  # schema 'Features'
        ("model-name", "mandatory"),  # 'churn' is one word
        ("model-description", "mandatory"),  # no comment
        ("required-tags", "mandatory"),  # no tags at all
        ("privilege", "mandatory"),  # USE MODEL
        ("broad-all-privileges", "mandatory"),  # account users
        ("unique-names", "mandatory"),  # Grants and Grant on one model
        ("production-alias", "mandatory"),  # prod, no Production alias
        ("protect-production", "advisory"),  # nothing protected in prod
    }
    messages = "\n".join(f.message for f in found)
    assert "there is no 'USE MODEL' privilege in Unity Catalog; use EXECUTE" in messages


def test_a_program_on_the_mrgov_provider_without_the_spec(mock_program: Callable[..., MockRun]) -> None:
    def program() -> None:
        uc = sdk.Provider("uc", sdk.ProviderArgs(registry_uri="databricks-uc"))
        sdk.ModelMetadata(
            "churn-metadata",
            sdk.ModelMetadataArgs(
                model="prod_catalog.features.churn",
                tags={"team.name": "growth"},
                aliases={"latest": "2", "Production": "0"},
                version_descriptions={"2": ""},
            ),
            pulumi.ResourceOptions(provider=uc),
        )
        mlflow = sdk.Provider("mlflow", sdk.ProviderArgs(tracking_uri="127.0.0.1:5000"))
        here = pulumi.ResourceOptions(provider=mlflow)
        sdk.RegisteredModel("churn", sdk.RegisteredModelArgs(name="prod_catalog.features.churn"), here)
        sdk.Role("bi", sdk.RoleArgs(name="bi", members=[]), here)
        sdk.ModelPermissions(
            "churn-perms",
            sdk.ModelPermissionsArgs(model="prod_catalog.features.churn", roles={"bi": "READ"}),
            here,
        )

    run = mock_program(program, stack="prod")
    found = evaluate(resources_of(run))
    assert {(f.rule_id, f.severity) for f in found} == {
        ("model-name", "mandatory"),  # 'churn' is one word
        ("model-description", "mandatory"),  # no description
        ("required-tags", "mandatory"),  # no domain, algorithm, model_type
        ("tag-limits", "mandatory"),  # 'team.name' on Unity Catalog
        ("alias-name", "mandatory"),  # latest
        ("alias-version", "mandatory"),  # version 0
        ("version-description", "mandatory"),  # empty text
        ("tracking-uri", "mandatory"),  # 127.0.0.1:5000
        ("protect-production", "advisory"),  # nothing protected in prod
        ("role-principals", "advisory"),  # bi has nobody
        ("pinned-version-described", "advisory"),  # version 2's text is empty
    }
