"""Errors that say what happened and whether a retry can help.

The engine's retry policy reads the *type* of an error, never its message::

    IamError
    ├── UserError                 the user can fix it (exit code 2)
    │   ├── ConfigError           a configuration file is wrong
    │   └── InputError            a command's input is wrong
    └── ConnectorError            a target system said no, or did not answer
        ├── TransientError        a retry can help
        │   ├── ConnectTimeout / Unreachable
        │   └── RateLimited       carries retry_after (seconds)
        ├── PermanentError        a retry cannot help
        │   ├── AuthenticationFailed   bad credentials
        │   ├── PermissionDenied       authenticated, not allowed
        │   ├── IncompleteRead         a read could not see everything it asked for
        │   ├── InvalidAttribute       schema or value rejected
        │   ├── AmbiguousAccount       more than one account matches
        │   └── Unsupported            the system cannot do this
        └── StateConflict         the object is not as the step assumed
            ├── AlreadyExists
            └── NoSuchObject      the engine turns it into `absent`

"Could not look" is never "nothing there": a read whose place is missing
(an LDAP search base, a realm, a file), hidden from the account iam uses,
or cut short (a size limit, a listing that ends early) raises
`IncompleteRead` or `PermissionDenied`, never returns an empty answer.

Messages never carry a secret: connectors build them from names, DNs and
codes, and the audit log redacts any registered secret again on the way out.
"""

from __future__ import annotations


class IamError(Exception):
    """Base of every error this tool raises on purpose."""


class UserError(IamError):
    """Something the user can correct: exit code 2, no traceback."""


class ConfigError(UserError):
    """A configuration file is invalid; names the file and key."""


class InputError(UserError):
    """A command argument or an input file is invalid."""


class ConnectorError(IamError):
    """A target system failed an operation.

    ``system`` is the configured system name, filled in by the engine when
    the connector did not know it.
    """

    retryable: bool = False

    def __init__(self, message: str, *, system: str | None = None) -> None:
        super().__init__(message)
        self.system = system

    def __str__(self) -> str:
        text = super().__str__()
        return f"{self.system}: {text}" if self.system else text


class TransientError(ConnectorError):
    """A retry can help: connection refused, timeout, busy, 5xx."""

    retryable = True


class Unreachable(TransientError):
    """The system did not accept a connection."""


class ConnectTimeout(TransientError):
    """The system did not answer in time."""


class RateLimited(TransientError):
    """The system asked us to slow down; ``retry_after`` is in seconds."""

    def __init__(self, message: str, *, retry_after: float | None = None, system: str | None = None) -> None:
        super().__init__(message, system=system)
        self.retry_after = retry_after


class PermanentError(ConnectorError):
    """A retry cannot help until someone changes something."""


class AuthenticationFailed(PermanentError):
    """The configured credentials were rejected."""


class PermissionDenied(PermanentError):
    """Authenticated, but not allowed to do this."""


class IncompleteRead(PermanentError):
    """A read did not see everything it asked for: its place is missing or hidden, or it was cut short.

    Raised instead of an empty answer, so that "could not look" is never
    taken for "nothing there" (no account, no entitlement left). The message
    names the place, the setting that points there and what to change.
    """


class InvalidAttribute(PermanentError):
    """The system rejected a value or the schema forbids the change."""


class AmbiguousAccount(PermanentError):
    """More than one account matches one person: never guess."""


class Unsupported(PermanentError):
    """The system cannot perform this operation."""


class StateConflict(ConnectorError):
    """The object is not in the state the step assumed."""


class AlreadyExists(StateConflict):
    """Creating something that is already there."""


class NoSuchObject(StateConflict):
    """The account or entitlement is not there."""
