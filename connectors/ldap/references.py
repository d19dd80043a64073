"""Continuation references: the parts of a search's tree that another server holds.

A subtree search over a part of the tree held elsewhere (an OpenLDAP
``referral`` entry, an Active Directory child domain or application
partition) succeeds with the entries this server holds and, for that part,
a continuation reference (``searchResRef``): a URL of the other server.
iam follows none (it would send the bind password there, and could not
judge that server's answer), so the accounts and groups there were not
seen. A reference is passed over only where nothing iam manages can be:

- a part of the tree that ``ignore_references`` names, or below it;
- on Active Directory, a naming context of the forest that is not a domain
  (Configuration, Schema, DomainDnsZones, ForestDnsZones: a ``crossRef``
  without FLAG_CR_NTDS_DOMAIN), read from the forest's ``CN=Partitions``:
  AD creates users and groups only in a domain, and every search from a
  domain's root meets a reference to Configuration.

Any other reference fails the read (`LdapSession` raises `errors.IncompleteRead`
naming it). The session never sends ManageDsaIT: with it slapd returns a
``referral`` entry as a plain entry and no reference, and the other server's
part would vanish without a sign.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from urllib.parse import unquote, urlsplit

from iam.dn import within

#: A crossRef's ``systemFlags``: it names a naming context of this forest; that context is a domain.
FLAG_CR_NTDS_NC = 0x1
FLAG_CR_NTDS_DOMAIN = 0x2


def target(url: str) -> str | None:
    """The DN an LDAP URL names (``ldap://host/<dn>??sub``), or None when it names none."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("ldap", "ldaps"):
        return None
    return unquote(parts.path[1:]) or None


def not_domains(cross_refs: Iterable[Mapping[str, list[str]]]) -> list[str]:
    """The ``nCName`` of each crossRef (its attributes, lower-case names) that names a naming
    context of this forest that is not a domain."""
    out = []
    for attrs in cross_refs:
        flags = (attrs.get("systemflags") or ["0"])[0]
        value = int(flags) if flags.lstrip("-").isdigit() else 0
        if value & FLAG_CR_NTDS_NC and not value & FLAG_CR_NTDS_DOMAIN:
            out += attrs.get("ncname") or []
    return out


class References:
    """Which continuation references a session may pass over.

    ``forest`` reads Active Directory's naming contexts that are not domains
    (None elsewhere); it is asked once, and again whenever a reference it
    did not pass shows up (a partition added since), before that is refused.
    """

    def __init__(self, ignored: Sequence[str], forest: Callable[[], list[str]] | None) -> None:
        self.ignored = list(ignored)
        self.forest = forest
        self._not_domains: list[str] | None = None

    def blocking(self, references: Sequence[Sequence[str]]) -> list[str]:
        """One URL of each reference (a reference lists one or more URLs of one place) not passed over."""
        left = [urls for urls in references if not _passed(urls, self.ignored)]
        if left and self.forest is not None:
            if self._not_domains is None or any(not _passed(urls, self._not_domains) for urls in left):
                self._not_domains = self.forest()
            left = [urls for urls in left if not _passed(urls, self._not_domains)]
        return [urls[0] if urls else "(a reference without a URL)" for urls in left]


def _passed(urls: Sequence[str], places: Sequence[str]) -> bool:
    """Whether every URL of one reference names a DN at or below one of ``places``."""
    dns = [target(url) for url in urls]
    return bool(dns) and all(dn is not None and any(within(dn, p) for p in places) for dn in dns)
