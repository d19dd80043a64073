"""Client profiles (``.ovpn``): one file a person imports into their OpenVPN client.

The CA, the certificate and the private key are inlined, so the file is a
credential: it is created with mode 0600 before any byte is written, in a
directory only the owner can enter, and its content never reaches a log,
an error or a `Result` (those carry its path only).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from iam.connectors.vpn.files import replace_file

from iam import errors

_PEM = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----.*?-----END \1-----", re.S)


@dataclass(frozen=True)
class ProfileSettings:
    """Where the server is, as the client must reach it."""

    directory: Path
    remote: str
    port: int = 1194
    proto: str = "udp"
    dev: str = "tun"
    ca: Path | None = None
    extra: Sequence[str] = field(default_factory=tuple)


def pem_block(path: Path) -> str:
    """The first PEM block of a file (easy-rsa's certificates start with a text dump)."""
    found = _PEM.search(path.read_text(encoding="utf-8", errors="replace"))
    if found is None:
        raise errors.PermanentError(f"{path} holds no PEM block; cannot build a client profile")
    return found.group(0)


def render(cn: str, settings: ProfileSettings, ca: Path, cert: Path, key: Path) -> str:
    lines = [
        f"# OpenVPN client profile for {cn}, written by iam",
        "client",
        f"dev {settings.dev}",
        f"proto {settings.proto}",
        f"remote {settings.remote} {settings.port}",
        "resolv-retry infinite",
        "nobind",
        "persist-key",
        "remote-cert-tls server",
        "verb 3",
        *settings.extra,
        "<ca>",
        pem_block(ca),
        "</ca>",
        "<cert>",
        pem_block(cert),
        "</cert>",
        "<key>",
        pem_block(key),
        "</key>",
    ]
    return "\n".join(lines) + "\n"


def write_profile(cn: str, settings: ProfileSettings, ca: Path, cert: Path, key: Path) -> Path:
    """Write ``<directory>/<cn>.ovpn`` (0600) atomically and return its path."""
    settings.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = settings.directory / f"{cn}.ovpn"
    text = render(cn, settings, ca, cert, key)
    replace_file(path, text.encode("utf-8"), mode=0o600)
    return path
