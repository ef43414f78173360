"""Webhook: an MLflow tracking server tells a URL when the registry changes (`mrgov:events:Webhook`).

MLflow 3 webhooks (experimental; a server with a SQL backend store, such as sqlite) POST a JSON
event to a URL when, for instance, an alias is set or moved (`model_version_alias.created`) or a
version is registered (`model_version.created`). With a secret, each delivery is signed
(HMAC-SHA256, `X-MLflow-Signature`; see docs/how-to/notify-deployment-pipeline.md).

Through `MlflowClient`'s webhook API (`create_webhook`, `get_webhook`, `update_webhook`,
`delete_webhook`, `list_webhooks` in mlflow/tracking/client.py), which only an admin may call on a
server running the basic-auth app (`WEBHOOK_BEFORE_REQUEST_HANDLERS` in
mlflow/server/auth/__init__.py).

- Create adopts a webhook of the declared name that already exists (MLflow allows two of one name):
  it is set to the declaration, secret included, so a create repeated after an interrupted `up`
  leaves one webhook, not two. That costs one list request per create.
- The id is the webhook id MLflow returns on create; import and refresh read the webhook from it,
  and a webhook deleted by hand is gone: refresh drops it.
- An update sends only the changed fields; nothing is replaced (the id never changes).
- The secret is a secret input: encrypted in the state, masked in previews and logs. MLflow never
  returns it (its `Webhook` message has no secret field, mlflow/protos/webhooks.proto), so a refresh
  keeps the state's, and an imported webhook has none in its state: the next `up` sends the declared
  one (the preview after an import shows that one change).

Unity Catalog has no MLflow webhooks: there a model's deployment job is linked instead
(`mrgov:registry:DeploymentJobLink`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NoReturn

from provider.config import Connection
from provider.declare import Props, arg
from provider.events.limits import (
    WEBHOOK_EVENTS,
    event_problem,
    status_problem,
    webhook_name_problem,
    webhook_url_problem,
)
from provider.registry.client import error_code, is_not_found, preload_mlflow
from provider.resource import Failures, NotFoundError, ProviderError, Resource


@dataclass(frozen=True)
class WebhookProps(Props):
    TOKEN = "mrgov:events:Webhook"
    DESCRIPTION = (
        "An MLflow webhook: the tracking server POSTs each chosen registry event (an alias set or moved, a "
        "version registered, ...) to a URL, signed with a secret. MLflow's webhooks are experimental and "
        "need a server with a SQL backend store; only an admin may manage them. Not for Unity Catalog, "
        "whose models link a deployment job instead (`mrgov:registry:DeploymentJobLink`)."
    )
    ID = (
        "the webhook id MLflow returns on create (`MlflowClient().list_webhooks()` lists them); the "
        "secret cannot be read back, so the next `up` sets the declared one"
    )

    name: str = arg(
        "The webhook's name: 1 to 63 letters, digits, `.`, `_` and `-`, starting and ending with a letter "
        "or digit."
    )
    url: str = arg(
        "Where MLflow POSTs each event. The server accepts `https` only, unless its "
        "`MLFLOW_WEBHOOK_ALLOWED_SCHEMES` allows `http`, and public hosts only, unless "
        "`MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS` is true."
    )
    events: list[str] = arg(
        "The events that trigger a delivery, `<entity>.<action>`: `model_version_alias.created` (an alias "
        "set or moved), `model_version_alias.deleted`, `model_version.created`, `model_version_tag.set`, "
        "`model_version_tag.deleted`, `registered_model.created`, and MLflow's prompt and budget events."
    )
    description: str = arg("What the webhook is for.", default="")
    status: str = arg("`ACTIVE` (delivers) or `DISABLED` (kept, delivers nothing).", default="ACTIVE")
    secret: str | None = arg(
        "The signing secret: MLflow signs each delivery with HMAC-SHA256 over `<delivery id>.<timestamp>."
        "<body>`. MLflow never returns it: a refresh keeps the state's, an import has none until the next "
        "`up` sets the declared one. Left out, deliveries are not signed.",
        default=None,
        secret=True,
    )

    def __post_init__(self) -> None:
        # Events are a set (MLflow returns them in its own order), one spelling of the status: from
        # `check` on, reordering the events or writing `active` never diffs.
        if isinstance(self.events, list) and all(isinstance(e, str) for e in self.events):
            object.__setattr__(self, "events", sorted(set(self.events), key=_event_order))
        if isinstance(self.status, str):
            object.__setattr__(self, "status", self.status.upper())


def _event_order(event: str) -> tuple[int, str]:
    return (WEBHOOK_EVENTS.index(event) if event in WEBHOOK_EVENTS else len(WEBHOOK_EVENTS), event)


Hook = WebhookProps

# A server whose backend store has no webhook API (a file store: AbstractStore.create_webhook raises
# NotImplementedError, which the server answers with a 500) fails the call; this says why.
SQL_BACKEND_HINT = (
    "MLflow's webhooks need an MLflow 3 tracking server with a SQL backend store "
    "(`mlflow server --backend-store-uri sqlite:///mlflow.db`, or a database)"
)


def mlflow_client(conn: Connection) -> Any:
    """MlflowClient on the connection's server (its webhook API lives on the registry client)."""
    preload_mlflow()
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=conn.tracking_uri, registry_uri=conn.registry_uri)


def _state(webhook: Any, secret: str | None) -> Hook:
    """The declaration of what MLflow holds, with the secret it cannot return."""
    return Hook(
        name=str(webhook.name),
        url=str(webhook.url),
        events=[str(e) for e in webhook.events],
        description=str(webhook.description or ""),
        status=str(webhook.status),
        secret=secret,
    )


def _reraise(exc: Exception, what: str) -> NoReturn:
    """Raise `exc`, or a clearer error when the server has no webhook API."""
    if error_code(exc) in ("INTERNAL_ERROR", "NOT_IMPLEMENTED", "ENDPOINT_NOT_FOUND"):
        raise ProviderError(f"cannot {what}: {SQL_BACKEND_HINT}; the server answered: {exc}") from exc
    raise exc


class Webhook(Resource[WebhookProps]):
    PROPS = WebhookProps

    def check(self, conn: Connection, news: Hook, olds: Hook | None) -> Failures:
        if conn.uc:
            return [
                (
                    "url",
                    "Unity Catalog has no MLflow webhooks; link a deployment job to the model instead "
                    "(mrgov:registry:DeploymentJobLink, or deploymentJob in the stack spec)",
                )
            ]
        failures: Failures = []
        if problem := webhook_name_problem(news.name):
            failures.append(("name", problem))
        if problem := webhook_url_problem(news.url):
            failures.append(("url", problem))
        if not news.events:
            failures.append(("events", f"is empty; allowed: one or more of {', '.join(WEBHOOK_EVENTS)}"))
        failures += [(f"events[{i}]", p) for i, e in enumerate(news.events) if (p := event_problem(e))]
        if problem := status_problem(news.status):
            failures.append(("status", problem))
        if news.secret is not None and not news.secret.strip():
            failures.append(("secret", "is empty; allowed: a secret, or none for unsigned deliveries"))
        return failures

    def create(self, conn: Connection, props: Hook) -> tuple[str, Hook]:
        client = mlflow_client(conn)
        # MLflow does not refuse a second webhook of the same name, so a create that ran before an
        # interrupted `up` recorded it (or one under PULUMI_SKIP_CHECKPOINTS) would otherwise leave a
        # duplicate: a webhook of the declared name is adopted and set to the declaration instead.
        try:
            existing = self._named(client, props.name)
        except Exception as exc:  # noqa: BLE001 - _reraise raises it, or a clearer error
            _reraise(exc, f"list webhooks on {conn.label}")
        if existing is not None:
            return self._adopt(conn, client, existing, props)
        try:
            created = client.create_webhook(
                name=props.name,
                url=props.url,
                events=list(props.events),
                description=props.description or None,
                secret=props.secret,
                status=props.status,
            )
        except Exception as exc:  # noqa: BLE001 - _reraise raises it, or a clearer error
            _reraise(exc, f"create webhook {props.name!r} on {conn.label}")
        return str(created.webhook_id), _state(created, props.secret)

    @staticmethod
    def _named(client: Any, name: str) -> Any | None:
        """The first webhook called `name` on the server, or None (every page is read)."""
        token = None
        while True:
            page = client.list_webhooks(max_results=100, page_token=token)
            for hook in page:
                if hook.name == name:
                    return hook
            token = page.token
            if not token:
                return None

    def _adopt(self, conn: Connection, client: Any, found: Any, props: Hook) -> tuple[str, Hook]:
        """Set an existing webhook to the declaration; the secret is always sent (it cannot be read)."""
        id_ = str(found.webhook_id)
        held = _state(found, None)
        changed: dict[str, Any] = {
            attr: getattr(props, attr)
            for attr in ("url", "events", "description", "status")
            if getattr(props, attr) != getattr(held, attr)
        }
        changed["secret"] = props.secret or ""  # MLflow keeps the old secret when none is sent
        try:
            updated = client.update_webhook(id_, **changed)
        except Exception as exc:  # noqa: BLE001 - _reraise raises it, or a clearer error
            _reraise(exc, f"adopt webhook {props.name!r} on {conn.label}")
        return id_, _state(updated, props.secret)

    def read(self, conn: Connection, id_: str, props: Hook | None) -> Hook | None:
        client = mlflow_client(conn)
        try:
            found = client.get_webhook(id_)
        except Exception as exc:  # noqa: BLE001 - anything but "not found" is raised again
            if not is_not_found(exc):
                _reraise(exc, f"read webhook {id_!r} on {conn.label}")
            if props is None:  # an import of a wrong id: say which ids there are
                raise NotFoundError(self._missing(client, id_, conn)) from None
            return None  # gone: refresh drops it
        return _state(found, props.secret if props is not None else None)

    @staticmethod
    def _missing(client: Any, id_: str, conn: Connection) -> str:
        listed = [f"{w.webhook_id} ({w.name})" for w in client.list_webhooks(max_results=20)]
        there = "; webhooks there: " + ", ".join(listed) if listed else "; the server has no webhooks"
        return f"webhook {id_!r} was not found on {conn.label}; the id is the id MLflow returns{there}"

    def update(self, conn: Connection, id_: str, olds: Hook, news: Hook) -> Hook:
        changed: dict[str, Any] = {
            attr: getattr(news, attr)
            for attr in ("name", "url", "events", "description", "status")
            if getattr(news, attr) != getattr(olds, attr)
        }
        if news.secret != olds.secret:
            changed["secret"] = news.secret or ""  # MLflow keeps the old secret when none is sent
        if not changed:
            return news
        try:
            updated = mlflow_client(conn).update_webhook(id_, **changed)
        except Exception as exc:  # noqa: BLE001 - _reraise raises it, or a clearer error
            if is_not_found(exc):
                raise ProviderError(
                    f"webhook {id_!r} ({news.name}) no longer exists on {conn.label}; run `pulumi refresh` "
                    "and `pulumi up` to create it again"
                ) from None
            _reraise(exc, f"update webhook {news.name!r} on {conn.label}")
        return _state(updated, news.secret)

    def delete(self, conn: Connection, id_: str, props: Hook) -> None:
        try:
            mlflow_client(conn).delete_webhook(id_)
        except Exception as exc:
            if not is_not_found(exc):
                raise
