"""Where the VPN drivers' failures become iam's error types, in one place.

The management client, the PKI wrapper and the ``wg`` runner raise their own
exceptions (as httpcore does below httpx); `translate` maps them, so the
engine's retry policy can read the type: a refused or vanished socket, a
timeout or a busy lock may pass (transient); a failing easy-rsa, a rejected
password, a missing tool or an unreadable file needs a person (permanent),
and a file that could not be read in full (a missing or damaged PKI index, a
damaged CRL or one another CA signed, a missing peers file or configuration,
a WireGuard person comment that names no one person)
is `errors.IncompleteRead`, never "no certificate", "nothing revoked" or
"no peer".
Messages name the operation and the file or socket, never a key or password.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from iam.connectors.vpn import commands as cmd
from iam.connectors.vpn import management as mgmt
from iam.connectors.vpn import wgconf
from iam.connectors.vpn.pki import NotRevocableByName, PkiLocked, UnreadableCrl, UnreadableIndex

from iam import errors
from iam.secrets import redact


class CommandRefused(errors.PermanentError):
    """easy-rsa, openssl or wg refused an operation (its message says which and why)."""


class ToolUnavailable(errors.PermanentError):
    """A program the driver runs (easyrsa, openssl, wg) is missing or not executable."""


@contextmanager
def translate(what: str, system: str | None = None) -> Iterator[None]:
    """Run the body, re-raising any driver failure as an `iam.errors` type about ``what``."""
    try:
        yield
    except errors.IamError:
        raise
    except mgmt.ManagementAuthError as exc:
        raise errors.AuthenticationFailed(f"{what}: {exc}", system=system) from None
    except mgmt.ManagementUnavailable as exc:
        raise errors.Unreachable(f"{what}: {exc} (is OpenVPN running?)", system=system) from None
    except mgmt.ManagementProtocolError as exc:
        raise errors.PermanentError(f"{what}: {exc}", system=system) from None
    except TimeoutError as exc:
        raise errors.ConnectTimeout(
            f"{what}: {exc or 'timed out'} (OpenVPN serves one management client at a time: "
            "is another one connected?)",
            system=system,
        ) from None
    except (PkiLocked, cmd.CommandTimedOut) as exc:
        raise errors.TransientError(f"{what}: {exc}", system=system) from None
    except NotRevocableByName as exc:
        raise CommandRefused(f"{what}: {exc}", system=system) from None
    except (UnreadableIndex, UnreadableCrl, wgconf.UnreadablePeer) as exc:
        raise errors.IncompleteRead(f"{what}: {exc}", system=system) from None
    except cmd.ToolMissing as exc:
        raise ToolUnavailable(f"{what}: {exc}", system=system) from None
    except cmd.CommandFailed as exc:
        if "Unable to access interface" in exc.output or "No such device" in exc.output:
            raise errors.Unreachable(f"{what}: {exc} (is the interface up?)", system=system) from None
        if "already exists" in exc.output:
            raise errors.AlreadyExists(f"{what}: {exc}", system=system) from None
        if "bad decrypt" in exc.output or "unable to load CA private key" in exc.output:
            raise errors.AuthenticationFailed(
                f"{what}: the CA key could not be opened (check ca_passphrase)", system=system
            ) from None
        raise CommandRefused(f"{what}: {exc}", system=system) from None
    except PermissionError as exc:
        raise errors.PermissionDenied(
            f"{what}: permission denied on {exc.filename or 'the management socket'}", system=system
        ) from None
    except OSError as exc:
        where = f" {exc.filename}" if exc.filename else ""
        raise errors.PermanentError(
            f"{what}: cannot use{where}: {exc.strerror or exc}", system=system
        ) from None
    except UnicodeError as exc:
        raise errors.PermanentError(
            f"{what}: unreadable text: {redact(str(exc))[:100]}", system=system
        ) from None
