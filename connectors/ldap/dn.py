"""Comparing DNs as the directory does: case and the spaces after commas do not matter."""

from __future__ import annotations


def norm(dn: str) -> str:
    """A DN in a form two spellings of the same DN share (case, spaces after commas)."""
    low = dn.lower()
    if " " not in low and low.isprintable():  # no whitespace to strip: a bulk read's usual case
        return low
    return ",".join(part.strip() for part in low.split(","))


def under(dn: str, parent: str) -> bool:
    """Whether ``dn`` is below ``parent`` (not ``parent`` itself)."""
    return norm(dn).endswith("," + norm(parent))


def domain_of(dn: str) -> str:
    """The ``DC=`` components of a DN: the naming context of its Active Directory domain."""
    return ",".join(p.strip() for p in dn.split(",") if p.strip().lower().startswith("dc="))
