"""Usernames the VPN drivers accept, checked before anything runs.

A username becomes a certificate CN, an easy-rsa file name, a word of the
OpenVPN management protocol (``kill <CN>``) and a comment in a WireGuard
configuration. Rather than escape it for each of those languages, only
names that need no escaping anywhere are accepted: letters, digits and
``. _ @ -``, starting with a letter or digit, at most 64 characters (the
X.509 limit for a CN). Anything else — newlines, spaces, quotes, ``/``,
``$(...)`` — is refused before a socket is opened or a process started.
"""

from __future__ import annotations

import re

from iam import errors

USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")


class InvalidUsername(errors.InvalidAttribute, errors.InputError):
    """A username the VPN cannot represent safely.

    It is the caller's input that is wrong (an `InputError`: exit code 2 for
    the CLI), and it is also a per-system `InvalidAttribute`, so when the
    engine meets it the step fails for this system with the system's name,
    is never retried, and the other systems carry on.
    """


def check_username(username: str, system: str | None = None) -> str:
    """Return ``username`` unchanged, or raise `InvalidUsername` saying what is allowed."""
    if not isinstance(username, str) or not USERNAME.fullmatch(username):
        raise InvalidUsername(
            f"invalid VPN username {username!r}: use letters, digits and . _ @ - "
            "(starting with a letter or digit, at most 64 characters); nothing was changed",
            system=system,
        )
    return username
