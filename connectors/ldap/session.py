"""One reused ldap3 connection, with every ldap3 failure mapped to iam's errors.

ldap3 connections are not safe to share between threads, so every call
holds a lock; the engine uses one thread per system, so the lock is almost
never contended. A broken connection is dropped and rebuilt on next use.

A search answers everything below its base or raises: a base that does not
exist, or that the bind account may not see (slapd answers both with
noSuchObject), a read refused, a size or administrative limit reached, are
`errors.IncompleteRead` or `errors.PermissionDenied` naming the setting that
points there, never an empty list. Reading one entry that may legitimately
not exist (a group named in a step) is the separate `read_entry`.

A search whose base another server holds (a referral) is such an error
too, and so is one that met a continuation reference to a part of its tree
held elsewhere, unless that part provably holds nothing iam manages
(`connectors.ldap.references`): the accounts and groups there were not seen.

Paging is ldap3's own paged search, held to the server's order and to an
error on a page the server refused (`LdapSession._pages` says why ldap3
alone would not be); `iter_search` streams a bulk read page by page.
"""

from __future__ import annotations

import contextlib
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import ldap3
from iam.connectors.ldap.references import References, not_domains, target
from ldap3.core import exceptions as lx
from ldap3.protocol.formatters.formatters import format_sid

from iam import errors
from iam.secrets import Secret

if TYPE_CHECKING:
    from iam.connectors.ldap.settings import LdapSettings

# LDAP result codes (RFC 4511) that the connector treats specially.
#: What to do when StartTLS fails, said with the failure (a newcomer's lab slapd has no TLS).
STARTTLS_HINT = (
    "(a directory without TLS, such as a lab slapd: set start_tls: false; otherwise give the "
    "server a certificate and set ca_file to the CA that signed it)"
)
SUCCESS = 0
REFERRAL = 10
NO_SUCH_ATTRIBUTE = 16
VALUE_EXISTS = 20
NO_SUCH_OBJECT = 32
TIME_LIMIT = 3
SIZE_LIMIT = 4
ADMIN_LIMIT = 11
INVALID_CREDENTIALS = 49
INSUFFICIENT_ACCESS = 50
UNWILLING_TO_PERFORM = 53
OBJECT_CLASS_VIOLATION = 65
ALREADY_EXISTS = 68
_TRANSIENT_CODES = {TIME_LIMIT, ADMIN_LIMIT, 51, 52}  # timeLimit, adminLimit, busy, unavailable
_INVALID_CODES = {17, 18, 19, 21, 34, 64, 65, 67, 69}


class LdapSession:
    """Connection settings plus a lazily (re)built ldap3 connection."""

    def __init__(
        self, system: str, settings: LdapSettings, connection_factory: Callable[[], ldap3.Connection] | None
    ) -> None:
        self.system = system
        self.url = settings.url
        self.bind_dn = settings.bind_dn
        password = settings.bind_password
        self._password = password.reveal() if isinstance(password, Secret) else password
        self.start_tls = settings.start_tls
        self.tls_verify = settings.tls_verify
        self.ca_file = settings.ca_file
        self.timeout = settings.timeout
        self._factory = connection_factory
        self._conn: ldap3.Connection | None = None
        self._lock = threading.RLock()
        forest = self._not_domains if settings.flavor == "ad" else None
        self.references = References(settings.ignore_references, forest)

    def _server(self) -> ldap3.Server:
        parsed = urlparse(self.url)
        tls = ldap3.Tls(
            validate=ssl.CERT_REQUIRED if self.tls_verify else ssl.CERT_NONE,
            ca_certs_file=self.ca_file,
        )
        return ldap3.Server(
            parsed.hostname or "localhost",
            port=parsed.port,
            use_ssl=parsed.scheme == "ldaps",
            tls=tls,
            get_info=ldap3.NONE,
            connect_timeout=self.timeout,
        )

    def _connect(self) -> ldap3.Connection:
        if self._factory is not None:
            return self._factory()
        parsed = urlparse(self.url)
        conn = ldap3.Connection(
            self._server(),
            user=self.bind_dn,
            password=self._password,
            client_strategy=ldap3.SYNC,
            receive_timeout=self.timeout,
            raise_exceptions=False,
            auto_bind=ldap3.AUTO_BIND_NONE,
            # A referral is an answer from elsewhere, not a read of this directory: never follow
            # one (ldap3 would send the bind password to whichever server it names).
            auto_referrals=False,
            # Active Directory sends at most 1,500 values of a group's member
            # (member;range=0-1499); ldap3 fetches the remaining ranges itself.
            auto_range=True,
            return_empty_attributes=False,  # `_entries` fills them in, for a fraction of the cost
        )
        conn.open()
        if self.start_tls and parsed.scheme == "ldap" and not conn.start_tls():
            raise errors.PermanentError(
                f"StartTLS to {self.url} failed: {conn.result.get('description')} {STARTTLS_HINT}"
            )
        if not conn.bind():
            code = conn.result.get("result")
            conn.unbind()
            if code == INVALID_CREDENTIALS:
                raise errors.AuthenticationFailed(
                    f"bind as {self.bind_dn} to {self.url} rejected: invalid credentials "
                    "(check bind_password)"
                )
            raise map_result(conn.result, f"bind as {self.bind_dn}")
        return conn

    @contextmanager
    def connection(self, what: str) -> Iterator[ldap3.Connection]:
        """The live connection, with ldap3's exceptions translated for ``what``."""
        with self._lock:
            try:
                if self._conn is None:
                    self._conn = self._connect()
                yield self._conn
            except errors.IamError:
                raise
            except (lx.LDAPSocketOpenError, lx.LDAPStartTLSError) as exc:
                self._drop()
                if "doesn't match any name" in str(exc):  # ldap3's check of the certificate's names
                    raise errors.PermanentError(
                        f"TLS to {self.url} failed: the server certificate is not issued to "
                        f"{urlparse(self.url).hostname} (use a host name the certificate names, "
                        "such as the domain controller's full DNS name)"
                    ) from None
                if "certificate" in str(exc).lower():
                    raise errors.PermanentError(
                        f"TLS to {self.url} failed: the server certificate is not trusted "
                        "(set ca_file, or tls_verify: false to turn checking off by name)"
                    ) from None
                if isinstance(exc, lx.LDAPStartTLSError):
                    raise errors.PermanentError(
                        f"StartTLS to {self.url} failed ({what}) {STARTTLS_HINT}"
                    ) from None
                raise errors.Unreachable(f"cannot connect to {self.url} ({what})") from None
            except (lx.LDAPResponseTimeoutError, lx.LDAPSocketReceiveError) as exc:
                self._drop()
                raise errors.ConnectTimeout(f"{self.url} did not answer in {self.timeout}s ({what})") from exc
            except lx.LDAPCommunicationError as exc:
                self._drop()
                raise errors.Unreachable(f"connection to {self.url} lost ({what})") from exc
            except lx.LDAPException as exc:
                raise errors.PermanentError(f"{what}: {type(exc).__name__}: {exc}") from exc

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):  # the socket is already gone
                conn.unbind()

    def close(self) -> None:
        with self._lock:
            self._drop()

    def bind_result(self, dn: str, password: str, what: str) -> int:
        """The result code of one simple bind as ``dn`` on a connection of its own.

        For proving that the server refuses a disabled entry's binds; the
        connector's own connection and bind are left alone.
        """
        if self._factory is not None:
            raise errors.Unsupported(f"{what}: a supplied connection cannot bind as another entry")
        with self.connection(what):  # the same error mapping as any other call
            conn = ldap3.Connection(
                self._server(),
                user=dn,
                password=password,
                receive_timeout=self.timeout,
                raise_exceptions=False,
            )
            try:
                conn.open()
                if self.start_tls and urlparse(self.url).scheme == "ldap" and not conn.start_tls():
                    raise errors.PermanentError(f"{what}: StartTLS to {self.url} failed {STARTTLS_HINT}")
                conn.bind()
                return int(conn.result.get("result"))
            finally:
                conn.unbind()

    def search(
        self,
        base: str,
        search_filter: str,
        attributes: list[str],
        *,
        setting: str,
        scope: str = ldap3.SUBTREE,
        page_size: int = 0,
        what: str = "search",
    ) -> list[dict[str, Any]]:
        """Every entry below ``base``, all pages, as ``{"dn": ..., "attrs": {lowercased name: [str, ...]}}``.

        ``setting`` names the configuration key that points at ``base``: a
        search that could not see everything raises naming it, never answers [].
        """
        return list(
            self.iter_search(
                base, search_filter, attributes, setting=setting, scope=scope, page_size=page_size, what=what
            )
        )

    def iter_search(
        self,
        base: str,
        search_filter: str,
        attributes: list[str],
        *,
        setting: str,
        scope: str = ldap3.SUBTREE,
        page_size: int = 0,
        what: str = "search",
    ) -> Iterator[dict[str, Any]]:
        """The entries of `search` as they arrive, one page at a time, for a bulk read in flat memory.

        Each page's result is judged before any of its entries is handed
        out, so a search cut short raises where it is cut; entries already
        handed out were real, but not all there is. The session (its lock,
        its connection) is held until the iterator is exhausted or closed.
        """
        with self.connection(what) as conn:
            if not page_size:
                conn.search(base, search_filter, scope, attributes=attributes)
                if conn.result.get("result") != SUCCESS:
                    raise self.incomplete(conn.result, base, setting, what)
                response = conn.response or []
                self._refuse_references(response, base, setting, what)
                yield from _entries(response, attributes)
                return
            for page in self._pages(conn, base, search_filter, scope, attributes, page_size, setting, what):
                self._refuse_references(page, base, setting, what)
                yield from _entries(page, attributes)

    def _pages(
        self,
        conn: ldap3.Connection,
        base: str,
        search_filter: str,
        scope: str,
        attributes: list[str],
        page_size: int,
        setting: str,
        what: str,
    ) -> Iterator[list[dict[str, Any]]]:
        """ldap3's paged search regrouped into the server's pages, each judged before it is used.

        ldap3's generator hands out one entry at a time, each page last entry
        first, and on a page the server refused (a size limit reached half
        way) it finds no cookie and stops as if done: with
        ``raise_exceptions`` it still would for size and time limits. So each
        page it fetches is caught here by the connection's ``result`` being
        replaced (a call between two entries made by the reader is not: it
        happens outside ``next``), judged, and handed on in the server's order.
        A referral (the base held by another server) is such a refused page
        too: ldap3 is not let to page on over a connection of its own, whose
        pages this session could not judge.
        """
        referrals, conn.auto_referrals = conn.auto_referrals, False
        raw = conn.extend.standard.paged_search(
            base, search_filter, scope, attributes=attributes, paged_size=page_size, generator=True
        )
        page: list[dict[str, Any]] = []
        try:
            while True:
                before = conn.result
                entry = next(raw, None)
                if conn.result is not before:  # ldap3 fetched the next page in this step
                    if conn.result.get("result") != SUCCESS:
                        raise self.incomplete(conn.result, base, setting, what)
                    yield page[::-1]
                    page = []
                if entry is None:
                    break
                page.append(entry)
            yield page[::-1]
        finally:
            conn.auto_referrals = referrals  # as it was (ldap3 restores it only when run to the end)

    def read_entry(
        self, dn: str, attributes: list[str], what: str, search_filter: str = "(objectClass=*)"
    ) -> dict[str, Any] | None:
        """The one entry ``dn`` if it exists and matches ``search_filter``; None if it does not.

        For a DN that may legitimately be gone (a group a step names, read
        again to decide an outcome), never for a search base: a missing base
        is an error (`search`).
        """
        with self.connection(what) as conn:
            conn.search(dn, search_filter, ldap3.BASE, attributes=attributes)
            code = conn.result.get("result")
            if code == NO_SUCH_OBJECT:
                return None
            if code != SUCCESS:
                raise map_result(conn.result, what)
            found = list(_entries(conn.response or [], attributes))
        return found[0] if found else None

    def first(
        self, base: str, search_filter: str, attributes: list[str], *, setting: str, what: str
    ) -> dict[str, Any] | None:
        """One entry below ``base`` matching ``search_filter``, or None when none does (a probe).

        The server is asked for one entry only, so its "size limit exceeded"
        means "there were more", not "cut short".
        """
        with self.connection(what) as conn:
            conn.search(base, search_filter, ldap3.SUBTREE, attributes=attributes, size_limit=1)
            if conn.result.get("result") not in (SUCCESS, SIZE_LIMIT):
                raise self.incomplete(conn.result, base, setting, what)
            response = conn.response or []
            self._refuse_references(response, base, setting, what)
            found = list(_entries(response, attributes))
        return found[0] if found else None

    def _refuse_references(self, response: list[dict[str, Any]], base: str, setting: str, what: str) -> None:
        """Raise unless each continuation reference in ``response`` is one to pass over (`references`)."""
        found = [r.get("uri") or [] for r in response if r.get("type") == "searchResRef"]
        blocking = self.references.blocking(found) if found else []
        if not blocking:
            return
        more = f" (and {len(blocking) - 1} more)" if len(blocking) > 1 else ""
        place = target(blocking[0]) or blocking[0]
        raise errors.IncompleteRead(
            f"{what}: the search below {base} ({self.where(setting)}) met a continuation reference to "
            f"{blocking[0]}{more}: another server holds {place}, which iam does not read, so accounts "
            f"or groups there would go unseen. Set {setting} where no reference leads or, if nothing "
            f"iam manages is there, list {place} in {self.where('ignore_references')}"
        )

    def _not_domains(self) -> list[str]:
        """Active Directory: the forest's naming contexts that are not domains, from the crossRefs in
        ``CN=Partitions`` of the configuration; [] when they cannot be read (nothing is passed over)."""
        what = "read the forest's naming contexts"
        with self.connection(what) as conn:
            conn.search("", "(objectClass=*)", ldap3.BASE, attributes=["configurationNamingContext"])
            if conn.result.get("result") != SUCCESS:
                return []
            root = list(_entries(conn.response or [], ["configurationNamingContext"]))
            config = root[0]["attrs"]["configurationnamingcontext"] if root else []
            if not config:
                return []
            wanted = ["nCName", "systemFlags"]
            partitions = f"CN=Partitions,{config[0]}"
            conn.search(partitions, "(objectClass=crossRef)", ldap3.LEVEL, attributes=wanted)
            if conn.result.get("result") != SUCCESS:
                return []
            return not_domains(e["attrs"] for e in _entries(conn.response or [], wanted))

    def where(self, setting: str) -> str:
        """A setting as the configuration spells it: ``systems.<system>.<setting>``."""
        return f"systems.{self.system}.{setting}"

    def incomplete(self, result: dict[str, Any], base: str, setting: str, what: str) -> errors.ConnectorError:
        """Why a search below ``base`` did not see everything, naming the setting and the fix."""
        code = result.get("result")
        said = f"{result.get('description')} (LDAP {code})"
        who = self.bind_dn or "the anonymous bind"
        where = f"{base} ({self.where(setting)})"
        if code == NO_SUCH_OBJECT:
            matched = result.get("dn")
            closest = f"; the closest entry that exists is {matched}" if matched else ""
            return errors.IncompleteRead(
                f"{what}: {where} does not exist, or {who} may not see it: {said}{closest}. "
                f"Set {setting} to an entry that exists, or grant {who} read access to it",
            )
        if code == INSUFFICIENT_ACCESS:
            return errors.PermissionDenied(
                f"{what}: {who} may not read {where}: {said}. Grant it read access there",
            )
        if code in (SIZE_LIMIT, ADMIN_LIMIT):
            detail = f": {result.get('message')}" if result.get("message") else ""
            return errors.IncompleteRead(
                f"{what}: the search below {where} was cut short by a server limit: {said}{detail}. "
                f"Keep systems.{self.system}.page_size within the server's paged-results limit, or raise "
                f'the limits for {who} (OpenLDAP: `limits dn.exact="{who}" size=unlimited`; '
                "Active Directory: MaxPageSize)",
            )
        if code == REFERRAL:
            elsewhere = ", ".join(result.get("referrals") or []) or "another server"
            return errors.IncompleteRead(
                f"{what}: {where} is held by another server, which iam does not read: {said}, "
                f"to {elsewhere}. Set {setting} to a place this directory holds itself",
            )
        if code == TIME_LIMIT:
            return errors.TransientError(
                f"{what}: the search below {where} was cut short by the server's time limit: {said}; "
                "what it found is not taken as all there is",
            )
        return map_result(result, what)

    def modify(
        self, dn: str, changes: dict[str, Any], what: str, accept: frozenset[int] = frozenset()
    ) -> int:
        """Run one modify; returns the LDAP result code for codes callers decide on.

        ``accept`` names further codes the caller handles instead of an error.
        """
        with self.connection(what) as conn:
            conn.modify(dn, changes)
            return _code(
                conn.result,
                what,
                {NO_SUCH_ATTRIBUTE, VALUE_EXISTS, NO_SUCH_OBJECT, OBJECT_CLASS_VIOLATION} | accept,
            )

    def add(self, dn: str, object_class: list[str], attributes: dict[str, Any], what: str) -> int:
        with self.connection(what) as conn:
            conn.add(dn, object_class, attributes)
            return _code(conn.result, what, {ALREADY_EXISTS})

    def delete(self, dn: str, what: str) -> int:
        with self.connection(what) as conn:
            conn.delete(dn)
            return _code(conn.result, what, {NO_SUCH_OBJECT})

    def move(self, dn: str, rdn: str, new_superior: str, what: str) -> int:
        with self.connection(what) as conn:
            conn.modify_dn(dn, rdn, new_superior=new_superior)
            return _code(conn.result, what, {NO_SUCH_OBJECT, ALREADY_EXISTS})


def _code(result: dict[str, Any], what: str, accepted: set[int]) -> int:
    code = result.get("result")
    if code == SUCCESS or code in accepted:
        return int(code)
    raise map_result(result, what)


def map_result(result: dict[str, Any], what: str) -> errors.ConnectorError:
    """An LDAP result code as one of iam's error types."""
    code = result.get("result")
    text = f"{what}: {result.get('description')} (LDAP {code})"
    message = result.get("message")
    if message:
        text += f": {message}"
    if code in _TRANSIENT_CODES:
        return errors.TransientError(text)
    if code == INVALID_CREDENTIALS:
        return errors.AuthenticationFailed(text)
    if code == INSUFFICIENT_ACCESS:
        return errors.PermissionDenied(text + " — the bind account lacks write access here")
    if code == NO_SUCH_OBJECT:
        return errors.NoSuchObject(text)
    if code == ALREADY_EXISTS:
        return errors.AlreadyExists(text)
    if code in _INVALID_CODES:
        return errors.InvalidAttribute(text)
    if code == UNWILLING_TO_PERFORM:
        return errors.Unsupported(text)
    return errors.PermanentError(text)


#: Binary attributes read in their string form: a SID as ``S-1-5-21-...`` (AD's primary group).
_SIDS = frozenset({"objectsid"})


#: Requested names that are not attributes: all user, all operational, none.
_NOT_NAMES = frozenset({"*", "+", "1.1"})


def _entries(response: list[dict[str, Any]], requested: list[str]) -> Iterator[dict[str, Any]]:
    """The entries of a search response (not its continuation references), in iam's form.

    Every attribute in ``requested`` is there, ``[]`` when the entry has none: ldap3's own
    ``empty_attributes`` did that through a case-insensitive dictionary that cost a tenth
    of a bulk read; this session turns it off and fills the gaps here, in plain dictionaries.
    """
    absent = [name.lower() for name in requested if name not in _NOT_NAMES]
    return (_entry(e, absent) for e in list(response) if e.get("type") == "searchResEntry")


def _entry(raw: dict[str, Any], absent: list[str]) -> dict[str, Any]:
    attrs: dict[str, list[str]] = {}
    for name, values in (raw.get("attributes") or {}).items():
        if not isinstance(values, list):
            values = [values]
        attrs[name.lower()] = [v if type(v) is str else _text(v) for v in values]
    if not _SIDS.isdisjoint(attrs):
        for name, values in (raw.get("raw_attributes") or {}).items():
            if name.lower() in _SIDS:
                attrs[name.lower()] = [format_sid(v) for v in values]
    for name in absent:
        attrs.setdefault(name, [])
    return {"dn": raw["dn"], "attrs": attrs}


def _text(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
