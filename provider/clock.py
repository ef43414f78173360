"""What time it is for the provider: the system clock, or `MRGOV_NOW` when it is set.

Retention (provider/registry/retention.py) archives versions older than a number of days, so its
answer depends on "now". Tests, and anyone who wants to see what a retention policy would do on a
given day, set `MRGOV_NOW` to an ISO 8601 time (`2026-03-01`, `2026-03-01T12:00:00Z`,
`2026-03-01T12:00:00+01:00`) in the environment of the Pulumi command: the engine starts the
provider process with that environment, and the provider reads it at call time. A time without a
zone is UTC. Parsing is Python's `datetime.fromisoformat`, which reads ISO 8601 since Python 3.11
(https://docs.python.org/3/library/datetime.html#datetime.datetime.fromisoformat).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

from provider.resource import ProviderError

ENV = "MRGOV_NOW"


def now(environ: dict[str, str] | None = None) -> datetime:
    """The current time, timezone-aware (UTC unless `MRGOV_NOW` names another zone)."""
    text = (os.environ if environ is None else environ).get(ENV, "").strip()
    if not text:
        return datetime.now(UTC)
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ProviderError(
            f"{ENV}={text!r} is not an ISO 8601 time; set it like 2026-03-01 or 2026-03-01T12:00:00Z, "
            "or unset it to use the system clock"
        ) from None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def today(environ: dict[str, str] | None = None) -> str:
    """Today's date in UTC, as ISO 8601 text (`2026-03-01`)."""
    return now(environ).astimezone(UTC).date().isoformat()
