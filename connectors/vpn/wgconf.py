"""The saved WireGuard configuration: find peers by person, remove them, add one.

Removing a peer only from the running interface is not enough: the next
``wg-quick up`` or ``wg setconf`` would bring it back from the file. The
file is edited as text, block by block, so everything else in it (comments,
``[Interface]`` with its private key, other peers) stays byte for byte.

A peer names its person with a comment in its block, ``# user = alice``
(``comment_key`` chooses the word); comment lines directly above
``[Peer]`` belong to that block too, as many tools write them there.
A removed block leaves one comment behind, ``# user-removed = alice <key>
<when>``, which WireGuard ignores and which keeps the history readable.

A comment that starts like the person comment but does not name one person
(``# user = alice (laptop)``), or a block naming two, is `UnreadablePeer`:
skipped, it would leave a live peer to nobody, and a leaver's termination
would find nothing to remove.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from iam.connectors.vpn.names import USERNAME

_SECTION = re.compile(r"^\s*\[([A-Za-z]+)\]\s*$")
_SETTING = re.compile(r"^\s*([A-Za-z]+)\s*=\s*(.*?)\s*$")
#: A WireGuard key: 32 bytes in base64.
KEY = re.compile(r"[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=")


@dataclass(frozen=True)
class PeerBlock:
    """One ``[Peer]`` block: lines ``start`` to ``end`` (exclusive), attached comments included."""

    public_key: str
    allowed_ips: tuple[str, ...]
    username: str | None
    start: int
    end: int


class UnreadablePeer(ValueError):
    """A ``[Peer]`` block whose person comment cannot be read (the message names the line)."""


def _comment_user(line: str, comment_key: str, number: int) -> str | None:
    """The person a ``# <comment_key> = <username>`` line names; None for any other line."""
    head = re.match(rf"\s*#\s*{re.escape(comment_key)}\s*[=:]", line, re.I)
    if not head:
        return None
    name = line[head.end() :].strip()
    if not USERNAME.fullmatch(name):
        raise UnreadablePeer(
            f"line {number}, {line.strip()[:80]!r}, does not name one person: "
            f"write '# {comment_key} = <username>'"
        )
    return name


def _sections(lines: list[str]) -> list[tuple[str, int, int]]:
    """(name, first line, end) of each section; comment lines right above a header move with it."""
    heads: list[tuple[str, int]] = []
    for i, line in enumerate(lines):
        found = _SECTION.match(line)
        if found:
            start = i
            while start > 0 and lines[start - 1].lstrip().startswith("#"):
                start -= 1
            heads.append((found.group(1).lower(), start))
    return [
        (name, start, heads[n + 1][1] if n + 1 < len(heads) else len(lines))
        for n, (name, start) in enumerate(heads)
    ]


def parse_peers(text: str, comment_key: str = "user") -> list[PeerBlock]:
    """Every ``[Peer]`` block with its key, addresses and the person its comment names."""
    lines = text.splitlines(keepends=True)
    peers = []
    for name, start, end in _sections(lines):
        if name != "peer":
            continue
        key, ips, user = None, [], None
        for number, line in enumerate(lines[start:end], start + 1):
            named = _comment_user(line, comment_key, number)
            if named and user and named.casefold() != user.casefold():
                raise UnreadablePeer(f"line {number}: a second person, {named}, for the peer of {user}")
            user = user or named
            setting = _SETTING.match(line)
            if setting and setting.group(1).lower() == "publickey":
                key = setting.group(2)
            elif setting and setting.group(1).lower() == "allowedips":
                ips += [ip.strip() for ip in setting.group(2).split(",") if ip.strip()]
        if key:
            peers.append(PeerBlock(key, tuple(ips), user, start, end))
    return peers


def interface_addresses(text: str) -> list[str]:
    """``Address`` values of ``[Interface]`` (wg-quick format), to keep them out of a pool."""
    lines = text.splitlines(keepends=True)
    found: list[str] = []
    for name, start, end in _sections(lines):
        if name == "interface":
            for line in lines[start:end]:
                setting = _SETTING.match(line)
                if setting and setting.group(1).lower() == "address":
                    found += [a.strip() for a in setting.group(2).split(",") if a.strip()]
    return found


def remove_peers(
    text: str, keys: set[str], comment_key: str = "user", tombstone: tuple[str, str] | None = None
) -> tuple[str, int]:
    """The text without the blocks of ``keys``, and how many blocks went.

    ``tombstone`` (username, when) leaves a ``<comment_key>-removed`` comment in each block's place.
    """
    lines = text.splitlines(keepends=True)
    drop = [p for p in parse_peers(text, comment_key) if p.public_key in keys]
    for block in sorted(drop, key=lambda p: p.start, reverse=True):
        note = (
            [f"# {comment_key}-removed = {tombstone[0]} {block.public_key} {tombstone[1]}\n\n"]
            if tombstone
            else []
        )
        lines[block.start : block.end] = note
    return "".join(lines), len(drop)


def removed_peers(text: str, comment_key: str = "user") -> list[tuple[str, str]]:
    """(username, public key) of every tombstone left by `remove_peers`."""
    pattern = rf"^\s*#\s*{re.escape(comment_key)}-removed\s*=\s*(\S+)\s+({KEY.pattern})(?:\s|$)"
    return [(m.group(1), m.group(2)) for m in re.finditer(pattern, text, re.M | re.I)]


def add_peer(text: str, username: str, public_key: str, allowed_ips: str, comment_key: str = "user") -> str:
    """The text with one more ``[Peer]`` block at the end, named by its comment."""
    if text and not text.endswith("\n"):
        text += "\n"
    if text and not text.endswith("\n\n"):
        text += "\n"
    return (
        text + f"[Peer]\n# {comment_key} = {username}\nPublicKey = {public_key}\nAllowedIPs = {allowed_ips}\n"
    )
