"""The stack spec: the four real stack files resolved, the merge rules, and loading through pulumi.Config."""

from __future__ import annotations

import json
import typing
from collections.abc import Iterator
from pathlib import Path

import pulumi
import pytest
from pulumi.runtime import config as runtime_config
from pydantic import BaseModel

from components import rules
from components.spec import (
    DatabricksTarget,
    MlflowTarget,
    Principal,
    PrincipalConfig,
    SpecError,
    StackConfig,
    StackSpec,
    build,
    build_from_files,
    load_from_pulumi,
    load_shared,
    load_stack_file,
    load_yaml,
    merge,
    principal_of,
)

ROOT = Path(__file__).resolve().parents[2]
SEED_MODELS = ["cost_anomaly_detector", "budget_forecaster", "failure_predictor"]
SEED_TAGS = {
    "cost_anomaly_detector": {
        "domain": "cost",
        "model_type": "anomaly_detection",
        "algorithm": "isolation_forest",
    },
}


@pytest.fixture(scope="module")
def stacks() -> dict[str, StackSpec]:
    return {name: build_from_files(ROOT, name) for name in ("local", "dev", "staging", "prod")}


def _principals(spec: StackSpec) -> dict[str, list[str]]:
    return {r.name: [p.name for p in r.principals] for r in spec.roles}


# --------------------------------------------------------------------------------------------------------
# The four stacks
# --------------------------------------------------------------------------------------------------------
def test_local_stack_is_mlflow_on_loopback(stacks: dict[str, StackSpec]) -> None:
    spec = stacks["local"]
    assert spec.target == MlflowTarget(kind="mlflow", tracking_uri="http://127.0.0.1:5000")
    assert spec.catalog.name == "local_catalog"
    assert [m.name for m in spec.models] == SEED_MODELS
    assert [spec.full_name(m) for m in spec.models] == [
        f"local_catalog.gold_features.{m}" for m in SEED_MODELS
    ]
    assert [m.full_name for m in spec.models] == [spec.full_name(m) for m in spec.models]
    # MLflow roles stand in for groups: simple names, not emails.
    assert _principals(spec) == {
        "ml_engineers": ["ml_engineers"],
        "inference_jobs": ["inference_jobs"],
        "dashboards": ["dashboards"],
    }
    assert all(p.kind == "group" for r in spec.roles for p in r.principals)
    assert {m.name: m.aliases for m in spec.models} == {
        "cost_anomaly_detector": {"Champion": 2, "Production": 2},
        "budget_forecaster": {"Champion": 1, "Production": 1},
        "failure_predictor": {},
    }
    # The demo training script creates versions 1 and 2 of every model.
    assert max(v for m in spec.models for v in m.aliases.values()) <= 2
    # Retained: `make down` leaves the demo's trained versions in the registry.
    assert all(m.retain_on_delete for m in spec.models)
    assert spec.protect is False
    assert spec.deployer is None


def test_databricks_stacks_catalogs_and_principals(stacks: dict[str, StackSpec]) -> None:
    for env in ("dev", "staging", "prod"):
        spec = stacks[env]
        assert isinstance(spec.target, DatabricksTarget)
        assert spec.target.registry_uri == "databricks-uc"
        assert spec.catalog.name == f"{env}_catalog"
        assert [s.full_name for s in spec.schemas] == [f"{env}_catalog.gold_features"]
        principals = _principals(spec)
        assert principals["ml_engineers"] == [f"{env}-ml-engineers"]
        assert principals["dashboards"] == [f"{env}-bi-dashboards"]
        (job,) = spec.role_by_name("inference_jobs").principals
        assert job.kind == "service_principal"
        assert spec.deployer is not None and spec.deployer.kind == "service_principal"
    deployers = {stacks[e].deployer for e in ("dev", "staging", "prod")}
    assert len(deployers) == 3, "each environment deploys with its own identity"


def test_models_are_defined_once_and_stacks_add_or_drop(stacks: dict[str, StackSpec]) -> None:
    assert [m.name for m in stacks["dev"].models] == [*SEED_MODELS, "usage_trend_forecaster"]
    assert [m.name for m in stacks["staging"].models] == SEED_MODELS
    assert [m.name for m in stacks["prod"].models] == SEED_MODELS[:2]
    # The shared description and tags reach every stack unchanged.
    seed = stacks["local"].model_by_name("cost_anomaly_detector")
    assert seed.description.startswith("Cost Anomaly Detector\n\nPurpose: Detect unusual spending patterns")
    assert seed.tags == SEED_TAGS["cost_anomaly_detector"]
    assert seed.version_descriptions[3] == (
        "Retrained with 30-day lookback features. Improved anomaly rate from 8% to 5%."
    )
    for env in ("dev", "staging", "prod"):
        model = stacks[env].model_by_name("cost_anomaly_detector")
        assert (model.description, model.tags, model.version_descriptions) == (
            seed.description,
            seed.tags,
            seed.version_descriptions,
        )
        assert model.schema_name == "gold_features"
    for spec in stacks.values():
        for model in spec.models:
            assert {"domain", "algorithm", "model_type"} <= set(model.tags), (spec.stack, model.name)


def test_alias_pins_per_stack(stacks: dict[str, StackSpec]) -> None:
    pins = {env: {m.name: m.aliases for m in spec.models} for env, spec in stacks.items()}
    assert pins["dev"]["cost_anomaly_detector"] == {"Champion": 3}
    assert pins["dev"]["budget_forecaster"] == {"Champion": 2}
    assert pins["staging"] == {
        "cost_anomaly_detector": {"Champion": 3, "Production": 3},
        "budget_forecaster": {"Champion": 2, "Production": 2},
        "failure_predictor": {"Champion": 1},
    }
    assert pins["prod"] == {
        "cost_anomaly_detector": {"Champion": 3, "Production": 3},
        "budget_forecaster": {"Production": 2},
    }
    assert stacks["prod"].model_by_name("cost_anomaly_detector").managed_aliases == ("Champion", "Production")


def test_prod_is_protected_and_served_models_pin_production(stacks: dict[str, StackSpec]) -> None:
    prod = stacks["prod"]
    assert prod.is_production and prod.protect
    served = [m for m in prod.models if m.served]
    assert served, "prod serves models"
    assert all("Production" in m.aliases for m in served)
    assert all(m.retain_on_delete for m in prod.models)
    assert prod.catalog.owner == "prod-platform-admins"
    for env in ("local", "dev", "staging"):
        assert not stacks[env].is_production and not stacks[env].protect
    for env in ("dev", "staging"):
        assert not any(m.retain_on_delete for m in stacks[env].models)


def test_grants_are_resolved_to_principals_sorted(stacks: dict[str, StackSpec]) -> None:
    dev = stacks["dev"]
    assert dev.deployer is not None
    deployer = dev.deployer.name
    job = dev.role_by_name("inference_jobs").principals[0].name
    assert dev.model_by_name("cost_anomaly_detector").grants_by_principal == {
        deployer: ("MANAGE",),
        job: ("EXECUTE",),
        "dev-bi-dashboards": ("EXECUTE",),
        "dev-ml-engineers": ("APPLY_TAG", "CREATE_MODEL_VERSION"),
    }
    assert dev.schema_by_name("gold_features").grants_by_principal == {
        deployer: ("MANAGE", "USE_SCHEMA"),
        job: ("USE_SCHEMA",),
        "dev-bi-dashboards": ("USE_SCHEMA",),
        "dev-ml-engineers": ("CREATE_MODEL", "USE_SCHEMA"),
    }
    assert dev.catalog.grants_by_principal[deployer] == ("MANAGE", "USE_CATALOG")
    assert dev.catalog.mode == "create"
    for spec in stacks.values():
        for securable in (spec.catalog, *spec.schemas, *spec.models):
            names = [g.principal for g in securable.grants]
            assert names == sorted(names)
            assert all(list(g.privileges) == sorted(g.privileges) for g in securable.grants)


def test_local_grants_have_no_deployer(stacks: dict[str, StackSpec]) -> None:
    model = stacks["local"].model_by_name("budget_forecaster")
    assert model.grants_by_principal == {
        "dashboards": ("EXECUTE",),
        "inference_jobs": ("EXECUTE",),
        "ml_engineers": ("APPLY_TAG", "CREATE_MODEL_VERSION"),
    }


def test_real_stacks_raise_no_warnings(stacks: dict[str, StackSpec]) -> None:
    assert {env: spec.warnings for env, spec in stacks.items()} == {env: () for env in stacks}


def test_stack_files_carry_only_differences() -> None:
    allowed = {"target", "catalog", "deployer", "protect", "roles", "models", "environment", "modelDefaults"}
    for env in ("local", "dev", "staging", "prod"):
        raw = load_stack_file(ROOT, env)
        assert set(raw) <= allowed, env
        # Defaults may differ per stack only in protection (local retains the demo's trained models).
        assert set(raw.get("modelDefaults") or {}) <= {"retainOnDelete"}, env
        for model in (raw.get("models") or {}).values():
            # Shared models are only pinned or switched off here; their description lives once.
            if model is not None and set(model) - {"aliases", "retainOnDelete"}:
                assert "description" in model and model not in load_shared(ROOT)["models"].values()


# --------------------------------------------------------------------------------------------------------
# Merge rules
# --------------------------------------------------------------------------------------------------------
def test_merge_mappings_merge_lists_replace_null_deletes() -> None:
    base = {"a": {"x": 1, "y": [1, 2]}, "b": 1, "c": {"keep": True}}
    over = {"a": {"y": [3], "z": 2}, "b": None, "d": "new"}
    assert merge(base, over) == {"a": {"x": 1, "y": [3], "z": 2}, "c": {"keep": True}, "d": "new"}
    assert base == {"a": {"x": 1, "y": [1, 2]}, "b": 1, "c": {"keep": True}}, "inputs are not mutated"


SHARED = {
    "catalog": {"comment": "shared comment", "properties": {"owner_team": "platform"}},
    "schemas": {"gold_features": {}},
    "roles": {"ml_engineers": {"description": "engineers", "modelCreator": True}},
    "modelDefaults": {
        "schema": "gold_features",
        "tags": {"team": "ml"},
        "grants": [{"roles": ["ml_engineers"], "privileges": ["execute"]}],
    },
    "models": {
        "cost_anomaly_detector": {
            "description": "Finds odd spend.",
            "tags": {"domain": "cost", "algorithm": "isolation_forest", "model_type": "anomaly_detection"},
        },
    },
}
LOCAL = {"mrgov:target": {"kind": "mlflow", "trackingUri": "http://127.0.0.1:5000"}, "mrgov:catalog": "c1"}


def test_stack_values_win_and_shorthands_expand() -> None:
    raw = {
        **LOCAL,
        "mrgov:catalog": {"name": "c2", "comment": "stack comment"},
        "mrgov:roles": {"ml_engineers": ["alice@example.com", {"name": "bob", "kind": "user"}]},
        "aws:region": "ignored: another namespace",
        "mrgov:models": {"cost_anomaly_detector": {"tags": {"team": "risk"}, "aliases": {"Champion": "2"}}},
    }
    spec = build("local", raw, shared=SHARED)
    assert (spec.catalog.name, spec.catalog.comment, spec.catalog.properties) == (
        "c2",
        "stack comment",
        {"owner_team": "platform"},
    )
    role = spec.role_by_name("ml_engineers")
    assert (role.description, role.model_creator) == ("engineers", True)
    assert role.principals == (
        Principal(name="alice@example.com", kind="user"),
        Principal(name="bob", kind="user"),
    )
    model = spec.model_by_name("cost_anomaly_detector")
    assert model.tags == {
        "algorithm": "isolation_forest",
        "domain": "cost",
        "model_type": "anomaly_detection",
        "team": "risk",
    }
    assert model.aliases == {"Champion": 2}
    # Privileges in SQL spelling or lower case come out in API spelling.
    assert model.grants_by_principal == {"alice@example.com": ("EXECUTE",), "bob": ("EXECUTE",)}


def test_model_grants_replace_defaults_and_null_drops() -> None:
    raw = {
        **LOCAL,
        "mrgov:roles": {"ml_engineers": ["eng"]},
        "mrgov:models": {
            "cost_anomaly_detector": {
                "grants": [{"principals": ["auditors"], "privileges": ["APPLY TAG"]}],
                "tags": {"team": None},
            }
        },
    }
    model = build("local", raw, shared=SHARED).model_by_name("cost_anomaly_detector")
    assert model.grants_by_principal == {"auditors": ("APPLY_TAG",)}
    assert "team" not in model.tags
    dropped = build("local", {**LOCAL, "mrgov:models": {"cost_anomaly_detector": None}}, shared=SHARED)
    assert dropped.models == ()


def test_version_keys_from_yaml_ints_and_json_text_agree() -> None:
    yaml_like = {
        **LOCAL,
        "mrgov:models": {"cost_anomaly_detector": {"versionDescriptions": {2: "b", 10: "j"}}},
    }
    json_like = json.loads(json.dumps(yaml_like))
    for raw in (yaml_like, json_like):
        model = build("local", raw, shared=SHARED).model_by_name("cost_anomaly_detector")
        assert model.version_descriptions == {2: "b", 10: "j"}


def test_archive_gates_overrides_and_version_tags_merge_with_model_defaults() -> None:
    shared = merge(
        SHARED,
        {
            "modelDefaults": {
                "archive": {"afterDays": 30, "keepLatest": 2},
                "gates": {"Production": {"metric": "val_f1", "min": 0.5}},
            },
            "models": {
                "cost_anomaly_detector": {
                    # A gate for an alias this stack does not pin: it applies where it is pinned.
                    "gates": {
                        "Production": {"min": 0.8},
                        "Champion": {"metric": "auc", "against": "none", "max": 1},
                    },
                    "versionTags": {3: {"validation_status": "passed"}},
                }
            },
        },
    )
    raw = {
        **LOCAL,
        "mrgov:models": {
            "cost_anomaly_detector": {
                "aliases": {"Production": 3},
                "archive": {"keepLatest": 5},  # mappings merge: afterDays stays from modelDefaults
                "versionTags": {"3": {"reviewed_by": "ds"}, "4": {"validation_status": "failed"}},
                "overrides": {"Production": {"reason": " INC-123: rollback "}},
            }
        },
    }
    model = build("local", raw, shared=shared).model_by_name("cost_anomaly_detector")
    assert model.archive is not None and (model.archive.after_days, model.archive.keep_latest) == (30, 5)
    assert list(model.gates) == ["Production"]
    gate = model.gates["Production"]
    assert (gate.metric, gate.min, gate.against, gate.higher_is_better, gate.min_delta) == (
        "val_f1",
        0.8,
        "current",
        True,
        0.0,
    )
    assert model.overrides == {"Production": "INC-123: rollback"}
    assert model.version_tags == {
        3: {"reviewed_by": "ds", "validation_status": "passed"},
        4: {"validation_status": "failed"},
    }
    # `null` deletes an inherited default, as for any mapping.
    off = merge(raw, {"mrgov:models": {"cost_anomaly_detector": {"archive": None, "overrides": None}}})
    model = build("local", off, shared=merge(shared, {"modelDefaults": {"archive": None}})).model_by_name(
        "cost_anomaly_detector"
    )
    assert (model.archive, model.overrides) == (None, {})


def test_the_seed_models_gate_production_in_every_stack_that_pins_it(stacks: dict[str, StackSpec]) -> None:
    for name, spec in stacks.items():
        for model in spec.models:
            assert set(model.gates) == {"Production"} & set(model.aliases), (name, model.name)
    local = stacks["local"]
    assert local.model_by_name("cost_anomaly_detector").gates["Production"].metric == "val_f1"
    bf = local.model_by_name("budget_forecaster").gates["Production"]
    assert (bf.metric, bf.higher_is_better, bf.max) == ("val_rmse", False, 900.0)


def test_environment_defaults_to_stack_and_drives_protection() -> None:
    spec = build("prod", {**LOCAL, "mrgov:environment": "prod"}, shared=SHARED)
    assert (spec.environment, spec.is_production, spec.protect) == ("prod", True, True)
    spec = build("qa", LOCAL, shared=SHARED)
    assert (spec.environment, spec.is_production, spec.protect) == ("qa", False, False)


@pytest.mark.parametrize(
    ("ref", "kind"),
    [
        ("ml-engineers", "group"),
        ("jane@example.com", "user"),
        ("6a1f2c3d-4b5e-4f60-8a7b-9c0d1e2f3a4b", "service_principal"),
        ({"name": "svc", "kind": "user"}, "user"),
    ],
)
def test_principal_kind(ref: object, kind: str) -> None:
    assert principal_of(PrincipalConfig.model_validate(ref)).kind == kind


# --------------------------------------------------------------------------------------------------------
# Files and the Pulumi runtime
# --------------------------------------------------------------------------------------------------------
def test_duplicate_yaml_key_is_refused(tmp_path: Path) -> None:
    (tmp_path / "registry.yaml").write_text("models:\n  a_b: {}\n  a_b: {}\n")
    with pytest.raises(SpecError) as info:
        load_yaml(tmp_path / "registry.yaml")
    (problem,) = info.value.problems
    assert problem.file == "registry.yaml"
    assert "duplicate key 'a_b' (first on line 2); each name may appear once" in problem.message
    assert "line 3" in problem.message


def test_secure_values_in_stack_files_are_not_read(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.x.yaml").write_text(
        "config:\n  mrgov:catalog: c\n  mrgov:mlflowPassword:\n    secure: v1:abc\n  other:key: 1\n"
    )
    assert load_stack_file(tmp_path, "x") == {"catalog": "c"}


class _Mocks(pulumi.runtime.Mocks):
    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, object]]:
        return args.name, dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, object], list[tuple[str, str]]]:
        return {}, []


@pytest.fixture
def pulumi_config(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.chdir(ROOT)  # the mocks have no root directory: registry.yaml is found from the cwd
    pulumi.runtime.set_mocks(_Mocks(), project="mrgov", stack="local", preview=True)
    yield
    runtime_config.set_all_config({}, [])


# The MLflow target both config tests give, its password in the secret config key mrgov:mlflowPassword.
CONFIG_TARGET = {
    "kind": "mlflow", "trackingUri": "http://127.0.0.1:5999", "passwordSecret": "mrgov:mlflowPassword"
}  # fmt: skip


def _set_config(config: dict[str, str], secret_keys: list[str]) -> None:
    """The stack config Pulumi hands the program: CONFIG_TARGET, catalog `cfg_catalog`, then `config`."""
    runtime_config.set_all_config(
        {"mrgov:target": json.dumps(CONFIG_TARGET), "mrgov:catalog": "cfg_catalog", **config}, secret_keys
    )


def test_load_from_pulumi_reads_json_config_and_skips_secrets(
    pulumi_config: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    warnings: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", lambda msg, *a, **k: warnings.append(msg))
    _set_config(
        {
            "mrgov:protect": "false",
            "mrgov:models": json.dumps(
                {"failure_predictor": None, "cost_anomaly_detector": {"aliases": {"A": 7}}}
            ),
            "mrgov:mlflowPassword": "s3cret-value-never-read",
        },
        ["mrgov:mlflowPassword"],
    )
    spec = load_from_pulumi()
    assert spec.stack == "local"
    assert spec.target == MlflowTarget(
        kind="mlflow", tracking_uri="http://127.0.0.1:5999", password_secret="mrgov:mlflowPassword"
    )
    assert spec.catalog.name == "cfg_catalog"
    assert [m.name for m in spec.models] == ["cost_anomaly_detector", "budget_forecaster"]
    assert "s3cret-value-never-read" not in spec.model_dump_json()
    # Advisory problems are logged, not raised: version 7 has no description, and no role has principals.
    assert len(warnings) == 4
    assert "version 7 is pinned by alias 'A' but has no description" in warnings[-1]
    assert [w.split(": ")[0] for w in warnings[:3]] == [
        f"Pulumi.local.yaml mrgov:roles.{role}.principals"
        for role in ("dashboards", "inference_jobs", "ml_engineers")
    ]
    assert warnings == list(spec.warnings)


def test_load_from_pulumi_refuses_plain_password_key_and_misspelt_keys(pulumi_config: None) -> None:
    _set_config({"mrgov:mlflowPassword": "in-clear", "mrgov:model": "{}"}, [])
    with pytest.raises(SpecError) as info:
        load_from_pulumi()
    got = {(p.file, p.key): p.message for p in info.value.problems}
    assert got[("Pulumi.local.yaml", "mrgov:target.passwordSecret")] == (
        "'mrgov:mlflowPassword' is not set as a secret; "
        "allowed: `pulumi config set --secret mrgov:mlflowPassword ...`"
    )
    assert got[("Pulumi.local.yaml", "mrgov:model")].startswith(
        "unknown key; allowed keys: catalog, deployer"
    )


# --------------------------------------------------------------------------------------------------------
# The docs keep up with the code
# --------------------------------------------------------------------------------------------------------
def _config_keys(model: type[BaseModel], seen: set[type[BaseModel]]) -> set[str]:
    keys: set[str] = set()
    if model in seen:
        return keys
    seen.add(model)
    for name, info in model.model_fields.items():
        keys.add(info.alias or name)
        for arg in _flatten(info.annotation):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                keys |= _config_keys(arg, seen)
    return keys


def _flatten(tp: object) -> Iterator[object]:
    yield tp
    for arg in typing.get_args(tp):
        yield from _flatten(arg)


def test_docs_name_every_config_key_and_rule() -> None:
    doc = (ROOT / "docs" / "config.md").read_text()
    keys = _config_keys(StackConfig, set()) - {"kind", "name"}
    # Target fields are written camelCase in config.
    assert {"trackingUri", "passwordSecret", "registryUri", "modelCreator", "versionDescriptions"} <= keys
    missing = sorted(k for k in keys if f"`{k}`" not in doc)
    assert not missing, f"docs/config.md does not document {missing}"
    rule_ids = [r.id for r in rules.RULES] + [r[0] for r in rules.RAW_RULES]
    assert not [r for r in rule_ids if f"`{r}`" not in doc]


def test_a_models_owner_is_resolved_to_a_principal() -> None:
    raw = load_stack_file(ROOT, "local")
    raw["models"].setdefault("cost_anomaly_detector", {})["owner"] = "ml-platform"
    raw["models"].setdefault("budget_forecaster", {})["owner"] = "ana@example.com"
    spec = build("local", raw, ROOT)
    # Components read the owner's kind from the spec; they never infer it themselves.
    assert spec.model_by_name("cost_anomaly_detector").owner_principal == Principal(
        name="ml-platform", kind="group"
    )
    assert spec.model_by_name("budget_forecaster").owner_principal == Principal(
        name="ana@example.com", kind="user"
    )
    assert spec.model_by_name("failure_predictor").owner_principal is None
