"""What MLflow accepts for a webhook: its events, its name and its URL, as value-level checks.

Pure functions, no MLflow import, so the stack spec (components/rules.py) and the provider's check
give the same answer. Each check returns the reason a value is refused, or None.

Sources (MLflow 3.17):
- events: `WebhookEventStr` and `VALID_ENTITY_ACTIONS` in mlflow/entities/webhook.py (a unit test
  compares this list with them, so an MLflow upgrade that adds or drops an event fails it);
- names: `_WEBHOOK_NAME_REGEX` and `_validate_webhook_name` in mlflow/utils/validation.py;
- URLs: `_validate_webhook_url` there. The server also refuses schemes outside
  MLFLOW_WEBHOOK_ALLOWED_SCHEMES (default `https` only) and hosts that resolve to private addresses
  unless MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS is true; those are the server's settings, so they are its
  answer, not ours.
- statuses: `WebhookStatus` in mlflow/entities/webhook.py.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

WEBHOOK_EVENTS: tuple[str, ...] = (
    "registered_model.created",
    "model_version.created",
    "model_version_tag.set",
    "model_version_tag.deleted",
    "model_version_alias.created",
    "model_version_alias.deleted",
    "prompt.created",
    "prompt_version.created",
    "prompt_tag.set",
    "prompt_tag.deleted",
    "prompt_version_tag.set",
    "prompt_version_tag.deleted",
    "prompt_alias.created",
    "prompt_alias.deleted",
    "budget_policy.exceeded",
)
"""Every event an MLflow 3.17 webhook can subscribe to, `<entity>.<action>`, in MLflow's order.

Setting or moving an alias is `model_version_alias.created` (MLflow's `_set_registered_model_alias`
handler in mlflow/server/handlers.py sends it for both)."""

WEBHOOK_STATUSES: tuple[str, ...] = ("ACTIVE", "DISABLED")
WEBHOOK_NAME = re.compile(r"^(?=.{1,63}$)[a-z0-9]([a-z0-9._-]*[a-z0-9])?$", re.IGNORECASE)
URL_SCHEMES = ("http", "https")


def event_problem(event: str) -> str | None:
    if event in WEBHOOK_EVENTS:
        return None
    return f"{event!r} is not an MLflow webhook event; allowed: {', '.join(WEBHOOK_EVENTS)}"


def webhook_name_problem(name: str) -> str | None:
    if WEBHOOK_NAME.match(name):
        return None
    return (
        f"webhook name {name!r} is not a valid name; allowed: 1 to 63 letters, digits, '.', '_' and '-', "
        "starting and ending with a letter or digit"
    )


def webhook_url_problem(url: str) -> str | None:
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        host, parts = None, None
    if parts is not None and parts.scheme in URL_SCHEMES and host and not any(c.isspace() for c in url):
        return None
    return f"{url!r} is not an http(s) URL; allowed: https://host/path or http://host:port/path"


def status_problem(status: str) -> str | None:
    if status in WEBHOOK_STATUSES:
        return None
    return f"got {status!r}; allowed: {' or '.join(WEBHOOK_STATUSES)}"
