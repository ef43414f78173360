"""RegisteredModel: a registered model on an MLflow tracking server.

- Create adopts a model that already exists (a training pipeline registered it first): no error, no
  recreation; the declared description is applied, and the output `adopted` says so.
- The description is updated in place. A new name is a replacement, and so a delete of the old model,
  which the rule below guards.
- Delete refuses while the model has versions, because deleting a model deletes its versions. With
  `retainOnDelete` the model is left in the registry instead.
- `initialTags` are sent with the create request only, which saves one request per tag; a model's
  `ModelMetadata` manages its tags afterwards and finds them already set.

On Unity Catalog the model is a `databricks.RegisteredModel` (pulumi-databricks); this resource
refuses a `databricks-uc` registry.
"""

from __future__ import annotations

from dataclasses import dataclass

from provider.config import Connection
from provider.declare import Props, arg, out
from provider.limits import model_name_problem, tag_problems
from provider.registry import state
from provider.registry.client import is_already_exists, is_not_found, registry_client
from provider.resource import Failures, ProviderError, Resource

PROMPT_TAG = "mlflow.prompt.is_prompt"


@dataclass(frozen=True)
class RegisteredModelProps(Props):
    TOKEN = "mrgov:registry:RegisteredModel"
    DESCRIPTION = (
        "A registered model on an MLflow tracking server. Creating it adopts a model of that name that "
        "already exists; deleting it is refused while the model has versions, unless `retainOnDelete`."
    )
    ID = "the model's full name, `catalog.schema.model`"

    name: str = arg("The model's full name, `catalog.schema.model`.", replace=True)
    description: str = arg("The model's description (Markdown).", default="")
    initial_tags: dict[str, str] = arg(
        "Tags sent with the create request only, to save requests; `ModelMetadata` manages tags.",
        default_factory=dict,
        diffed=False,
    )
    retain_on_delete: bool = arg(
        "Leave the model in the registry when it leaves the stack, instead of deleting it.",
        default=False,
    )
    adopted: bool = out("True when the model existed before the stack created it (it was adopted).",
                        default=False)  # fmt: skip
    registry_aliases: dict[str, str] = out(
        "Every alias on the model as last seen (create, update or refresh), managed or not.",
        default_factory=dict,
    )


class RegisteredModel(Resource[RegisteredModelProps]):
    PROPS = RegisteredModelProps

    def check(
        self, conn: Connection, news: RegisteredModelProps, olds: RegisteredModelProps | None
    ) -> Failures:
        failures: Failures = []
        if conn.uc:
            failures.append(
                ("name", "on Unity Catalog the model is a databricks.RegisteredModel; use ModelMetadata "
                 "for its tags, aliases and versions")
            )  # fmt: skip
        if problem := model_name_problem(news.name, uc=conn.uc):
            failures.append(("name", problem))
        failures += [("initialTags", p) for p in tag_problems(news.initial_tags, uc=conn.uc)]
        return failures

    def create(self, conn: Connection, props: RegisteredModelProps) -> tuple[str, RegisteredModelProps]:
        # Read first: a model of that name usually exists already (a training pipeline registered
        # it), and its GET is what adopting needs anyway. Creating first would cost a refused create
        # and then the same GET; reading first costs one GET more only when the model is new.
        uri, name = conn.registry_uri, props.name
        current = state.get_model(uri, name, fresh=True)
        adopted = current is not None
        if current is None:
            try:
                created = registry_client(uri).create_registered_model(
                    name, tags=props.initial_tags or {}, description=props.description or None
                )
                current = state.remember_model(uri, created)
            except Exception as exc:
                if not is_already_exists(exc):
                    raise
                # Registered by someone else between our read and our create.
                current, adopted = state.get_model(uri, name, fresh=True), True
                if current is None:  # and deleted again since: let the next run create it
                    raise ProviderError(f"registered model {name!r} vanished from {conn.label} while "
                                        "being adopted; run `pulumi up` again") from exc  # fmt: skip
        if adopted:
            current = self._adopt(conn, props, current)
        # Its ModelMetadata's create needs the same state, often minutes later in a large stack.
        state.hand_over(uri, current)
        return name, self._outs(props, current, adopted=adopted)

    def _adopt(
        self, conn: Connection, props: RegisteredModelProps, current: state.ModelState
    ) -> state.ModelState:
        """Take over an existing model: refuse a prompt, apply the declared description."""
        uri, name = conn.registry_uri, props.name
        if current.tags.get(PROMPT_TAG, "").lower() == "true":
            raise ProviderError(
                f"{name!r} on {conn.label} is an MLflow prompt, not a registered model; choose another name",
                "name",
            )
        if current.description != props.description:
            updated = registry_client(uri).update_registered_model(name, props.description)
            return state.remember_model(uri, updated)
        return current

    @staticmethod
    def _outs(
        props: RegisteredModelProps, seen: state.ModelState | None, *, adopted: bool
    ) -> RegisteredModelProps:
        aliases = dict(sorted(seen.aliases.items())) if seen else props.registry_aliases
        return RegisteredModelProps(
            name=props.name,
            description=props.description,
            initial_tags=props.initial_tags,
            retain_on_delete=props.retain_on_delete,
            adopted=adopted,
            registry_aliases=aliases,
        )

    def read(
        self, conn: Connection, id_: str, props: RegisteredModelProps | None
    ) -> RegisteredModelProps | None:
        current = state.get_model(conn.registry_uri, id_)
        if current is None:
            return None
        state.hand_over(conn.registry_uri, current)  # for its ModelMetadata's read in the same refresh
        last = props or RegisteredModelProps(name=id_)
        return self._outs(
            RegisteredModelProps(
                name=current.name,
                description=current.description,
                initial_tags=last.initial_tags,
                retain_on_delete=last.retain_on_delete,
            ),
            current,
            adopted=last.adopted,
        )

    def update(
        self, conn: Connection, id_: str, olds: RegisteredModelProps, news: RegisteredModelProps
    ) -> RegisteredModelProps:
        seen = None
        # retainOnDelete lives in the state only: changing it sends nothing.
        if olds.description != news.description:
            updated = registry_client(conn.registry_uri).update_registered_model(news.name, news.description)
            seen = state.remember_model(conn.registry_uri, updated)
        kept = RegisteredModelProps(
            name=news.name,
            description=news.description,
            initial_tags=news.initial_tags,
            retain_on_delete=news.retain_on_delete,
            registry_aliases=olds.registry_aliases,
        )
        return self._outs(kept, seen, adopted=olds.adopted)

    def delete(self, conn: Connection, id_: str, props: RegisteredModelProps) -> None:
        if props.retain_on_delete:
            return
        uri = conn.registry_uri
        client = registry_client(uri)
        versions = sorted(
            int(v.version) for v in client.search_model_versions(f"name='{id_}'", max_results=100)
        )
        if versions:
            listed = ", ".join(str(v) for v in versions[:10]) + (", ..." if len(versions) > 10 else "")
            raise ProviderError(
                f"refusing to delete registered model {id_!r} on {conn.label}: it still has "
                f"{len(versions)}{'+' if len(versions) == 100 else ''} version(s) ({listed}), and deleting "
                "the model would delete them. Delete the versions first, or set retainOnDelete: true on "
                "the model to leave it in the registry when it leaves the stack."
            )
        try:
            client.delete_registered_model(id_)
        except Exception as exc:
            if not is_not_found(exc):
                raise
        finally:
            state.forget_model(uri, id_)
