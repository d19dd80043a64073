"""OpenVPN 2.x with an easy-rsa 3 PKI: certificates are the accounts.

A person holds ``vpn:access`` while a certificate with their CN is valid:
not expired, and not listed in the CRL the server actually reads
(``crl_path``). Live tunnels come from the management interface
(``status 3``). Termination revokes every such certificate and installs the
new CRL *before* killing the tunnels: a tunnel killed while its certificate
still verifies simply reconnects, one killed after the CRL is in place is
refused (``certificate revoked``) — OpenVPN re-reads the CRL on every
connection, no restart needed.

A person's certificates are those whose CN is their username in any case
(``CN=Alice`` is alice's), as LDAP, Keycloak and SCIM match usernames: read
as no one's, a tunnel of ``CN=Alice`` would outlive alice's termination.
easy-rsa and ``kill`` are given each certificate's own CN.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from iam.connectors.vpn import settings as vpn_settings
from iam.connectors.vpn.boundary import translate
from iam.connectors.vpn.files import replace_file
from iam.connectors.vpn.management import Address, ManagementClient, describe
from iam.connectors.vpn.names import InvalidUsername, check_username
from iam.connectors.vpn.pki import CertRecord, CrlInfo, EasyRsa, NotRevocableByName, normalize_serial
from iam.connectors.vpn.profile import ProfileSettings, write_profile
from iam.connectors.vpn.settings import OpenVpnSettings
from iam.connectors.vpn.status import ClientRow, parse_status3
from tenacity import Retrying, retry_if_result, stop_after_delay, wait_fixed

from iam import contract, errors
from iam.contract import Op, StepSpec
from iam.model import AccountState, Credential, Entitlement, Outcome, Result, Session

VPN_ACCESS = Entitlement("vpn", "access")


class OpenVpnConnector(
    contract.Connector,
    contract.Readable,
    contract.Entitling,
    contract.SessionRevocable,
    contract.CredentialRevocable,
    contract.Terminable,
    contract.Maintainable,
):
    """An OpenVPN server: easy-rsa for certificates, the management interface for tunnels."""

    settings_model = OpenVpnSettings
    settings: OpenVpnSettings
    #: An OpenVPN account is its certificate: granting vpn:access issues it.
    implicit_accounts = True

    def __init__(
        self,
        name: str,
        settings: Mapping[str, Any] | OpenVpnSettings,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__(name, settings)
        s = self.settings
        self.clock = clock
        self.pki = EasyRsa(
            Path(s.pki_dir),
            easyrsa=s.easyrsa,
            openssl=s.openssl,
            timeout=s.command_timeout,
            ca_passphrase=s.ca_passphrase,
            algo=s.key_algo,
            cert_days=s.cert_days,
            crl_days=s.crl_days,
        )
        self.crl_path = Path(s.crl_path)
        self.crl_renew = timedelta(days=s.crl_renew_days)
        where = s.management
        self.address: Address = (
            where if isinstance(where, str) else (vpn_settings.loopback(name, where.host), where.port)
        )
        self.password = s.management_password
        self.timeout = s.timeout
        self.server_names = frozenset(n.casefold() for n in s.server_names)
        self.profile: ProfileSettings | None = None
        if s.profile_dir is not None and s.remote is not None:
            self.profile = ProfileSettings(
                Path(s.profile_dir),
                s.remote,
                s.port,
                s.proto,
                s.dev,
                Path(s.ca) if s.ca else None,
                tuple(s.profile_extra),
            )
        self._lock = threading.Lock()

    # plumbing -----------------------------------------------------------------

    def _person(self, username: str) -> str:
        """The CN for ``username``; never the server's own certificate (offboarding it would stop the VPN)."""
        cn = check_username(username, self.name)
        if cn.casefold() in self.server_names:
            raise InvalidUsername(
                f"{cn!r} names a server certificate (server_names), not a person; nothing was changed",
                system=self.name,
            )
        return cn

    def _server(self, cn: str | None) -> bool:
        """Whether ``cn`` is one of ``server_names``, in any case."""
        return cn is not None and cn.casefold() in self.server_names

    def _boundary(self, what: str) -> Any:
        return translate(what, self.name)

    def _management(self) -> ManagementClient:
        return ManagementClient(self.address, password=self.password, timeout=self.timeout)

    def _clients(self, mgmt: ManagementClient) -> list[ClientRow]:
        reply = mgmt.command("status 3", multiline=True)
        if not reply.ok:
            raise errors.PermanentError(f"status 3 refused by OpenVPN: {reply.message}", system=self.name)
        return [row for row in parse_status3(reply.lines) if row.live]

    def _works(self, record: CertRecord, crl: CrlInfo, now: datetime) -> bool:
        """Whether the server would accept this certificate today."""
        if record.expired(now):
            return False
        return not crl.lists(record.serial)

    def _state(self, cn: str, records: list[CertRecord], crl: CrlInfo, live: list[ClientRow]) -> AccountState:
        now = self.clock()
        live = [row for row in live if same(row.common_name, cn)]
        names = sorted({r.cn for r in records if r.cn} | {row.common_name for row in live}) or [cn]
        credentials = tuple(
            Credential(
                "certificate",
                r.serial,
                active=self._works(r, crl, now),
                detail=f"{'revoked' if r.status == 'R' else 'expired' if r.expired(now) else 'valid'}"
                f" until {r.expires:%Y-%m-%d}",
            )
            for r in records
        )
        valid = any(c.active for c in credentials)
        return AccountState(
            system=self.name,
            username=cn,
            ref=", ".join(f"CN={name}" for name in names),
            enabled=valid,
            entitlements=frozenset({VPN_ACCESS}) if valid else frozenset(),
            sessions=tuple(
                Session(
                    f"client-id {row.client_id}",
                    f"from {row.real_address} as {row.virtual_address or row.virtual_ipv6}"
                    f" since {row.connected_since}",
                )
                for row in live
            ),
            credentials=credentials,
            attributes={"crl_next_update": crl.next_update.isoformat() if crl.next_update else None},
        )

    def _read(self, cn: str) -> tuple[list[CertRecord], CrlInfo]:
        records = [r for r in self.pki.records() if same(r.cn, cn)]
        return records, self.pki.crl_info(self.crl_path)

    # base ---------------------------------------------------------------------

    def check(self) -> str:
        with self._boundary("check"):
            records = self.pki.records()
            crl = self.pki.crl_info(self.crl_path)
            with self._management() as mgmt:
                version = mgmt.command("version", multiline=True)
        first = version.lines[0] if version.lines else "OpenVPN"
        valid = sum(1 for r in records if not self._server(r.cn) and self._works(r, crl, self.clock()))
        until = f"valid until {crl.next_update:%Y-%m-%d}" if crl.next_update else "not installed"
        return (
            f"{first} at {describe(self.address)}; PKI {self.pki.pki_dir}: "
            f"{valid} valid client certificate(s); CRL {until}"
        )

    # reading ------------------------------------------------------------------

    def read_account(self, username: str) -> AccountState | None:
        cn = self._person(username)
        with self._boundary(f"read {cn}"):
            records, crl = self._read(cn)
            with self._management() as mgmt:
                live = self._clients(mgmt)
        if not records and not any(same(row.common_name, cn) for row in live):
            return None
        return self._state(cn, records, crl, live)

    def iter_accounts(self) -> Iterator[AccountState]:
        """Every CN in the index (servers excepted) and every CN with a tunnel, from one read of each.

        Each person once, named in lower case (casefolded): ``CN=Alice`` is alice's account.
        """
        with self._boundary("list accounts"):
            records = self.pki.records()
            crl = self.pki.crl_info(self.crl_path)
            with self._management() as mgmt:
                live = self._clients(mgmt)
        by_cn: dict[str, list[CertRecord]] = {}
        for record in records:
            if record.cn and not self._server(record.cn):
                by_cn.setdefault(record.cn.casefold(), []).append(record)
        for row in live:
            if not self._server(row.common_name):
                by_cn.setdefault(row.common_name.casefold(), [])
        for cn in sorted(by_cn):
            yield self._state(cn, by_cn[cn], crl, live)

    # changing -----------------------------------------------------------------

    def grant(self, username: str, entitlement: Entitlement) -> Result:
        """Issue a client certificate (CN = username) and write its 0600 profile."""
        cn = self._person(username)
        _only_vpn_access(entitlement)
        with self._lock, self._boundary(f"grant vpn:access to {cn}"), self.pki.locked():
            records, crl = self._read(cn)
            now = self.clock()
            held = [r for r in records if r.status == "V" and self._works(r, crl, now)]
            if held:
                return self._ensure_profile(held[-1].cn or cn, held[-1].serial)
            self.pki.issue_client(cn)
            serial = self.pki.cert_serial(self.pki.cert_path(cn))
            detail = f"certificate {serial} issued to {cn}"
            if self.profile is not None:
                detail += f"; profile {self._write_profile(cn)}"
        return Result(Outcome.UPDATED, detail)

    def _write_profile(self, cn: str) -> Path:
        assert self.profile is not None
        ca = self.profile.ca or self.pki.ca_path
        return write_profile(cn, self.profile, ca, self.pki.cert_path(cn), self.pki.key_path(cn))

    def _ensure_profile(self, cn: str, serial: str) -> Result:
        """A valid certificate is enough, unless its profile went missing (a grant cut short): rewrite it."""
        if self.profile is None or (self.profile.directory / f"{cn}.ovpn").exists():
            return Result(Outcome.UNCHANGED, f"certificate {serial} is valid")
        if self.pki.cert_serial(self.pki.cert_path(cn)) != serial or not self.pki.key_path(cn).exists():
            return Result(Outcome.UNCHANGED, f"certificate {serial} is valid; its key is not in the PKI")
        return Result(
            Outcome.UPDATED, f"certificate {serial} is valid; profile {self._write_profile(cn)} rewritten"
        )

    def revoke(self, username: str, entitlement: Entitlement) -> Result:
        """Revoke every working certificate, install the CRL, then cut the tunnels.

        Taking VPN access away also kills live tunnels: OpenVPN checks the
        CRL only when a connection (re)negotiates, so a mover would otherwise
        keep the tunnel for up to an hour.
        """
        cn = self._person(username)
        _only_vpn_access(entitlement)
        with self._lock, self._boundary(f"revoke vpn:access of {cn}"):
            with self.pki.locked():
                records, crl = self._read(cn)
                now = self.clock()
                working = [r for r in records if self._works(r, crl, now)]
                if working:
                    self._revoke_and_install(working)
            killed = self._kill(cn)
        if not records and not killed:
            return Result(Outcome.ABSENT, f"no certificate for {cn}")
        if not working and not killed:
            return Result(Outcome.UNCHANGED, "no valid certificate and no live tunnel")
        serials = ", ".join(r.serial for r in working) or "none"
        return Result(Outcome.UPDATED, f"revoked {serials}; CRL installed; {killed} tunnel(s) killed")

    def revoke_credential(self, username: str, credential_id: str) -> Result:
        """Revoke one certificate by serial and install the new CRL (tunnels are a later step)."""
        cn = self._person(username)
        serial = normalize_serial(credential_id)
        if serial is None:
            raise errors.InvalidAttribute(
                f"{credential_id!r} is not a certificate serial (hexadecimal)", system=self.name
            )
        with self._lock, self._boundary(f"revoke certificate {serial} of {cn}"), self.pki.locked():
            records, crl = self._read(cn)
            record = next((r for r in records if r.serial == serial), None)
            if record is None:
                return Result(Outcome.ABSENT, f"{cn} holds no certificate {serial}")
            if not self._works(record, crl, self.clock()):
                return Result(Outcome.UNCHANGED, f"certificate {serial} is already refused by the server")
            self._revoke_and_install([record])
        return Result(Outcome.UPDATED, f"certificate {serial} revoked; CRL installed at {self.crl_path}")

    def end_sessions(self, username: str) -> Result:
        cn = self._person(username)
        with self._lock, self._boundary(f"end the tunnels of {cn}"):
            killed = self._kill(cn)
            has_certificate = killed or any(same(r.cn, cn) for r in self.pki.records())
        if killed:
            return Result(Outcome.UPDATED, f"{killed} tunnel(s) killed")
        return Result(Outcome.UNCHANGED if has_certificate else Outcome.ABSENT, "no live tunnel")

    def termination_steps(self, state: AccountState) -> list[StepSpec]:
        """Certificates and CRL first, tunnels last: a tunnel killed earlier would come straight back."""
        steps = [
            StepSpec(Op.REVOKE_CREDENTIAL, c.id, f"revoke certificate {c.id} and install the new CRL")
            for c in state.credentials
            if c.active
        ]
        if state.sessions:
            steps.append(
                StepSpec(
                    Op.END_SESSIONS, description=f"kill {len(state.sessions)} live tunnel(s) (CRL in place)"
                )
            )
        return steps

    # upkeep -------------------------------------------------------------------

    def maintain(self) -> Result:
        """Renew the CRL before it expires: an expired CRL makes OpenVPN refuse every client."""
        with self._lock, self._boundary("renew the CRL"), self.pki.locked():
            before = self.pki.crl_info(self.crl_path)
            if before.next_update is not None and before.next_update - self.clock() > self.crl_renew:
                return Result(Outcome.UNCHANGED, f"CRL valid until {before.next_update:%Y-%m-%d %H:%M} UTC")
            revoked = [r.serial for r in self.pki.records() if r.status == "R"]
            after = self._install_crl(revoked)  # a renewal must never drop a revocation
        was = f"{before.next_update:%Y-%m-%d}" if before.next_update else "missing"
        until = f"{after.next_update:%Y-%m-%d %H:%M} UTC" if after.next_update else "?"
        return Result(Outcome.UPDATED, f"CRL renewed (was {was}), valid until {until}")

    # helpers ------------------------------------------------------------------

    def _revoke_and_install(self, records: list[CertRecord]) -> None:
        """Revoke in easy-rsa (unless the index already says so), then install the new CRL.

        A certificate easy-rsa cannot find by name is skipped and reported
        after the CRL is installed: the others must not stay usable for it.
        """
        revoked: list[str] = []
        refused: NotRevocableByName | None = None
        for record in records:
            if record.status != "R":
                assert record.cn is not None  # a person's certificate: chosen by its CN
                try:
                    self.pki.revoke(record.cn, record.serial)  # easy-rsa's file name: the CN as issued
                except NotRevocableByName as exc:
                    refused = refused or exc
                    continue
            revoked.append(record.serial)
        if revoked:
            self._install_crl(revoked)
        if refused is not None:
            raise refused

    def _install_crl(self, must_list: list[str]) -> CrlInfo:
        """Regenerate the CRL, install it where the server reads it, read back that it lists ``must_list``."""
        crl = self.pki.gen_crl()
        if self.crl_path.resolve() != (self.pki.pki_dir / "crl.pem").resolve():
            replace_file(self.crl_path, crl)
        else:
            self.crl_path.chmod(0o644)  # easy-rsa writes it 0600: the server may run as nobody
        installed = self.pki.crl_info(self.crl_path)
        missing = [serial for serial in must_list if not installed.lists(serial)]
        if missing:
            raise errors.PermanentError(
                f"the CRL installed at {self.crl_path} does not list {', '.join(missing)}", system=self.name
            )
        return installed

    def _kill(self, cn: str) -> int:
        """Kill every live tunnel of ``cn``, in any case; return how many were up. Read back until gone.

        ``kill`` matches its CN exactly, so each spelling is killed by name; one
        that equals a checked username when casefolded holds no space or quote.
        """
        with self._management() as mgmt:
            live = [row for row in self._clients(mgmt) if same(row.common_name, cn)]
            if not live:
                return 0
            for name in sorted({row.common_name for row in live}):
                reply = mgmt.command(f"kill {name}")
                if not reply.ok and "not found" not in reply.message:
                    raise errors.PermanentError(
                        f"kill {name} refused by OpenVPN: {reply.message}", system=self.name
                    )
            killed = {row.client_id for row in live}
            self._wait_gone(mgmt, cn, killed)
        return len(live)

    def _wait_gone(self, mgmt: ManagementClient, cn: str, client_ids: set[str]) -> None:
        """Poll ``status 3`` (bounded by ``timeout``) until the killed instances have no address.

        A read-back of this step's own effect, not a retry (the engine alone retries).
        """
        polling = Retrying(
            retry=retry_if_result(bool),  # some are still listed
            stop=stop_after_delay(self.timeout),
            wait=wait_fixed(0.1),
            retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
        )
        still = polling(
            lambda: [r for r in self._clients(mgmt) if same(r.common_name, cn) and r.client_id in client_ids]
        )
        if still:
            raise errors.TransientError(
                f"{len(still)} tunnel(s) of {cn} still listed {self.timeout:g}s after kill",
                system=self.name,
            )


def same(cn: str | None, username: str) -> bool:
    """Whether a certificate's CN names this person: usernames match in any case."""
    return cn is not None and cn.casefold() == username.casefold()


def _only_vpn_access(entitlement: Entitlement) -> None:
    if entitlement != VPN_ACCESS:
        raise errors.Unsupported(f"OpenVPN grants only {VPN_ACCESS}, not {entitlement}")
