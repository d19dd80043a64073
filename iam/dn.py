"""Comparing DNs as the directory does: case, the spaces around separators and the way a
value is escaped (``\\,`` or ``\\2C``) do not matter.

Every comparison goes through `norm`, one canonical spelling: a DN iam was
configured with (``leavers_dn``), the DN a server sends back for an entry, and
a group's member value can each be spelt otherwise and still name one entry.

Pure text, in the core: the LDAP connector compares its DNs with it, and so
does the web console's sign-in, which reads a person's groups from the
directory itself (the core never imports a connector).
"""

from __future__ import annotations

import re

_ESCAPE = re.compile(r"(\\[0-9a-fA-F]{2}|\\.)", re.DOTALL)  # an escaped newline too
#: What a canonical value spells as hex pairs, besides what is not printable and spaces at its
#: ends: what would split it (a value runs from its RDN's first ``=`` to the next ``,`` or ``+``).
_SPECIAL = frozenset("\\,+")
_FINAL_SIGMA, _SIGMA = "\u03c2", "\u03c3"
_UNESCAPED = {sep: re.compile(r"(?<!\\)" + re.escape(sep)) for sep in ",+"}


def norm(dn: str) -> str:
    """A DN in the one spelling every spelling of it shares: names and values lower case, no
    space around ``,`` ``+`` ``=``, a multi-valued RDN's parts sorted, values escaped alike.

    Every ``,`` in the result separates two RDNs (one inside a value is ``\\2c``): it may be
    split as plain text."""
    low = _lower(dn)
    if "\\" not in low and "+" not in low and low.isprintable():
        if " " not in low:  # nothing to strip or unescape: a bulk read's usual case
            return low
        return ",".join(_plain_ava(part) for part in low.split(","))
    return ",".join(_canonical_rdn(rdn) for rdn in rdns(low))


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
    return _ends_with(dn, parent, below=True)


def within(dn: str, parent: str) -> bool:
    """Whether ``dn`` is ``parent`` or below it."""
    return _ends_with(dn, parent, below=False)


def _ends_with(dn: str, parent: str, below: bool) -> bool:
    """Whether ``dn``'s last RDNs are ``parent``'s, with at least one more when ``below``."""
    own, theirs = norm(dn).split(","), norm(parent).split(",")
    return len(own) >= len(theirs) + below and own[len(own) - len(theirs) :] == theirs


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


def _canonical_rdn(rdn: str) -> str:
    if "\\" not in rdn and "+" not in rdn and rdn.isprintable():  # the parents of an escaped name
        return _plain_ava(rdn)
    return "+".join(sorted(_canonical_ava(ava) for ava in _split_unescaped(rdn, "+")))


def _canonical_ava(ava: str) -> str:
    """``attr=value`` with the value unescaped to its bytes and escaped again one way: hex pairs
    for what could split or end it and for bytes that are not text (two invalid UTF-8
    sequences stay apart)."""
    attr, equals, value = ava.partition("=")
    text = _lower(_unescape(_trim(value)).decode("utf-8", "surrogateescape"))
    if text.isprintable() and not (text[:1].isspace() or text[-1:].isspace()):  # most names
        escaped = text.replace("\\", "\\5c").replace(",", "\\2c").replace("+", "\\2b")
        return f"{attr.strip()}{equals}{escaped}"
    out = []
    for i, char in enumerate(text):
        edge = i == 0 or i == len(text) - 1
        if char in _SPECIAL or not char.isprintable() or (edge and char.isspace()):
            out.append("".join(f"\\{b:02x}" for b in _encode(char)))
        else:
            out.append(char)
    return f"{attr.strip()}{equals}{''.join(out)}"


def _lower(text: str) -> str:
    """Lower case one way: Python writes a word-final Σ as ς, so an escape beside it would
    change the letter (``AΣ`` and ``AΣ\\42``)."""
    low = text.lower()
    return low.replace(_FINAL_SIGMA, _SIGMA) if _FINAL_SIGMA in low else low


def _encode(text: str) -> bytes:
    """UTF-8, invalid bytes kept as they came (a lone surrogate, which ldap3 does not send, as itself)."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


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
    """``text`` split at each ``separator`` no backslash escapes (an escaped backslash is
    written ``\\5c`` first, so a backslash before a separator always escapes it)."""
    if "\\" not in text:
        return text.split(separator)
    return _UNESCAPED[separator].split(text.replace("\\\\", "\\5c"))


def _unescape(value: str) -> bytes:
    """An RDN value's bytes: ``\\XX`` pairs are bytes, ``\\c`` is ``c``."""
    if "\\" not in value:
        return _encode(value)
    raw = bytearray()
    for part in _ESCAPE.split(value):
        if len(part) == 3 and part[0] == "\\":
            raw += bytes.fromhex(part[1:])
        else:
            raw += _encode(part[1:] if part[:1] == "\\" else part)
    return bytes(raw)
