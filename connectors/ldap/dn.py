"""Comparing DNs as the directory does: case and the spaces after commas do not matter."""

from __future__ import annotations

import re

_ESCAPE = re.compile(r"(\\[0-9a-fA-F]{2}|\\.)")


def norm(dn: str) -> str:
    """A DN in a form two spellings of the same DN share (case, spaces after commas)."""
    low = dn.lower()
    if " " not in low and low.isprintable():  # no whitespace to strip: a bulk read's usual case
        return low
    return ",".join(part.strip() for part in rdns(low))


def rdns(dn: str) -> list[str]:
    """``dn`` split at the commas that separate its RDNs: an escaped comma (``cn=Doe\\, Jane``)
    is part of a value, and the space after it too (``Doe, Jane`` is not ``Doe,Jane``)."""
    return _split_unescaped(dn, ",")


def under(dn: str, parent: str) -> bool:
    """Whether ``dn`` is below ``parent`` (not ``parent`` itself), RDN by RDN: a value that
    merely ends with the parent's text (``uid=x\\,ou=archive,dc=example``) is not below it."""
    own, theirs = rdns(norm(dn)), rdns(norm(parent))
    return len(own) > len(theirs) and own[-len(theirs) :] == theirs


def domain_of(dn: str) -> str:
    """The ``DC=`` components of a DN: the naming context of its Active Directory domain."""
    return ",".join(p.strip() for p in dn.split(",") if p.strip().lower().startswith("dc="))


def same(a: str, b: str) -> bool:
    """Whether two DNs name one entry, however their values are escaped (``\\,`` or ``\\2C``):
    the DN a server sends back for an entry iam named itself is often spelt the other way."""
    return a == b or _canonical(a) == _canonical(b)


def within(dn: str, parent: str) -> bool:
    """Whether ``dn`` is ``parent`` or below it, however either is escaped (see `same`)."""
    own, theirs = _canonical(dn), _canonical(parent)
    return len(own) >= len(theirs) and own[len(own) - len(theirs) :] == theirs


def first_ava(dn: str) -> tuple[str, str]:
    """The attribute and plain value of ``dn``'s first RDN (its first part if multi-valued)."""
    attr, _, value = _split_unescaped(rdns(dn)[0], "+")[0].partition("=")
    return attr.strip(), _unescape(value).decode("utf-8", "surrogateescape")


def _canonical(dn: str) -> list[tuple[tuple[str, bytes], ...]]:
    """Each RDN as its sorted (attribute, value) parts: values unescaped to their bytes (two
    invalid UTF-8 sequences stay apart), lower-cased as the directory compares names."""
    out = []
    for rdn in rdns(dn):
        parts = []
        for ava in _split_unescaped(rdn, "+"):  # a multi-valued RDN, in any order
            attr, _, value = ava.partition("=")
            text = _unescape(value).decode("utf-8", "surrogateescape").lower()
            parts.append((attr.strip().lower(), text.encode("utf-8", "surrogateescape")))
        out.append(tuple(sorted(parts)))
    return out


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
