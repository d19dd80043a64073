"""Comparing DNs as the directory does: case, the spaces around separators and the way a
value is escaped (``\\,`` or ``\\2C``) do not matter.

Every comparison goes through `norm`, one canonical spelling: a DN iam was
configured with (``leavers_dn``), the DN a server sends back for an entry, and
a group's member value can each be spelt otherwise and still name one entry.
"""

from __future__ import annotations

import re

_ESCAPE = re.compile(r"(\\[0-9a-fA-F]{2}|\\.)")
#: What a canonical value spells as hex pairs, besides what is not printable and spaces at its
#: ends: what would split it (a value runs from its RDN's first ``=`` to the next ``,`` or ``+``).
_SPECIAL = frozenset("\\,+")


def norm(dn: str) -> str:
    """A DN in the one spelling every spelling of it shares: names and values lower case, no
    space around ``,`` ``+`` ``=``, a multi-valued RDN's parts sorted, values escaped alike."""
    low = dn.lower()
    if "\\" not in low and "+" not in low and low.isprintable():
        if " " not in low:  # nothing to strip or unescape: a bulk read's usual case
            return low
        return ",".join(_plain_ava(part) for part in low.split(","))
    return ",".join(
        "+".join(sorted(_canonical_ava(ava) for ava in _split_unescaped(rdn, "+"))) for rdn in rdns(low)
    )


def rdns(dn: str) -> list[str]:
    """``dn`` split at the commas that separate its RDNs: an escaped comma (``cn=Doe\\, Jane``)
    is part of a value, and the space after it too (``Doe, Jane`` is not ``Doe,Jane``)."""
    return _split_unescaped(dn, ",")


def same(a: str, b: str) -> bool:
    """Whether two DNs name one entry: the DN a server sends back for an entry iam named
    itself is often spelt otherwise."""
    return a == b or norm(a) == norm(b)


def under(dn: str, parent: str) -> bool:
    """Whether ``dn`` is below ``parent`` (not ``parent`` itself), RDN by RDN: a value that
    merely ends with the parent's text (``uid=x\\,ou=archive,dc=example``) is not below it."""
    own, theirs = rdns(norm(dn)), rdns(norm(parent))
    return len(own) > len(theirs) and own[-len(theirs) :] == theirs


def within(dn: str, parent: str) -> bool:
    """Whether ``dn`` is ``parent`` or below it."""
    return same(dn, parent) or under(dn, parent)


def domain_of(dn: str) -> str:
    """The ``DC=`` components of a DN: the naming context of its Active Directory domain."""
    return ",".join(p.strip() for p in dn.split(",") if p.strip().lower().startswith("dc="))


def first_ava(dn: str) -> tuple[str, str]:
    """The attribute and plain value of ``dn``'s first RDN (its first part if multi-valued)."""
    attr, _, value = _split_unescaped(rdns(dn)[0], "+")[0].partition("=")
    return attr.strip(), _unescape(_trim(value)).decode("utf-8", "surrogateescape")


def _plain_ava(ava: str) -> str:
    """One part of a lower-case, printable DN with no escape and no ``+``: only spaces to take off."""
    attr, equals, value = ava.partition("=")
    return f"{attr.strip()}{equals}{value.strip()}"


def _canonical_ava(ava: str) -> str:
    """``attr=value`` with the value unescaped to its bytes and escaped again one way: hex pairs
    for what could split or end it and for bytes that are not text (two invalid UTF-8
    sequences stay apart)."""
    attr, equals, value = ava.partition("=")
    text = _unescape(_trim(value)).decode("utf-8", "surrogateescape").lower()
    out = []
    for i, char in enumerate(text):
        edge = i == 0 or i == len(text) - 1
        if char in _SPECIAL or not char.isprintable() or (edge and char.isspace()):
            out.append("".join(f"\\{b:02x}" for b in char.encode("utf-8", "surrogateescape")))
        else:
            out.append(char)
    return f"{attr.strip()}{equals}{''.join(out)}"


def _trim(value: str) -> str:
    """``value`` without the whitespace around it that no backslash escapes (``a\\ `` keeps its space)."""
    value = value.lstrip()
    end = len(value)
    while end and value[end - 1].isspace():
        before = value[: end - 1]
        if (len(before) - len(before.rstrip("\\"))) % 2:  # an odd run of backslashes escapes it
            break
        end -= 1
    return value[:end]


def _split_unescaped(text: str, separator: str) -> list[str]:
    """``text`` split at each ``separator`` no backslash escapes."""
    parts: list[str] = []
    start, escaped = 0, False
    for i, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == separator:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def _unescape(value: str) -> bytes:
    """An RDN value's bytes: ``\\XX`` pairs are bytes, ``\\c`` is ``c``."""
    if "\\" not in value:
        return value.encode("utf-8", "surrogateescape")
    raw = bytearray()
    for part in _ESCAPE.split(value):
        if len(part) == 3 and part[0] == "\\":
            raw += bytes.fromhex(part[1:])
        else:
            raw += (part[1:] if part[:1] == "\\" else part).encode("utf-8", "surrogateescape")
    return bytes(raw)
