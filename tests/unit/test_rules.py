"""Governance rules: each bad input names its file, its key path, what was wrong and what is allowed.

The bases below are valid stacks (checked first). Each case changes one thing, in the stack's config or in
the shared registry.yaml, with the merge rules of the spec (`null` deletes a key), and asserts the exact
problem it must produce.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from components import rules
from components.spec import SpecError, StackSpec, build, merge
from provider import limits
from provider.events.limits import WEBHOOK_EVENTS

TAGS = {"domain": "cost", "algorithm": "isolation_forest", "model_type": "anomaly_detection"}
SHARED: dict[str, Any] = {
    "catalog": {
        "comment": "Models.",
        "grants": [{"roles": ["ml_engineers", "inference_jobs"], "privileges": ["USE_CATALOG"]}],
    },
    "schemas": {
        "gold_features": {
            "grants": [{"roles": ["ml_engineers"], "privileges": ["USE_SCHEMA", "CREATE_MODEL"]}]
        }
    },
    "roles": {"ml_engineers": {"modelCreator": True}, "inference_jobs": {"description": "batch jobs"}},
    "modelDefaults": {
        "schema": "gold_features",
        "grants": [{"roles": ["inference_jobs"], "privileges": ["EXECUTE"]}],
    },
    "models": {
        "cost_anomaly_detector": {
            "description": "Finds odd spend.",
            "tags": TAGS,
            "served": True,
            "versionDescriptions": {"1": "first", "2": "second"},
        },
        "budget_forecaster": {
            "description": "Forecasts spend.",
            "tags": {**TAGS, "algorithm": "gradient_boosting", "model_type": "forecasting"},
            "versionDescriptions": {"1": "first"},
        },
    },
}
ROLES = {"ml_engineers": ["eng"], "inference_jobs": ["jobs"]}
BASES: dict[str, dict[str, Any]] = {
    "local": {
        "mrgov:target": {"kind": "mlflow", "trackingUri": "http://127.0.0.1:5000"},
        "mrgov:catalog": "local_catalog",
        "mrgov:roles": ROLES,
    },
    "dev": {
        "mrgov:target": {"kind": "databricks"},
        "mrgov:catalog": "dev_catalog",
        "mrgov:deployer": "deployer-sp",
        "mrgov:roles": ROLES,
    },
    "prod": {
        "mrgov:target": {"kind": "databricks"},
        "mrgov:catalog": "prod_catalog",
        "mrgov:deployer": "deployer-sp",
        "mrgov:roles": ROLES,
        "mrgov:models": {"cost_anomaly_detector": {"aliases": {"Production": 2}}},
    },
}
CREDENTIALS_MSG = (
    "credentials never go in config in clear; allowed: the environment (MLFLOW_TRACKING_PASSWORD, "
    "DATABRICKS_TOKEN, a Databricks profile) or a secret "
    "(`pulumi config set --secret mrgov:mlflowPassword ...` and target.passwordSecret)"
)
SCHEMA_PRIVILEGES = (
    "ALL_PRIVILEGES, APPLY_TAG, CREATE_FUNCTION, CREATE_MODEL, CREATE_MODEL_VERSION, CREATE_TABLE, "
    "CREATE_VOLUME, EXECUTE, MANAGE, MODIFY, READ_VOLUME, SELECT, USE_SCHEMA, WRITE_VOLUME"
)
MODEL_PRIVILEGES = "ALL_PRIVILEGES, APPLY_TAG, CREATE_MODEL_VERSION, EXECUTE, MANAGE"
BROAD = "allowed: narrower privileges (such as EXECUTE) for 'account users', 'users', 'all users'"
LONG = "a" * 256
DAYS = "allowed: a whole number of days, at least 1"


@dataclass(frozen=True)
class Case:
    id: str
    file: str  # "stack" for Pulumi.<stack>.yaml, else the shared file name
    key: str
    message: str
    stack_change: Mapping[str, Any] = field(default_factory=dict)  # merged into the stack's raw config
    shared_change: Mapping[str, Any] = field(default_factory=dict)  # merged into registry.yaml
    stack: str = "dev"
    count: int = 1  # problems the change causes in all (some inputs break two rules at once)
    secret_keys: tuple[str, ...] | None = None


def _model(name: str, **change: Any) -> dict[str, Any]:
    return {"mrgov:models": {name: change}}


def _grants(*grants: dict[str, Any]) -> dict[str, Any]:
    return {"grants": list(grants)}


def _in_prod(id_: str, key: str, message: str, **change: Any) -> Case:
    """The problem `change` to cost_anomaly_detector in Pulumi.prod.yaml causes, at `key` below the model."""
    return Case(
        id_,
        "stack",
        f"mrgov:models.cost_anomaly_detector.{key}",
        message,
        _model("cost_anomaly_detector", **change),
        stack="prod",
    )


def _production_gate(id_: str, key: str, message: str, gate: dict[str, Any]) -> Case:
    """A problem in the prod stack's gate on cost_anomaly_detector's Production alias, at `key` below it."""
    return _in_prod(id_, f"gates.Production{key}", message, gates={"Production": gate})


CASES = [
    # ---- aliases
    Case(
        "reserved-alias-Latest",
        "stack",
        "mrgov:models.cost_anomaly_detector.aliases.Latest",
        "alias 'Latest' is reserved by MLflow; allowed: any name but 'latest' (any case) and v<digits>",
        _model("cost_anomaly_detector", aliases={"Latest": 1}),
    ),
    Case(
        "reserved-alias-v3",
        "stack",
        "mrgov:models.cost_anomaly_detector.aliases.v3",
        "alias 'v3' is reserved by MLflow; allowed: any name but 'latest' (any case) and v<digits>",
        _model("cost_anomaly_detector", aliases={"v3": 1}),
    ),
    Case(
        "alias-with-dot",
        "stack",
        "mrgov:models.budget_forecaster.aliases.prod.v1",
        "alias 'prod.v1' is not a valid alias; allowed: 1 to 255 of letters, digits, '_' and '-'",
        _model("budget_forecaster", aliases={"prod.v1": 1}),
    ),
    Case(
        "alias-too-long",
        "stack",
        f"mrgov:models.budget_forecaster.aliases.{LONG}",
        f"alias {LONG!r} is not a valid alias; allowed: 1 to 255 of letters, digits, '_' and '-'",
        _model("budget_forecaster", aliases={LONG: 1}),
    ),
    Case(
        "alias-version-not-a-number",
        "stack",
        "mrgov:models.cost_anomaly_detector.aliases.Champion",
        "version 'three' is not a model version; allowed: a positive integer such as 3",
        _model("cost_anomaly_detector", aliases={"Champion": "three"}),
    ),
    Case(
        "alias-version-zero",
        "stack",
        "mrgov:models.cost_anomaly_detector.aliases.Champion",
        "version 0 is not a model version; allowed: a positive integer such as 3",
        _model("cost_anomaly_detector", aliases={"Champion": 0}),
    ),
    Case(
        "alias-twice-in-two-cases",
        "stack",
        "mrgov:models.cost_anomaly_detector.aliases.champion",
        "alias 'champion' is declared more than once (aliases are case-insensitive); "
        "allowed: each alias once",
        _model("cost_anomaly_detector", aliases={"Champion": 1, "champion": 2}),
        count=2,
    ),
    # ---- privileges
    Case(
        "use-model-on-model",
        "stack",
        "mrgov:models.budget_forecaster.grants[0].privileges[0]",
        "there is no 'USE_MODEL' privilege in Unity Catalog; use EXECUTE (load, download, serve)",
        _model("budget_forecaster", **_grants({"roles": ["inference_jobs"], "privileges": ["USE_MODEL"]})),
    ),
    Case(
        "use-model-sql-spelling-on-schema-in-shared-file",
        "registry.yaml",
        "schemas.gold_features.grants[0].privileges[0]",
        "there is no 'USE MODEL' privilege in Unity Catalog; use EXECUTE (load, download, serve)",
        shared_change={
            "schemas": {"gold_features": _grants({"roles": ["inference_jobs"], "privileges": ["USE MODEL"]})}
        },
    ),
    Case(
        "select-on-model",
        "stack",
        "mrgov:models.budget_forecaster.grants[0].privileges[1]",
        f"'SELECT' is not a privilege on a model; allowed: {MODEL_PRIVILEGES}",
        _model(
            "budget_forecaster", **_grants({"roles": ["inference_jobs"], "privileges": ["EXECUTE", "SELECT"]})
        ),
    ),
    Case(
        "create-schema-on-schema",
        "stack",
        "mrgov:schemas.gold_features.grants[0].privileges[0]",
        f"'CREATE_SCHEMA' is not a privilege on a schema; allowed: {SCHEMA_PRIVILEGES}",
        {
            "mrgov:schemas": {
                "gold_features": _grants({"roles": ["ml_engineers"], "privileges": ["CREATE_SCHEMA"]})
            }
        },
    ),
    # ---- tags
    Case(
        "tag-key-with-colon",
        "stack",
        "mrgov:models.cost_anomaly_detector.tags.team:owner",
        "tag key 'team:owner' contains :; allowed: any characters except . , - = / :",
        _model("cost_anomaly_detector", tags={"team:owner": "ml"}),
    ),
    Case(
        "tag-key-with-dash-and-dot",
        "stack",
        "mrgov:models.cost_anomaly_detector.tags.ml-team.name",
        "tag key 'ml-team.name' contains - .; allowed: any characters except . , - = / :",
        _model("cost_anomaly_detector", tags={"ml-team.name": "ml"}),
    ),
    Case(
        "tag-key-too-long",
        "stack",
        f"mrgov:models.cost_anomaly_detector.tags.{LONG}",
        "tag key is 256 characters long; allowed: at most 255",
        _model("cost_anomaly_detector", tags={LONG: "x"}),
    ),
    Case(
        "tag-value-too-long",
        "stack",
        "mrgov:models.cost_anomaly_detector.tags.notes",
        "tag value is 1001 characters long; allowed: at most 1000",
        _model("cost_anomaly_detector", tags={"notes": "v" * 1001}),
    ),
    Case(
        "too-many-tags",
        "stack",
        "mrgov:models.cost_anomaly_detector.tags",
        "51 tags; allowed: at most 50 per model",
        _model("cost_anomaly_detector", tags={f"extra_{i}": "x" for i in range(48)}),
    ),
    Case(
        "required-tag-removed-in-shared-file",
        "registry.yaml",
        "models.budget_forecaster.tags.algorithm",
        "required tag 'algorithm' is missing or empty; "
        "allowed: every model carries domain, algorithm, model_type",
        shared_change={"models": {"budget_forecaster": {"tags": {"algorithm": None}}}},
    ),
    # ---- descriptions and versions
    Case(
        "description-emptied-by-stack",
        "stack",
        "mrgov:models.cost_anomaly_detector.description",
        "is missing or empty; allowed: a text saying what the model does, how and for whom",
        _model("cost_anomaly_detector", description="  "),
    ),
    Case(
        "description-missing-in-shared-file",
        "registry.yaml",
        "models.budget_forecaster.description",
        "is missing or empty; allowed: a text saying what the model does, how and for whom",
        shared_change={"models": {"budget_forecaster": {"description": None}}},
    ),
    Case(
        "version-key-not-an-integer",
        "stack",
        "mrgov:models.cost_anomaly_detector.versionDescriptions.v3",
        "version 'v3' is not a model version; allowed: a positive integer such as 3",
        _model("cost_anomaly_detector", versionDescriptions={"v3": "third"}),
    ),
    Case(
        "version-key-negative",
        "stack",
        "mrgov:models.cost_anomaly_detector.versionDescriptions.-1",
        "version '-1' is not a model version; allowed: a positive integer such as 3",
        _model("cost_anomaly_detector", versionDescriptions={"-1": "minus one"}),
    ),
    Case(
        "version-description-empty",
        "stack",
        "mrgov:models.cost_anomaly_detector.versionDescriptions.2",
        "is empty; allowed: a text saying what changed",
        _model("cost_anomaly_detector", versionDescriptions={"2": ""}),
    ),
    # ---- names and duplicates
    Case(
        "duplicate-model-differing-in-case",
        "stack",
        "mrgov:models.Budget_Forecaster",
        "duplicates 'budget_forecaster' (Unity Catalog names are case-insensitive); allowed: each model once",
        _model("Budget_Forecaster", description="again", tags=TAGS),
        count=2,  # and the naming convention (lower case)
    ),
    Case(
        "duplicate-schema-differing-in-case",
        "stack",
        "mrgov:schemas.Gold_Features",
        "duplicates 'gold_features' (Unity Catalog names are case-insensitive); allowed: each schema once",
        {"mrgov:schemas": {"Gold_Features": {}}},
        count=2,  # and the identifier rule
    ),
    Case(
        "duplicate-principal-in-role",
        "stack",
        "mrgov:roles.ml_engineers.principals[1]",
        "'ENG' appears more than once in this list; allowed: each name once",
        {"mrgov:roles": {"ml_engineers": ["eng", "ENG"]}},
    ),
    Case(
        "duplicate-role-in-grant",
        "stack",
        "mrgov:models.budget_forecaster.grants[0].roles[1]",
        "'inference_jobs' appears more than once in this list; allowed: each name once",
        _model(
            "budget_forecaster",
            **_grants({"roles": ["inference_jobs", "inference_jobs"], "privileges": ["EXECUTE"]}),
        ),
    ),
    Case(
        "empty-principal",
        "stack",
        "mrgov:roles.inference_jobs.principals[0]",
        "is empty; allowed: a name",
        {"mrgov:roles": {"inference_jobs": [""]}},
    ),
    Case(
        "model-name-one-word",
        "stack",
        "mrgov:models.forecaster",
        "model name 'forecaster' does not follow the naming convention; allowed: lowercase snake_case of at "
        "least two words, like {domain}_{use_case}_{type} (pattern ^[a-z][a-z0-9]*(_[a-z0-9]+)+$)",
        _model("forecaster", description="One word.", tags=TAGS),
    ),
    Case(
        "catalog-name-not-an-identifier",
        "stack",
        "mrgov:catalog.name",
        "catalog name 'Dev-Catalog' is not a valid name; allowed: lowercase letters, digits and '_', "
        "starting with a letter, at most 255 characters",
        {"mrgov:catalog": "Dev-Catalog"},
    ),
    Case(
        "model-in-undeclared-schema",
        "stack",
        "mrgov:models.budget_forecaster.schema",
        "schema 'silver' is not declared under schemas; allowed: gold_features",
        _model("budget_forecaster", schema="silver"),
    ),
    # ---- roles and grants
    Case(
        "unknown-role-in-stack-catalog-grant",
        "stack",
        "mrgov:catalog.grants[0].roles[0]",
        "role 'ml_engineer' is not declared under roles; allowed: inference_jobs, ml_engineers",
        {
            "mrgov:catalog": {
                "name": "dev_catalog",
                **_grants({"roles": ["ml_engineer"], "privileges": ["USE_CATALOG"]}),
            }
        },
    ),
    Case(
        "unknown-role-in-model-defaults-reported-once",
        "registry.yaml",
        "modelDefaults.grants[0].roles[0]",
        "role 'dashboard' is not declared under roles; allowed: inference_jobs, ml_engineers",
        shared_change={"modelDefaults": _grants({"roles": ["dashboard"], "privileges": ["EXECUTE"]})},
    ),
    Case(
        "grant-without-grantee",
        "stack",
        "mrgov:models.budget_forecaster.grants[0]",
        "names no grantee; allowed: roles: [<role>, ...] and/or principals: [<principal>, ...]",
        _model("budget_forecaster", **_grants({"privileges": ["EXECUTE"]})),
    ),
    Case(
        "grant-without-privileges",
        "stack",
        "mrgov:models.budget_forecaster.grants[0].privileges",
        "is missing or empty; allowed: one or more privileges, such as [EXECUTE]",
        _model("budget_forecaster", **_grants({"roles": ["inference_jobs"]})),
    ),
    Case(
        "all-privileges-to-account-users",
        "stack",
        "mrgov:catalog.grants[0].principals[0]",
        f"ALL_PRIVILEGES to the broad principal 'account users'; {BROAD}",
        {
            "mrgov:catalog": {
                "name": "dev_catalog",
                **_grants({"principals": ["account users"], "privileges": ["ALL_PRIVILEGES"]}),
            }
        },
    ),
    Case(
        "all-privileges-to-role-holding-users",
        "stack",
        "mrgov:models.budget_forecaster.grants[0].roles[0]",
        f"ALL_PRIVILEGES to role 'inference_jobs', which includes the broad principal 'users'; {BROAD}",
        {
            "mrgov:roles": {"inference_jobs": ["users"]},
            **_model(
                "budget_forecaster",
                **_grants({"roles": ["inference_jobs"], "privileges": ["all privileges"]}),
            ),
        },
    ),
    Case(
        "create-model-to-non-creator-role",
        "stack",
        "mrgov:schemas.gold_features.grants[0].roles[0]",
        "CREATE_MODEL to role 'inference_jobs', which is not marked modelCreator; "
        "allowed: roles with modelCreator: true (ml_engineers)",
        {
            "mrgov:schemas": {
                "gold_features": _grants({"roles": ["inference_jobs"], "privileges": ["CREATE_MODEL"]})
            }
        },
    ),
    Case(
        "create-model-directly-to-principal",
        "stack",
        "mrgov:catalog.grants[0].principals[0]",
        "CREATE_MODEL directly to principal 'bob@example.com'; allowed: roles with modelCreator: true "
        "(ml_engineers)",
        {
            "mrgov:catalog": {
                "name": "dev_catalog",
                **_grants({"principals": ["bob@example.com"], "privileges": ["CREATE_MODEL"]}),
            }
        },
    ),
    # ---- production
    _in_prod(
        "prod-served-model-without-production",
        "aliases",
        "model is served in production environment 'prod' but pins no 'Production' alias; "
        "allowed: aliases: {Production: <version>}",
        aliases={"Production": None, "Champion": 1},
    ),
    Case(
        "databricks-without-deployer",
        "stack",
        "mrgov:deployer",
        "is required for the databricks target: grants are authoritative and would revoke the deploying "
        "identity's own MANAGE; allowed: the user, group or service principal that runs pulumi up",
        {"mrgov:deployer": None},
    ),
    # ---- target
    Case(
        "unknown-target-kind",
        "stack",
        "mrgov:target",
        "unknown kind 'sagemaker'; allowed: 'mlflow', 'databricks'",
        {"mrgov:target": {"kind": "sagemaker"}},
    ),
    Case(
        "target-without-kind",
        "stack",
        "mrgov:target",
        "kind is required; allowed: 'mlflow', 'databricks'",
        {"mrgov:target": {"kind": None}},
        stack="local",
    ),
    Case(
        "target-missing",
        "stack",
        "mrgov:target",
        "is required",
        {"mrgov:target": None},
        stack="local",
    ),
    Case(
        "mlflow-without-tracking-uri",
        "stack",
        "mrgov:target.trackingUri",
        "is required",
        {"mrgov:target": {"trackingUri": None}},
        stack="local",
    ),
    Case(
        "mlflow-tracking-uri-not-a-server",
        "stack",
        "mrgov:target.trackingUri",
        "'file:///tmp/mlruns' is not a server URL; allowed: http://host:port or https://host",
        {"mrgov:target": {"trackingUri": "file:///tmp/mlruns"}},
        stack="local",
    ),
    Case(
        "password-in-clear",
        "stack",
        "mrgov:target.password",
        CREDENTIALS_MSG,
        {"mrgov:target": {"password": "hunter2hunter2"}},
        stack="local",
    ),
    Case(
        "password-secret-not-a-secret",
        "stack",
        "mrgov:target.passwordSecret",
        "'mrgov:mlflowPassword' is not set as a secret; "
        "allowed: `pulumi config set --secret mrgov:mlflowPassword ...`",
        {"mrgov:target": {"passwordSecret": "mrgov:mlflowPassword"}},
        stack="local",
        secret_keys=("mrgov:otherSecret",),
    ),
    Case(
        "password-secret-not-a-key",
        "stack",
        "mrgov:target.passwordSecret",
        "'mlflowPassword' is not a config key; allowed: <namespace>:<key>, such as mrgov:mlflowPassword",
        {"mrgov:target": {"passwordSecret": "mlflowPassword"}},
        stack="local",
    ),
    # ---- retention (archive), promotion gates, break-glass overrides, version tags
    Case(
        "archive-after-days-zero",
        "stack",
        "mrgov:models.cost_anomaly_detector.archive.afterDays",
        f"is 0; {DAYS}",
        _model("cost_anomaly_detector", archive={"afterDays": 0}),
    ),
    Case(
        "archive-after-days-negative",
        "registry.yaml",
        "models.budget_forecaster.archive.afterDays",
        f"is -5; {DAYS}",
        shared_change={"models": {"budget_forecaster": {"archive": {"afterDays": -5}}}},
    ),
    Case(
        "archive-after-days-not-a-number",
        "stack",
        "mrgov:models.cost_anomaly_detector.archive.afterDays",
        f"'thirty' is not a number of days; {DAYS}",
        _model("cost_anomaly_detector", archive={"afterDays": "thirty"}),
    ),
    Case(
        "archive-without-after-days",
        "stack",
        "mrgov:models.cost_anomaly_detector.archive.afterDays",
        f"is required; {DAYS}",
        _model("cost_anomaly_detector", archive={"keepLatest": 2}),
    ),
    Case(
        "archive-keep-latest-negative",
        "stack",
        "mrgov:models.budget_forecaster.archive.keepLatest",
        "is -1; allowed: a whole number, 0 or more (how many of the newest versions are never archived)",
        _model("budget_forecaster", archive={"afterDays": 30, "keepLatest": -1}),
    ),
    Case(
        "archive-default-inherited-once",
        "registry.yaml",
        "modelDefaults.archive.afterDays",
        f"is 0; {DAYS}",
        shared_change={"modelDefaults": {"archive": {"afterDays": 0}}},
    ),
    _production_gate(
        "gate-unknown-key",
        ".threshold",
        "unknown key; allowed keys: against, higherIsBetter, max, metric, min, minDelta",
        {"metric": "val_f1", "threshold": 0.8},
    ),
    _production_gate(
        "gate-without-metric",
        ".metric",
        "is missing or empty; allowed: the name of a metric the training run logs, such as val_f1",
        {"min": 0.8},
    ),
    _in_prod(
        "gate-on-an-alias-the-stack-does-not-pin",
        "gates.Champion",
        "gate for alias 'Champion', which this stack does not pin on the model; allowed: a gate for a "
        "pinned alias (Production), or the gate in registry.yaml, where it applies in the stacks that pin "
        "'Champion'",
        gates={"Champion": {"metric": "val_f1"}},
    ),
    _production_gate(
        "gate-against-unknown",
        ".against",
        "'previous' is not a comparison; allowed: current (the version the alias points at now) or none "
        "(min and max only)",
        {"metric": "val_f1", "against": "previous"},
    ),
    _production_gate(
        "gate-min-above-max",
        "",
        "min 0.9 is above max 0.8, so no version could pass; allowed: min <= max",
        {"metric": "val_f1", "min": 0.9, "max": 0.8},
    ),
    _production_gate(
        "gate-that-checks-nothing",
        "",
        "checks nothing; allowed: against: current, or a min or a max",
        {"metric": "val_f1", "against": "none"},
    ),
    _production_gate(
        "gate-min-delta-negative",
        ".minDelta",
        "is -0.1; allowed: 0 or more (how much better than the current version)",
        {"metric": "val_f1", "minDelta": -0.1},
    ),
    _production_gate(
        "gate-min-not-a-number",
        ".min",
        "'high' is not a number; allowed: a number such as 0.8",
        {"metric": "val_f1", "min": "high"},
    ),
    _in_prod(
        "override-without-reason",
        "overrides.Production.reason",
        "is missing or empty; allowed: why the gate is bypassed, such as 'INC-123: rollback'",
        gates={"Production": {"metric": "val_f1"}},
        overrides={"Production": {"reason": " "}},
    ),
    _in_prod(
        "override-of-an-alias-without-a-gate",
        "overrides.Production",
        "alias 'Production' has no promotion gate in this stack; allowed: an override of a gated alias the "
        "stack pins (none)",
        overrides={"Production": {"reason": "INC-123: rollback"}},
    ),
    Case(
        "override-in-registry-yaml",
        "registry.yaml",
        "models.cost_anomaly_detector.overrides.Production",
        "a break-glass override belongs to one stack; allowed: "
        "mrgov:models.cost_anomaly_detector.overrides.Production.reason in the stack file",
        shared_change={
            "models": {
                "cost_anomaly_detector": {
                    "gates": {"Production": {"metric": "val_f1"}},
                    "overrides": {"Production": {"reason": "INC-123: rollback"}},
                }
            }
        },
        stack="prod",
    ),
    Case(
        "version-tag-archived-is-reserved",
        "stack",
        "mrgov:models.cost_anomaly_detector.versionTags.3.archived",
        "tag 'archived' is reserved for retention (archive: afterDays, keepLatest); allowed: any other key",
        _model("cost_anomaly_detector", versionTags={"3": {"archived": "true"}}),
    ),
    Case(
        "version-tag-override-record-is-reserved",
        "registry.yaml",
        "models.budget_forecaster.versionTags.2.promotion_override_by",
        "tag 'promotion_override_by' is reserved for the record of a promotion-gate override; allowed: "
        "any other key",
        shared_change={
            "models": {"budget_forecaster": {"versionTags": {2: {"promotion_override_by": "me"}}}}
        },
    ),
    Case(
        "version-tags-on-a-non-number-version",
        "stack",
        "mrgov:models.cost_anomaly_detector.versionTags.latest",
        "version 'latest' is not a model version; allowed: a positive integer such as 3",
        _model("cost_anomaly_detector", versionTags={"latest": {"validation_status": "passed"}}),
    ),
    Case(
        "version-tag-key-with-dot",
        "stack",
        "mrgov:models.cost_anomaly_detector.versionTags.3.val.status",
        "tag key 'val.status' contains .; allowed: any characters except . , - = / :",
        _model("cost_anomaly_detector", versionTags={"3": {"val.status": "passed"}}),
    ),
    Case(
        "version-tag-value-too-long",
        "stack",
        "mrgov:models.budget_forecaster.versionTags.1.note",
        "tag value is 1001 characters long; allowed: at most 1000",
        _model("budget_forecaster", versionTags={"1": {"note": "x" * 1001}}),
    ),
    Case(
        "version-tags-as-text",
        "stack",
        "mrgov:models.budget_forecaster.versionTags.1",
        "must be a mapping, got 'passed'",
        _model("budget_forecaster", versionTags={"1": "passed"}),
    ),
    # ---- structure
    Case(
        "catalog-name-missing",
        "stack",
        "mrgov:catalog.name",
        "is required",
        {"mrgov:catalog": None},
    ),
    Case(
        "misspelt-top-level-key",
        "stack",
        "mrgov:model",
        "unknown key; allowed keys: catalog, deployer, environment, governance, models, protect, roles, "
        "schemas, target, webhooks",
        {"mrgov:model": {"cost_anomaly_detector": {}}},
    ),
    Case(
        "misspelt-model-key",
        "stack",
        "mrgov:models.cost_anomaly_detector.alias",
        "unknown key; allowed keys: adopt, aliases, archive, deploymentJob, description, gates, grants, "
        "overrides, owner, retainOnDelete, schema, served, tags, versionDescriptions, versionTags",
        _model("cost_anomaly_detector", alias={"Champion": 1}),
    ),
    Case(
        "isolation-mode-unknown",
        "stack",
        "mrgov:catalog.isolationMode",
        "got 'PRIVATE'; allowed: 'OPEN' or 'ISOLATED'",
        {"mrgov:catalog": {"name": "dev_catalog", "isolationMode": "PRIVATE"}},
    ),
    Case(
        "protect-not-a-boolean",
        "stack",
        "mrgov:protect",
        "must be true or false, got 'maybe'",
        {"mrgov:protect": "maybe"},
    ),
    Case(
        "tags-as-a-list",
        "stack",
        "mrgov:models.cost_anomaly_detector.tags",
        "must be a mapping, got ['cost']",
        _model("cost_anomaly_detector", tags=["cost"]),
    ),
]


def _build(case: Case) -> StackSpec:
    raw = merge(BASES[case.stack], case.stack_change)
    shared = merge(SHARED, case.shared_change)
    return build(case.stack, raw, shared=shared, secret_keys=case.secret_keys)


@pytest.mark.parametrize("stack", sorted(BASES))
def test_bases_are_valid_and_quiet(stack: str) -> None:
    spec = _build(Case("base", "", "", "", stack=stack))
    assert spec.warnings == ()
    assert [m.name for m in spec.models] == ["cost_anomaly_detector", "budget_forecaster"]


def test_table_is_large_and_distinct() -> None:
    assert len(CASES) >= 30
    assert len({c.id for c in CASES}) == len(CASES)
    assert len({(c.stack, repr(c.stack_change), repr(c.shared_change)) for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_named_precisely(case: Case) -> None:
    with pytest.raises(SpecError) as info:
        _build(case)
    err = info.value
    file = f"Pulumi.{case.stack}.yaml" if case.file == "stack" else case.file
    got = [(p.file, p.key, p.message) for p in err.problems]
    assert (file, case.key, case.message) in got, "\n".join(map(str, err.problems))
    assert len(err.problems) == case.count, "\n".join(map(str, err.problems))
    assert f"{file} {case.key}: {case.message}" in str(err)
    # Every problem carries the id and severity of a registered rule (or is a structural error).
    ids = (
        {r.id: r.severity for r in rules.RULES}
        | {r[0]: r[1] for r in rules.RAW_RULES}
        | {"structure": "mandatory"}
    )
    assert all(ids.get(p.rule_id) == p.severity == "mandatory" for p in err.problems)


def test_all_problems_of_a_stack_are_reported_together() -> None:
    # Changes to different keys of one stack, so none overwrites another.
    ids = [
        "reserved-alias-Latest",
        "alias-with-dot",
        "use-model-on-model",
        "create-schema-on-schema",
        "tag-key-with-colon",
        "description-emptied-by-stack",
        "version-key-not-an-integer",
        "duplicate-principal-in-role",
        "model-name-one-word",
        "misspelt-top-level-key",
        "protect-not-a-boolean",
        "databricks-without-deployer",
        "isolation-mode-unknown",
    ]
    picked = [c for c in CASES if c.id in ids]
    assert len(picked) == len(ids)
    raw: dict[str, Any] = BASES["dev"]
    for case in picked:
        raw = merge(raw, case.stack_change)
    with pytest.raises(SpecError) as info:
        build("dev", raw, shared=SHARED)
    got = {(p.key, p.message) for p in info.value.problems}
    missing = [c.id for c in picked if (c.key, c.message) not in got]
    assert not missing
    assert len(info.value.problems) == len(picked)
    assert str(info.value).startswith(f"stack 'dev' has {len(info.value.problems)} config problem(s)")


def test_advisories_are_warnings_not_errors() -> None:
    raw = merge(
        BASES["prod"],
        {
            "mrgov:protect": False,
            "mrgov:roles": {"inference_jobs": []},
            **_model("budget_forecaster", aliases={"Champion": 4}),
        },
    )
    spec = build("prod", raw, shared=SHARED)
    assert spec.protect is False
    assert spec.warnings == (
        "Pulumi.prod.yaml mrgov:protect: protect is false in production environment 'prod'; allowed: true "
        "(the default there), so a stray change cannot delete the registry [protect-production]",
        "Pulumi.prod.yaml mrgov:roles.inference_jobs.principals: role 'inference_jobs' is granted "
        "privileges but has no principals in environment 'prod', so its grants do nothing; "
        "allowed: a list of principals [role-principals]",
        "registry.yaml models.budget_forecaster.versionDescriptions: version 4 is pinned by alias "
        "'Champion' but has no description; allowed: versionDescriptions: {'4': <what changed>} "
        "[pinned-version-described]",
    )


def test_governance_knobs_are_configurable() -> None:
    raw = merge(
        BASES["dev"],
        {
            "mrgov:governance": {
                "requiredTags": ["owner_team"],
                "modelNamePattern": "^[a-z]+$",
                "modelNameHint": "one lowercase word",
            }
        },
    )
    with pytest.raises(SpecError) as info:
        build("dev", raw, shared=SHARED)
    got = {(p.key, p.message) for p in info.value.problems}
    assert (
        "models.cost_anomaly_detector.tags.owner_team",
        "required tag 'owner_team' is missing or empty; allowed: every model carries owner_team",
    ) in got
    assert (
        "models.budget_forecaster",
        "model name 'budget_forecaster' does not follow the naming convention; allowed: one lowercase word "
        "(pattern ^[a-z]+$)",
    ) in got
    assert len(got) == 4


# --------------------------------------------------------------------------------------------------------
# Single-value checks, for the policy pack
# --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("securable", "privilege", "ok"),
    [
        ("model", "EXECUTE", True),
        ("model", "CREATE_MODEL_VERSION", True),
        ("model", "create model version", True),
        ("model", "CREATE_MODEL", False),
        ("model", "USE_SCHEMA", False),
        ("schema", "CREATE_MODEL", True),
        ("schema", "CREATE_MODEL_VERSION", True),
        ("schema", "USE_CATALOG", False),
        ("catalog", "USE_CATALOG", True),
        ("catalog", "CREATE_MODEL", True),
        ("catalog", "BROWSE", True),
        ("schema", "BROWSE", False),
        ("catalog", "USE_MODEL", False),
    ],
)
def test_privilege_problem(securable: rules.Securable, privilege: str, ok: bool) -> None:
    assert (rules.privilege_problem(securable, privilege) is None) is ok


@pytest.mark.parametrize(
    ("alias", "ok"),
    [
        ("Production", True),
        ("champion-2_b", True),
        ("a" * 255, True),
        ("LATEST", False),
        ("latest", False),
        ("V12", False),
        ("v1a", True),
        ("", False),
        ("prod alias", False),
        ("a" * 256, False),
        ("prod.b", False),
        ("café", True),  # MLflow's `[\w\-]` takes any letter, as Python's `\w` does
    ],
)
def test_alias_problem(alias: str, ok: bool) -> None:
    assert (rules.alias_problem(alias) is None) is ok
    # One rule: the provider's check (provider/limits.py) refuses exactly what the spec refuses.
    assert (limits.alias_problem(alias) is None) is ok


@pytest.mark.parametrize(
    ("key", "ok"),
    [
        ("domain", True),
        ("model_type", True),
        ("a=b", False),
        ("a/b", False),
        ("a,b", False),
        ("k" * 255, True),
    ],
)
def test_tag_key_problem(key: str, ok: bool) -> None:
    assert (rules.tag_key_problem(key) is None) is ok


@pytest.mark.parametrize(
    ("version", "ok"), [(1, True), ("12", True), ("01", False), (True, False), (2.0, False)]
)
def test_version_problem(version: object, ok: bool) -> None:
    assert (rules.version_problem(version) is None) is ok


# The value-level cores the spec's rules and the policy pack both call: exact messages, as users see them.
BROAD = ("account users", "users", "all users")
NARROWER = "allowed: narrower privileges (such as EXECUTE) for 'account users', 'users', 'all users'"


def test_tag_limit_problems() -> None:
    assert list(rules.tag_limit_problems(TAGS, "model")) == []
    many = {f"k{i}": "v" for i in range(limits.UC_TAGS_PER_OBJECT + 1)}
    assert list(rules.tag_limit_problems(many, "model")) == [(None, "51 tags; allowed: at most 50 per model")]
    assert list(rules.tag_limit_problems(many, "version")) == [
        (None, "51 tags; allowed: at most 50 per version")
    ]
    long = "x" * (limits.UC_TAG_VALUE_MAX + 1)
    assert list(rules.tag_limit_problems({"a=b": "x", "ok": "y", "team": long}, "model")) == [
        ("a=b", "tag key 'a=b' contains =; allowed: any characters except . , - = / :"),
        ("team", "tag value is 1001 characters long; allowed: at most 1000"),
    ]


@pytest.mark.parametrize(
    ("version", "text", "problem"),
    [
        ("3", "Retrained.", None),
        (3, "Retrained.", None),
        ("3", " ", "is empty; allowed: a text saying what changed"),
        ("v3", "Retrained.", "version 'v3' is not a model version; allowed: a positive integer such as 3"),
        # A key that is not a version is reported as such, whatever its text.
        ("0", "", "version '0' is not a model version; allowed: a positive integer such as 3"),
    ],
)
def test_version_description_problem(version: object, text: str, problem: str | None) -> None:
    assert rules.version_description_problem(version, text) == problem


def test_undescribed_pins() -> None:
    pins = {"Production": "2", "Champion": 3, "Old": 1, "Broken": "0"}
    # Sorted by alias; the version's decimal text is the key, whether the pin is an int or text; an
    # empty text describes nothing; a pin that is not a version is left to alias-version.
    assert list(rules.undescribed_pins(pins, {"3": "Retrained.", "1": " "})) == [
        "version 1 is pinned by alias 'Old' but has no description; "
        "allowed: versionDescriptions: {'1': <what changed>}",
        "version 2 is pinned by alias 'Production' but has no description; "
        "allowed: versionDescriptions: {'2': <what changed>}",
    ]
    assert list(rules.undescribed_pins(pins, {"1": "a", "2": "b", "3": "c"})) == []


def test_grant_shape_problems() -> None:
    assert list(rules.grant_shape_problems(1, ["EXECUTE"])) == []
    assert list(rules.grant_shape_problems(0, [])) == [
        ((), "names no grantee; allowed: roles: [<role>, ...] and/or principals: [<principal>, ...]"),
        (("privileges",), "is missing or empty; allowed: one or more privileges, such as [EXECUTE]"),
    ]


@pytest.mark.parametrize(("name", "ok"), [("ml_engineers", True), (" ", False), ("", False)])
def test_principal_name_problem(name: str, ok: bool) -> None:
    assert rules.principal_name_problem(name) == (None if ok else "is empty; allowed: a name")


def test_duplicate_aliases() -> None:
    assert list(rules.duplicate_aliases(["Champion", "Production"])) == []
    assert [alias for alias, _p in rules.duplicate_aliases(["Champion", "Production", "champion"])] == [
        "Champion",
        "champion",
    ]
    [(_alias, problem), _] = rules.duplicate_aliases(["A", "a"])
    assert problem == (
        "alias 'A' is declared more than once (aliases are case-insensitive); allowed: each alias once"
    )


def test_duplicate_names() -> None:
    # Case-insensitive; the later one is reported; blank names are principal-name's to report.
    assert list(rules.duplicate_names(["a", "B", "A", " ", " ", "b"])) == [
        (2, "'A' appears more than once in this list; allowed: each name once"),
        (5, "'b' appears more than once in this list; allowed: each name once"),
    ]
    assert list(rules.duplicate_names(["EXECUTE", "APPLY_TAG"])) == []


def test_broad_all_privileges_problem() -> None:
    assert rules.broad_all_privileges_problem(["EXECUTE"], ["account users"], BROAD) is None
    assert rules.broad_all_privileges_problem(["ALL_PRIVILEGES"], ["ml_engineers"], BROAD) is None
    # Privileges in any spelling, principals in any case.
    assert rules.broad_all_privileges_problem(["all privileges"], ["Account Users"], BROAD) == (
        f"ALL_PRIVILEGES to the broad principal 'Account Users'; {NARROWER}"
    )
    assert rules.broad_all_privileges_problem(["ALL_PRIVILEGES"], ["alice", "users"], BROAD, "everyone") == (
        f"ALL_PRIVILEGES to role 'everyone', which includes the broad principal 'users'; {NARROWER}"
    )
    assert rules.broad_all_privileges_problem(["ALL_PRIVILEGES"], ["alice"], BROAD, "team") is None


def test_empty_role_problem() -> None:
    assert rules.empty_role_problem("dashboards", "staging") == (
        "role 'dashboards' is granted privileges but has no principals in environment 'staging', so its "
        "grants do nothing; allowed: a list of principals"
    )


# --------------------------------------------------------------------------------------------------------
# Registry events: webhooks (MLflow target) and deployment jobs (Databricks target)
# --------------------------------------------------------------------------------------------------------
HOOK = {
    "url": "https://ci.example/hooks/mlflow",
    "events": ["model_version_alias.created"],
    "secret": "mrgov:deployHookSecret",
}
HOOK_SECRET = ("mrgov:deployHookSecret",)
EVENTS = ", ".join(WEBHOOK_EVENTS)
JOB = {"name": "deploy-cost-anomaly-detector", "notebookPath": "/Workspace/Shared/deploy"}
SECRET_HOW = "`pulumi config set --secret mrgov:deployHookSecret <value>`"


def _hook(name: str = "deploy", **change: Any) -> dict[str, Any]:
    """The stack's one webhook, `HOOK` with `change` merged in (`None` deletes a key)."""
    return {"mrgov:webhooks": {name: merge(HOOK, change)}}


def _job(model: str = "cost_anomaly_detector", **deployment_job: Any) -> dict[str, Any]:
    return _model(model, deploymentJob=deployment_job)


def _hook_case(id_: str, key: str, message: str, change: Mapping[str, Any], **kw: Any) -> Case:
    return Case(id_, "stack", key, message, change, stack=kw.pop("stack", "local"),
                secret_keys=kw.pop("secret_keys", HOOK_SECRET), **kw)  # fmt: skip


EVENT_CASES = [
    # ---- webhooks
    _hook_case(
        "webhook-unknown-event",
        "mrgov:webhooks.deploy.events[1]",
        f"'model_version_alias.set' is not an MLflow webhook event; allowed: {EVENTS}",
        _hook(events=["model_version_alias.created", "model_version_alias.set"]),
    ),
    _hook_case(
        "webhook-no-events",
        "mrgov:webhooks.deploy.events",
        f"is missing or empty; allowed: one or more of {EVENTS}",
        _hook(events=[]),
    ),
    _hook_case(
        "webhook-event-twice",
        "mrgov:webhooks.deploy.events[1]",
        "'model_version_alias.created' appears more than once in this list; allowed: each event once",
        _hook(events=["model_version_alias.created", "model_version_alias.created"]),
    ),
    _hook_case(
        "webhook-ftp-url",
        "mrgov:webhooks.deploy.url",
        "'ftp://ci.example/hook' is not an http(s) URL; allowed: https://host/path or http://host:port/path",
        _hook(url="ftp://ci.example/hook"),
    ),
    _hook_case(
        "webhook-url-without-scheme",
        "mrgov:webhooks.deploy.url",
        "'ci.example/hook' is not an http(s) URL; allowed: https://host/path or http://host:port/path",
        _hook(url="ci.example/hook"),
    ),
    _hook_case(
        "webhook-url-missing",
        "mrgov:webhooks.deploy.url",
        "is required; allowed: the URL MLflow POSTs each event to, such as https://ci.example/hooks/mlflow",
        _hook(url=None),
    ),
    _hook_case(
        "webhook-name-with-space",
        "mrgov:webhooks.deploy hook",
        "webhook name 'deploy hook' is not a valid name; allowed: 1 to 63 letters, digits, '.', '_' and "
        "'-', starting and ending with a letter or digit",
        _hook("deploy hook"),
    ),
    _hook_case(
        "webhook-status-unknown",
        "mrgov:webhooks.deploy.status",
        "got 'PAUSED'; allowed: ACTIVE or DISABLED",
        _hook(status="PAUSED"),
    ),
    _hook_case(
        "webhook-unknown-key",
        "mrgov:webhooks.deploy.event",
        "unknown key; allowed keys: description, events, secret, status, url",
        _hook(event="model_version.created"),
    ),
    _hook_case(
        "webhook-secret-missing",
        "mrgov:webhooks.deploy.secret",
        "is required: MLflow signs each delivery with it, so the receiver can tell MLflow's calls from "
        f"anyone else's; allowed: the name of a secret config key, such as mrgov:deployHookSecret, set with "
        f"{SECRET_HOW}",
        _hook(secret=None),
    ),
    _hook_case(
        "webhook-secret-is-the-value",
        "mrgov:webhooks.deploy.secret",
        "is not the name of a config key (what it holds is not shown: it may be the secret itself); "
        f"allowed: <namespace>:<key>, such as mrgov:deployHookSecret, set with {SECRET_HOW}",
        _hook(secret="whsec-the-secret-itself"),
    ),
    _hook_case(
        "webhook-secret-not-set-as-a-secret",
        "mrgov:webhooks.deploy.secret",
        "names 'mrgov:deployHookSecret', which is not set as a secret; "
        "allowed: `pulumi config set --secret mrgov:deployHookSecret <value>`",
        _hook(),
        secret_keys=("mrgov:mlflowPassword",),
    ),
    _hook_case(
        "webhook-secret-set-in-clear",
        "mrgov:deployHookSecret",
        "is set in clear, and webhooks.deploy.secret names it as a signing secret; "
        "allowed: `pulumi config set --secret mrgov:deployHookSecret <value>`",
        {**_hook(), "mrgov:deployHookSecret": "whsec-in-clear"},
        secret_keys=(),
    ),
    _hook_case(
        "webhooks-set-as-a-secret",
        "mrgov:webhooks",
        "holds a secret value, so Pulumi hides all of it from the program; allowed: webhooks in clear, "
        f"each with secret: <the name of a secret config key>, set with {SECRET_HOW}",
        {"mrgov:protect": False},  # the loader leaves a secret key out: only its name says it is there
        secret_keys=("mrgov:webhooks",),
    ),
    _hook_case(
        "webhook-on-databricks",
        "mrgov:webhooks.deploy",
        "webhooks are an MLflow tracking server feature and Unity Catalog has none; allowed: on the "
        "databricks target, a deployment job per model (models.<model>.deploymentJob, "
        "docs/how-to/notify-deployment-pipeline.md)",
        _hook(),
        stack="dev",
    ),
    # ---- deployment jobs
    Case(
        "deployment-job-on-mlflow",
        "stack",
        "mrgov:models.cost_anomaly_detector.deploymentJob",
        "deployment jobs are a Unity Catalog feature; allowed: on the mlflow target, a webhook under "
        "webhooks, which MLflow calls when an alias moves (docs/how-to/notify-deployment-pipeline.md)",
        _job(jobId=123),
        stack="local",
    ),
    Case(
        "deployment-job-both",
        "stack",
        "mrgov:models.cost_anomaly_detector.deploymentJob",
        "names both jobId and job; allowed: one of jobId (a job that exists) or job (a job the stack "
        "creates)",
        _job(jobId=123, job=JOB),
    ),
    Case(
        "deployment-job-neither",
        "stack",
        "mrgov:models.cost_anomaly_detector.deploymentJob",
        "names no job; allowed: jobId: <the id of a job that exists> or job: {name, notebookPath}",
        _job(),
    ),
    Case(
        "deployment-job-id-not-a-number",
        "stack",
        "mrgov:models.budget_forecaster.deploymentJob.jobId",
        "'job-7' is not a Databricks job id; allowed: the job's numeric id, such as 123456",
        _job("budget_forecaster", jobId="job-7"),
    ),
    Case(
        "deployment-job-id-zero",
        "stack",
        "mrgov:models.budget_forecaster.deploymentJob.jobId",
        "0 is not a Databricks job id; allowed: the job's numeric id, such as 123456",
        _job("budget_forecaster", jobId=0),
    ),
    Case(
        "deployment-job-name-missing",
        "stack",
        "mrgov:models.cost_anomaly_detector.deploymentJob.job.name",
        "is missing or empty; allowed: the job's name, such as deploy-cost-anomaly-detector",
        _job(job={"notebookPath": "/Workspace/Shared/deploy"}),
    ),
    Case(
        "deployment-job-relative-notebook",
        "stack",
        "mrgov:models.cost_anomaly_detector.deploymentJob.job.notebookPath",
        "'Shared/deploy' is not an absolute workspace path; allowed: the deployment notebook's workspace "
        "path, such as /Workspace/Shared/deploy",
        _job(job={**JOB, "notebookPath": "Shared/deploy"}),
    ),
    Case(
        "deployment-job-notebook-missing",
        "stack",
        "mrgov:models.cost_anomaly_detector.deploymentJob.job.notebookPath",
        "is missing; allowed: the deployment notebook's workspace path, such as /Workspace/Shared/deploy",
        _job(job={"name": "deploy-cad"}),
    ),
    Case(
        "deployment-job-parameter-the-stack-sets",
        "stack",
        "mrgov:models.cost_anomaly_detector.deploymentJob.job.parameters.model_version",
        "parameter 'model_version' is set by the stack (the model's full name, and the version a run "
        "deploys); allowed: any other parameter name",
        _job(job={**JOB, "parameters": {"model_version": "3", "approver": "ml-leads"}}),
    ),
    Case(
        "deployment-job-trigger-on-reserved-alias",
        "stack",
        "mrgov:models.cost_anomaly_detector.deploymentJob.job.triggerAliases[1]",
        "alias 'latest' is reserved by MLflow; allowed: any name but 'latest' (any case) and v<digits>",
        _job(job={**JOB, "triggerAliases": ["Production", "latest"]}),
    ),
    Case(
        "deployment-job-trigger-on-eleven-aliases",
        "stack",
        "mrgov:models.cost_anomaly_detector.deploymentJob.job.triggerAliases",
        "11 aliases; allowed: at most 10 (what a Databricks model trigger watches)",
        _job(job={**JOB, "triggerAliases": [f"A{i}" for i in range(11)]}),
    ),
    Case(
        "deployment-job-unknown-key",
        "stack",
        "mrgov:models.cost_anomaly_detector.deploymentJob.jobName",
        "unknown key; allowed keys: job, jobId",
        _job(jobName="deploy-cad"),
        count=2,  # and, with the unknown key set aside, it names no job
    ),
    Case(
        "deployment-job-in-registry-yaml",
        "registry.yaml",
        "models.cost_anomaly_detector.deploymentJob.job.notebookPath",
        "'deploy' is not an absolute workspace path; allowed: the deployment notebook's workspace path, "
        "such as /Workspace/Shared/deploy",
        shared_change={
            "models": {"cost_anomaly_detector": {"deploymentJob": {"job": {**JOB, "notebookPath": "deploy"}}}}
        },
    ),
]


def test_event_cases_are_distinct() -> None:
    assert len({c.id for c in EVENT_CASES}) == len(EVENT_CASES)
    changes = {(c.stack, repr(c.stack_change), repr(c.shared_change), c.secret_keys) for c in EVENT_CASES}
    assert len(changes) == len(EVENT_CASES)


@pytest.mark.parametrize("case", EVENT_CASES, ids=[c.id for c in EVENT_CASES])
def test_bad_event_input_is_named_precisely(case: Case) -> None:
    test_bad_input_is_named_precisely(case)


def test_a_secret_written_in_place_of_its_key_name_is_never_shown() -> None:
    with pytest.raises(SpecError) as info:
        _build(_hook_case("x", "", "", _hook(secret="whsec-the-secret-itself")))
    assert "whsec-the-secret-itself" not in str(info.value)


def test_good_webhooks_and_deployment_jobs_resolve() -> None:
    spec = _build(
        _hook_case("ok", "", "", merge(_hook(status="disabled", description=" CI "), _hook("audit", events=[
            "registered_model.created", "model_version.created"]))),
    )  # fmt: skip
    assert [(w.name, w.url, w.events, w.status, w.description, w.secret_key) for w in spec.webhooks] == [
        ("audit", HOOK["url"], ("registered_model.created", "model_version.created"), "ACTIVE", "",
         "mrgov:deployHookSecret"),
        ("deploy", HOOK["url"], ("model_version_alias.created",), "DISABLED", "CI", "mrgov:deployHookSecret"),
    ]  # fmt: skip
    # Without the runtime (components.validate, the policy pack) the key's secrecy cannot be checked.
    assert _build(_hook_case("ok", "", "", _hook(), secret_keys=None)).webhooks[0].secret_key == (
        "mrgov:deployHookSecret"
    )
    jobs = _build(
        Case("ok", "", "", "", merge(_job(job={**JOB, "parameters": {"approver": "leads"}}),
                                 _job("budget_forecaster", jobId="42")))
    )  # fmt: skip
    cad, bf = jobs.model_by_name("cost_anomaly_detector"), jobs.model_by_name("budget_forecaster")
    assert cad.deployment_job is not None and cad.deployment_job.owned
    assert (cad.deployment_job.name, cad.deployment_job.notebook_path, cad.deployment_job.parameters) == (
        JOB["name"], JOB["notebookPath"], {"approver": "leads"})  # fmt: skip
    assert cad.deployment_job.trigger_aliases == ("Production",)  # the default: when Production moves
    assert bf.deployment_job is not None and (bf.deployment_job.job_id, bf.deployment_job.owned) == (
        "42",
        False,
    )
    assert jobs.webhooks == ()
