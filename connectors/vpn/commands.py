"""Running the VPN tools (easyrsa, openssl, wg, ip): argument lists only, bounded in time.

No command ever goes through a shell; the names in an argument list were
checked before (`connectors.vpn.names`). Failures raise this module's
exceptions, which `connectors.vpn.boundary` turns into iam's error types.
Output kept for a message is stripped of PEM blocks, private-looking
WireGuard keys and registered secrets.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping

from iam.secrets import redact

_NOISE = ("Host:", "Easy-RSA error:", "Using SSL:", "* ", "Notice", "-----")
_WG_KEY = re.compile(r"[A-Za-z0-9+/]{42,43}=")


class CommandError(Exception):
    """Base of this module's errors."""


class CommandFailed(CommandError):
    """The program exited non-zero."""

    def __init__(self, what: str, returncode: int, output: str) -> None:
        super().__init__(f"{what} failed (exit {returncode}): {output or 'no output'}")
        self.output = output


class ToolMissing(CommandError):
    """The program cannot be run."""


class CommandTimedOut(CommandError):
    """The program did not finish in time."""


def output_tail(text: str, lines: int = 4) -> str:
    """The last lines of a command's output, without PEM blocks, keys, noise or secrets."""
    kept: list[str] = []
    in_pem = False
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("-----BEGIN"):
            in_pem = True
        if in_pem:
            in_pem = not line.startswith("-----END")
            continue
        if line and not line.startswith(_NOISE):
            kept.append(_WG_KEY.sub("<key>", line))
    return redact(" ".join(kept[-lines:]))


def run(
    args: list[str],
    what: str,
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    stdin: str | None = None,
    drop_env_prefix: str = "EASYRSA",
) -> subprocess.CompletedProcess[str]:
    """Run ``args`` and return its output; raise a `CommandError` describing ``what`` failed.

    The child gets this process's environment minus variables starting with
    ``drop_env_prefix`` (a stray ``EASYRSA_PKI`` must not redirect easy-rsa),
    plus ``env``. ``stdin`` is sent as input (a private key for ``wg pubkey``).
    """
    child_env = {k: v for k, v in os.environ.items() if not k.startswith(drop_env_prefix)}
    child_env.update(env or {})
    try:
        proc = subprocess.run(
            args,
            input=stdin,
            capture_output=True,
            text=True,
            env=child_env,
            timeout=timeout,
            stdin=subprocess.DEVNULL if stdin is None else None,
            check=False,
        )
    except (FileNotFoundError, PermissionError) as exc:
        raise ToolMissing(f"cannot run {args[0]} ({what}): {exc.strerror}") from None
    except subprocess.TimeoutExpired:
        raise CommandTimedOut(f"{what} did not finish within {timeout:g}s") from None
    if proc.returncode != 0:
        raise CommandFailed(what, proc.returncode, output_tail(proc.stderr) or output_tail(proc.stdout))
    return proc
