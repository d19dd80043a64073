"""The easy-rsa 3 PKI: who holds which certificate; issuing, revoking, the CRL.

``pki/index.txt`` (the ``openssl ca`` database) is the record of every
certificate: status V/R/E, expiry, revocation date, serial, subject. What
the *server* enforces is the CRL file its ``crl-verify`` reads, so the
revocation state that counts is read back from that file (``cryptography``'s
CRL loader, its signature checked against the PKI's CA certificate), not
from the index alone.

Commands run through `connectors.vpn.commands` (argument lists, never a
shell, bounded in time) and fail with its exceptions, `PkiLocked`,
`NotRevocableByName`, `UnreadableIndex` or `UnreadableCrl`; the
connector's boundary translates them. An index that is missing or holds a
line that cannot be read is an error, never fewer certificates: a skipped
line could be the valid certificate of a leaver. Likewise an installed CRL
that cannot be parsed, or that this CA did not sign, is an error, never
"nothing revoked".
"""

from __future__ import annotations

import fcntl
import os
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from iam.connectors.vpn.commands import run
from tenacity import RetryError, Retrying, retry_if_exception_type, stop_after_delay, wait_fixed

from iam.secrets import Secret

_PASSIN_VAR = "IAM_EASYRSA_PASSIN"
_HEX = re.compile(r"[0-9A-Fa-f]{1,64}")


class PkiLocked(Exception):
    """Another process holds the PKI lock for too long."""


class UnreadableIndex(Exception):
    """``index.txt`` is missing or holds a line that is not an index line: who holds what is unknown."""


class UnreadableCrl(Exception):
    """The installed CRL, or the CA certificate that checks it, cannot be read or does not verify."""


class NotRevocableByName(Exception):
    """easy-rsa revokes by file name, and this certificate's file is not where it looks."""


@dataclass(frozen=True)
class CertRecord:
    """One line of ``index.txt``."""

    status: str
    expires: datetime
    revoked_at: datetime | None
    serial: str
    subject: str

    @property
    def cn(self) -> str | None:
        found = re.findall(r"/CN=([^/]*)", self.subject)
        return found[-1] if found else None

    def expired(self, now: datetime) -> bool:
        return self.status == "E" or self.expires <= now


@dataclass(frozen=True)
class CrlInfo:
    """What an installed CRL says: revoked serials (as numbers) and when it must be renewed."""

    serials: frozenset[int]
    next_update: datetime | None

    def lists(self, serial: str) -> bool:
        """Whether the certificate ``serial`` (hex, as the index or openssl spells it) is revoked here."""
        number = serial_number(serial)
        return number is not None and number in self.serials


def normalize_serial(text: str) -> str | None:
    """A serial as upper-case hex without leading zeros, or None if not hex."""
    text = text.strip().replace(":", "")
    if not _HEX.fullmatch(text):
        return None
    return text.upper().lstrip("0") or "0"


def serial_number(text: str) -> int | None:
    """A serial spelled in hex (any case, colons, leading zeros) as the number it is, or None."""
    normal = normalize_serial(text)
    return None if normal is None else int(normal, 16)


def parse_asn1_time(value: str) -> datetime:
    """``YYMMDDHHMMSSZ`` (UTCTime) or ``YYYYMMDDHHMMSSZ`` (GeneralizedTime)."""
    value = value.strip().rstrip("Z")
    if len(value) == 12:
        year = int(value[:2])
        value = f"{1900 + year if year >= 50 else 2000 + year}{value[2:]}"
    return datetime.strptime(value, "%Y%m%d%H%M%S").replace(tzinfo=UTC)


def parse_index(text: str, source: str = "index.txt") -> list[CertRecord]:
    """Every certificate of an ``index.txt``; a line that is not an index line raises `UnreadableIndex`."""
    records = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            records.append(_index_line(line))
        except ValueError as exc:
            raise UnreadableIndex(
                f"{source} line {number} is not an index line ({exc}): the certificate it stands for "
                "cannot be read, so no one's access can be trusted; repair the line (tab-separated: "
                "status V/R/E, expiry, revocation, serial, file, subject)"
            ) from None
    return records


def _index_line(line: str) -> CertRecord:
    fields = line.split("\t")
    if len(fields) < 6 or fields[0] not in ("V", "R", "E"):
        raise ValueError("expected 6 fields starting with V, R or E")
    serial = normalize_serial(fields[3])
    if serial is None:
        raise ValueError("the serial is not hexadecimal")
    expires = parse_asn1_time(fields[1])
    revoked = parse_asn1_time(fields[2].split(",")[0]) if fields[2] else None
    return CertRecord(fields[0], expires, revoked, serial, fields[5])


def load_ca(data: bytes, source: str) -> x509.Certificate:
    """The PKI's CA certificate (PEM), which every CRL the server trusts must be signed by."""
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError as exc:
        raise UnreadableCrl(
            f"the CA certificate {source} cannot be read ({exc}), so no CRL can be checked: set pki_dir "
            "to the easy-rsa PKI whose ca.crt signs the server's CRL"
        ) from None


def parse_crl(data: bytes, ca: x509.Certificate, source: str, ca_source: str) -> CrlInfo:
    """The serials and next update of a PEM CRL, once its signature verifies against ``ca``.

    An unreadable CRL, or one this CA did not sign (another PKI's, or one
    merely naming this CA as its issuer), says nothing about what the server
    refuses: `UnreadableCrl` naming the file, never an empty list.
    """
    try:
        crl = x509.load_pem_x509_crl(data)
        if not crl.is_signature_valid(ca.public_key()):  # type: ignore[arg-type]  # X25519/X448 sign nothing
            raise UnreadableCrl(
                f"the CRL {source} is not signed by the CA {ca_source} (it names "
                f"{crl.issuer.rfc4514_string() or 'no issuer'}): it may be another PKI's; install the CRL "
                "this PKI's `easyrsa gen-crl` makes at crl_path, or set pki_dir to the PKI that signs it"
            )
        serials = frozenset(revoked.serial_number for revoked in crl)
    except (ValueError, TypeError) as exc:
        raise UnreadableCrl(
            f"the CRL {source} cannot be read ({exc}), so what the server refuses is unknown: "
            "regenerate it (`easyrsa gen-crl`) and install it at crl_path"
        ) from None
    return CrlInfo(serials, crl.next_update_utc)


class EasyRsa:
    """One easy-rsa 3 PKI directory and the tools that change it."""

    def __init__(
        self,
        pki_dir: Path,
        *,
        easyrsa: str = "/usr/share/easy-rsa/easyrsa",
        openssl: str = "openssl",
        timeout: float = 120.0,
        ca_passphrase: Secret | None = None,
        algo: str | None = None,
        cert_days: int | None = None,
        crl_days: int | None = None,
    ) -> None:
        self.pki_dir = pki_dir
        self.easyrsa = easyrsa
        self.openssl = openssl
        self.timeout = timeout
        self._passphrase = ca_passphrase
        self._algo = algo
        self._cert_days = cert_days
        self._crl_days = crl_days

    @property
    def ca_path(self) -> Path:
        return self.pki_dir / "ca.crt"

    def cert_path(self, cn: str) -> Path:
        return self.pki_dir / "issued" / f"{cn}.crt"

    def key_path(self, cn: str) -> Path:
        return self.pki_dir / "private" / f"{cn}.key"

    # reading ------------------------------------------------------------------

    def records(self) -> list[CertRecord]:
        """Every certificate the PKI ever issued; `UnreadableIndex` if the index is missing or damaged."""
        index = self.pki_dir / "index.txt"
        try:
            text = index.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            raise UnreadableIndex(
                f"the PKI index {index} does not exist: set pki_dir to the easy-rsa PKI directory that "
                "issues the server's client certificates"
            ) from None
        return parse_index(text, str(index))

    def cert_serial(self, path: Path) -> str | None:
        """The serial of a certificate file, or None if there is no such file."""
        if not path.exists():
            return None
        out = self._run(
            [self.openssl, "x509", "-in", str(path), "-noout", "-serial"], f"read serial of {path}"
        )
        return normalize_serial(out.stdout.strip().partition("=")[2])

    def crl_info(self, path: Path) -> CrlInfo:
        """Read an installed CRL (none installed: nothing listed); it must verify against this PKI's CA."""
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return CrlInfo(frozenset(), None)
        try:
            ca = self.ca_path.read_bytes()
        except FileNotFoundError:
            raise UnreadableCrl(
                f"the CA certificate {self.ca_path} cannot be read (it does not exist), so the CRL {path} "
                "cannot be checked: set pki_dir to the easy-rsa PKI whose ca.crt signs it"
            ) from None
        return parse_crl(data, load_ca(ca, str(self.ca_path)), str(path), str(self.ca_path))

    # changing -----------------------------------------------------------------

    def issue_client(self, cn: str) -> None:
        """``build-client-full <cn> nopass``: key, request and signed certificate."""
        self._easyrsa(["build-client-full", cn, "nopass"], f"issue a client certificate for {cn}")

    def revoke(self, cn: str, serial: str) -> None:
        """Revoke the certificate ``serial`` of ``cn``, current or renewed (easy-rsa revokes by name)."""
        if self.cert_serial(self.cert_path(cn)) == serial:
            self._easyrsa(["revoke", cn], f"revoke certificate {serial} of {cn}")
            return
        renewed = self.pki_dir / "renewed" / "issued" / f"{cn}.crt"
        if self.cert_serial(renewed) == serial:
            self._easyrsa(["revoke-renewed", cn], f"revoke renewed certificate {serial} of {cn}")
            return
        copy = self.by_serial(serial)
        raise NotRevocableByName(
            f"certificate {serial} of {cn} is neither {self.cert_path(cn)} nor {renewed}, the only names "
            "easy-rsa revokes by, so iam left it valid. Revoke it by hand with `openssl ca -config "
            f"{self.pki_dir / 'safessl-easyrsa.cnf'} -revoke {copy or 'FILE-OF-THE-CERTIFICATE'}`, "
            "then run the same iam command again: it installs the new CRL"
        )

    def by_serial(self, serial: str) -> Path | None:
        """easy-rsa's copy ``certs_by_serial/<SERIAL>.pem`` (named with openssl's leading zeros)."""
        for path in sorted((self.pki_dir / "certs_by_serial").glob("*.pem")):
            if normalize_serial(path.stem) == serial:
                return path
        return None

    def gen_crl(self) -> bytes:
        """Regenerate ``pki/crl.pem`` from the index and return it."""
        self._easyrsa(["gen-crl"], "generate the CRL")
        return (self.pki_dir / "crl.pem").read_bytes()

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the PKI's lock file: easy-rsa's index and serial files are not safe to share."""
        fd = os.open(self.pki_dir / ".iam.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            # Waiting for another holder to finish, not retrying a failure (the engine alone retries).
            taking = Retrying(
                retry=retry_if_exception_type(BlockingIOError),
                stop=stop_after_delay(self.timeout),
                wait=wait_fixed(0.05),
            )
            try:
                taking(fcntl.flock, fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except RetryError:
                raise PkiLocked(f"the PKI {self.pki_dir} stayed locked for {self.timeout:g}s") from None
            yield
        finally:
            os.close(fd)

    # running ------------------------------------------------------------------

    def _easyrsa(self, args: list[str], what: str) -> subprocess.CompletedProcess[str]:
        env = {"EASYRSA_PKI": str(self.pki_dir), "EASYRSA_BATCH": "1"}
        if self._algo:
            env["EASYRSA_ALGO"] = self._algo
        if self._cert_days:
            env["EASYRSA_CERT_EXPIRE"] = str(self._cert_days)
        if self._crl_days:
            env["EASYRSA_CRL_DAYS"] = str(self._crl_days)
        if self._passphrase is not None:
            # The passphrase reaches openssl through the environment, never the command line.
            env["EASYRSA_PASSIN"] = f"env:{_PASSIN_VAR}"
            env[_PASSIN_VAR] = self._passphrase.reveal()
        return self._run([self.easyrsa, *args], what, env)

    def _run(
        self, args: list[str], what: str, extra_env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return run(args, what, timeout=self.timeout, env=extra_env)
