"""Who is acting, and on which ticket: every audit record and every run names them.

The CLI acts as the operating-system user running it (and names the user
behind ``sudo``); `iam serve` as the HR system's key; a later interface as
its signed-in user. The value is set once where the request comes in
(`acting`) and read wherever a record is written, never passed by hand.
"""

from __future__ import annotations

import functools
import os
import pwd
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_actor: ContextVar[str | None] = ContextVar("iam_actor", default=None)
_ticket: ContextVar[str | None] = ContextVar("iam_ticket", default=None)


def os_user() -> str:
    """The account this process runs as, by its user id (not by $USER, which anyone can set)."""
    return _name_of(os.geteuid())


@functools.lru_cache(maxsize=8)
def _name_of(uid: int) -> str:
    """The name of ``uid``, looked up once: every audit record names the actor, and the
    password database is a file read (or an NSS call) each time."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:  # no name for this uid (a bare container)
        return f"uid {uid}"


def os_actor() -> str:
    """``os:NAME``, with the user behind sudo when root was reached through it."""
    name = os_user()
    behind = os.environ.get("SUDO_USER")
    return f"os:{name} (sudo from {behind})" if behind and behind != name else f"os:{name}"


def current() -> str:
    """Who is acting now: what `acting` set, else the operating-system user."""
    return _actor.get() or os_actor()


def person(who: str | None = None) -> str | None:
    """The username behind an actor (``os:ann`` -> ann, ``web:ann`` -> ann); None for a system's key."""
    kind, _, rest = (who or current()).partition(":")
    return rest.split(" ", 1)[0] if kind in ("os", "web") and rest else None


def ticket() -> str | None:
    """The change or incident ticket the current command was given, if any."""
    return _ticket.get()


@contextmanager
def acting(actor: str | None = None, ticket: str | None = None) -> Iterator[None]:
    """Everything done inside is done by ``actor`` (unchanged when None), on ``ticket``."""
    tokens = (_actor.set(actor) if actor else None, _ticket.set(ticket) if ticket else None)
    try:
        yield
    finally:
        if tokens[0] is not None:
            _actor.reset(tokens[0])
        if tokens[1] is not None:
            _ticket.reset(tokens[1])
