"""The Databricks components one at a time, and the grant-list rules, under Pulumi mocks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from components.databricks.catalog import Catalog, CatalogArgs
from components.databricks.grants import grant_list, holders_by_privilege
from components.databricks.model import RegisteredModel, RegisteredModelArgs
from components.databricks.registry import registry_uri_for
from components.databricks.schema import Schema, SchemaArgs
from components.spec import DatabricksTarget, Grant, ModelSpec
from provider import sdk
from provider.limits import alias_uri
from tests.unit.conftest import MRGOV_METADATA, MRGOV_PROVIDER, MockRun

DEPLOYER = "sp-deployer"


# No retention, no gates: `archiveAfterDays` is unset (so not sent), the rest are the defaults.
NO_LIFECYCLE = {"archiveKeepLatest": 0.0, "gates": {}, "gateOverrides": {}}


def uc_registry() -> sdk.Provider:
    """The mrgov provider on Unity Catalog, as DatabricksRegistry makes it (`{name}-mrgov`)."""
    return sdk.Provider("mrgov", sdk.ProviderArgs(registry_uri="databricks-uc"))


def model(name: str, args: RegisteredModelArgs) -> RegisteredModel:
    """A Databricks RegisteredModel component, its metadata through its own mrgov provider."""
    return RegisteredModel(name, args, registry=uc_registry())


def model_spec(name: str, **declared: Any) -> ModelSpec:
    """A resolved model `cat.sch.<name>` that declares only `declared` (as resolve_spec gives it)."""
    nothing: dict[str, Any] = {
        "description": "",
        "owner": None,
        "tags": {},
        "version_descriptions": {},
        "aliases": {},
        "retain_on_delete": False,
        "served": False,
        "adopt": False,
        "grants": (),
    }
    return ModelSpec(name=name, schema_name="sch", full_name=f"cat.sch.{name}", **(nothing | declared))


def g(principal: str, *privileges: str) -> Grant:
    return Grant(principal=principal, principal_kind="group", privileges=tuple(privileges))


# ------------------------------------------------------------------------------------------------------
# grant_list: order, merging, and the lock-out check
# ------------------------------------------------------------------------------------------------------
def test_grant_list_sorts_principals_and_privileges_and_merges_duplicates() -> None:
    grants = [g("zeta", "USE_SCHEMA"), g("alpha", "USE_SCHEMA", "CREATE_MODEL"), g("zeta", "CREATE_MODEL")]
    grants.append(g(DEPLOYER, "USE_SCHEMA", "MANAGE"))
    assert grant_list("schema", "c.s", grants, deployer=DEPLOYER, owner=None) == (
        ("alpha", ("CREATE_MODEL", "USE_SCHEMA")),
        (DEPLOYER, ("MANAGE", "USE_SCHEMA")),
        ("zeta", ("CREATE_MODEL", "USE_SCHEMA")),
    )


@pytest.mark.parametrize(
    ("securable", "held", "missing"),
    [
        ("catalog", ("USE_CATALOG",), "MANAGE"),
        ("catalog", ("MANAGE",), "USE_CATALOG"),
        ("schema", ("MANAGE",), "USE_SCHEMA"),
        ("model", ("EXECUTE",), "MANAGE"),
    ],
)
def test_grant_list_refuses_to_lock_the_deployer_out(
    securable: Any, held: tuple[str, ...], missing: str
) -> None:
    with pytest.raises(ValueError) as err:
        grant_list(
            securable, "c.s.m", [g("team", "EXECUTE"), g(DEPLOYER, *held)], deployer=DEPLOYER, owner=None
        )
    assert str(err.value).startswith(
        f"{securable} 'c.s.m': the grants would take {missing} away from the deployer 'sp-deployer'"
    )


def test_grant_list_needs_no_grant_for_an_owning_deployer_or_without_deployer() -> None:
    assert grant_list("model", "c.s.m", [g("team", "EXECUTE")], deployer=DEPLOYER, owner=DEPLOYER) == (
        ("team", ("EXECUTE",)),
    )
    assert grant_list("model", "c.s.m", [g("team", "EXECUTE")], deployer=None, owner=None) == (
        ("team", ("EXECUTE",)),
    )


def test_holders_by_privilege_inverts_the_list() -> None:
    assert holders_by_privilege((("b", ("EXECUTE", "MANAGE")), ("a", ("EXECUTE",)))) == {
        "EXECUTE": ["a", "b"],
        "MANAGE": ["b"],
    }


def test_registry_uri_for_a_profile() -> None:
    assert registry_uri_for(DatabricksTarget(kind="databricks")) == "databricks-uc"
    assert registry_uri_for(DatabricksTarget(kind="databricks", profile="PROD")) == "databricks-uc://PROD"
    assert alias_uri("c.s.m", "Champion") == "models:/c.s.m@Champion"


# ------------------------------------------------------------------------------------------------------
# Components on their own
# ------------------------------------------------------------------------------------------------------
def test_catalog_with_isolation_mode_and_no_grants(mock_program: Callable[..., MockRun]) -> None:
    run = mock_program(
        lambda: {
            "name": Catalog("c", CatalogArgs("sandbox", isolation_mode="ISOLATED", protect=True)).catalog_name
        }
    )
    assert [(r.type, r.name, r.parent_name) for r in run.registrations] == [
        ("mrgov:databricks:Catalog", "c", "mrgov-dev"),
        ("databricks:index/catalog:Catalog", "c-catalog", "c"),
    ]
    catalog = run.by_name("c-catalog")
    assert catalog.inputs == {"name": "sandbox", "isolationMode": "ISOLATED"}
    assert catalog.protect and not catalog.retain_on_delete
    # No grants declared and no deployer: grants on it are left alone, not wiped by an empty list.
    assert run.outputs == {"name": "sandbox"}


def test_schema_grants_follow_the_schema(mock_program: Callable[..., MockRun]) -> None:
    grants = (("team", ("USE_SCHEMA",)),)
    run = mock_program(
        lambda: {
            "full_name": Schema(
                "s",
                SchemaArgs("cat", "feat", comment="Features.", owner="owners", grants=grants, protect=True),
            ).full_name
        }
    )
    schema, schema_grants = run.by_name("s-schema"), run.by_name("s-grants")
    assert schema.inputs == {"catalogName": "cat", "name": "feat", "comment": "Features.", "owner": "owners"}
    assert schema_grants.inputs == {
        "schema": "cat.feat",
        "grants": [{"principal": "team", "privileges": ["USE_SCHEMA"]}],
    }
    # The schema is protected; its grants are not (protect is inherited unless set, so it is set).
    assert (schema.protect, schema_grants.protect) == (True, False)
    assert schema_grants.deleted_with == schema.urn
    assert run.outputs == {"full_name": "cat.feat"}


def test_model_without_tags_aliases_or_grants(mock_program: Callable[..., MockRun]) -> None:
    def program() -> dict[str, Any]:
        m = model("m", RegisteredModelArgs(model_spec("bare_model", owner="ml-owners")))
        return {"uris": m.alias_uris, "full_name": m.full_name, "unmanaged": m.unmanaged_aliases}

    run = mock_program(program)
    # Sorted: the provider and the component register concurrently, so their order varies by run.
    assert sorted((r.type, r.name) for r in run.registrations) == sorted(
        [
            (MRGOV_PROVIDER, "mrgov"),
            ("mrgov:databricks:RegisteredModel", "m"),
            ("databricks:index/registeredModel:RegisteredModel", "m-model"),
            (MRGOV_METADATA, "m-metadata"),
        ]
    )
    assert run.by_name("m-model").inputs == {
        "catalogName": "cat",
        "schemaName": "sch",
        "name": "bare_model",
        "owner": "ml-owners",
    }
    # One ModelMetadata per model, even with nothing declared: it reports the aliases others set.
    metadata = run.by_name("m-metadata")
    assert metadata.inputs == {
        "model": "cat.sch.bare_model",
        "tags": {},
        "aliases": {},
        "versionDescriptions": {},
        "versionTags": {},
        **NO_LIFECYCLE,
    }
    assert metadata.provider_urn == run.by_name("mrgov").urn
    assert (metadata.parent, metadata.deleted_with) == (run.by_name("m-model").urn,) * 2
    assert run.outputs == {"uris": {}, "full_name": "cat.sch.bare_model", "unmanaged": {}}


def test_model_children_are_never_protected_even_under_a_protected_model(
    mock_program: Callable[..., MockRun],
) -> None:
    args = RegisteredModelArgs(
        model_spec(
            "some_model",
            aliases={"Production": 4},
            tags={"domain": "cost"},
            version_descriptions={4: "Fourth."},
        ),
        grants=(("team", ("EXECUTE",)),),
        protect=True,
    )
    run = mock_program(lambda: {"uris": model("m", args).alias_uris})
    assert {r.name: r.protect for r in run.registrations} == {
        "mrgov": False,
        "m": False,
        "m-model": True,
        "m-grants": False,
        "m-metadata": False,
    }
    assert run.by_name("m-metadata").inputs == {
        "model": "cat.sch.some_model",
        "tags": {"domain": "cost"},
        "aliases": {"Production": "4"},
        "versionDescriptions": {"4": "Fourth."},
        "versionTags": {},
        **NO_LIFECYCLE,
    }
    assert run.outputs == {"uris": {"Production": "models:/cat.sch.some_model@Production"}}
