"""What every resource of the provider implements, and the one error type users see.

A resource is a `Props` declaration (provider/declare.py) plus a `Resource` subclass holding its
check, create, read, update and delete. The server (provider/server.py) parses wire values into the
declaration, computes the diff from it, and turns a `ProviderError` into one clean message. The
methods are plain blocking functions: the server runs them on worker threads.
"""

from __future__ import annotations

from typing import ClassVar, Generic

from provider.config import Connection
from provider.declare import P, Props


class ProviderError(Exception):
    """A refusal or failure the user can act on: what is wrong and what to do.

    `prop` names the property it concerns (`aliases.Production`); the server adds the resource.
    """

    def __init__(self, message: str, prop: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.prop = prop


class NotFoundError(ProviderError):
    """The object an id names is not in the registry (what `import` of a wrong id gets)."""


Failures = list[tuple[str, str]]
"""(property path, reason) pairs of a check."""


class InputProblems(Exception):  # noqa: N818 - a result of `prepare`, not an error of the provider
    """Raised by `prepare` when the declared inputs break a rule it must see before it computes
    anything (a version tag key that retention reserves); the server returns them as check failures."""

    def __init__(self, failures: Failures) -> None:
        super().__init__("; ".join(f"{k}: {r}" for k, r in failures))
        self.failures = failures


class Resource(Generic[P]):
    """The operations of one resource type. Subclasses set PROPS and implement the methods."""

    PROPS: ClassVar[type[Props]]
    DELETE_BEFORE_REPLACE: ClassVar[bool] = False
    """Delete the old object before creating its replacement (grants: nobody briefly holds both)."""

    def prepare(self, conn: Connection, news: P, olds: P | None) -> P:
        """The inputs to check, diff and apply, computed from the declared ones (and the registry).

        The server calls it in `check`, after parsing and before `check`, when the provider is
        configured and every value is known; what it returns are the checked inputs the engine
        keeps. The default is the declared inputs. It may read the registry, never write it, and
        raises `InputProblems` for declared inputs it refuses.
        """
        return news

    def check(self, conn: Connection, news: P, olds: P | None) -> Failures:
        """Rules beyond types and required keys; may read the registry. `olds` is None on create."""
        return []

    def create(self, conn: Connection, props: P) -> tuple[str, P]:
        """Create (or adopt) the object; returns its id and state."""
        raise NotImplementedError

    def read(self, conn: Connection, id_: str, props: P | None) -> P | None:
        """The object as the registry holds it, from its id (and the last state, None on import).

        None means it is gone.
        """
        raise NotImplementedError

    def update(self, conn: Connection, id_: str, olds: P, news: P) -> P:
        raise NotImplementedError

    def delete(self, conn: Connection, id_: str, props: P) -> None:
        raise NotImplementedError
