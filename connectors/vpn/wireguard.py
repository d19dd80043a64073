"""WireGuard: a person's peers (public keys) are their credentials.

There is no CA and no session to kill: a peer is either configured or not,
and removing it with ``wg set <iface> peer <key> remove`` cuts its traffic
at once. The peer also leaves the saved configuration file, or the next
restart would bring it back. Peers are tied to people by a comment in their
block (`connectors.vpn.wgconf`) or by a ``peers_file`` mapping
(``username: [public keys]``), which iam reads but does not edit.

A live session is a peer whose last handshake is recent (``live_seconds``):
WireGuard rekeys every two minutes, so an older handshake means no tunnel.

Who holds which peer is read from those files, so a configuration or peers
file that does not exist, a person comment that cannot be read, or a
peers-file value that is not a public key, is `errors.IncompleteRead` naming
the setting or the line: read as "nobody has a peer" it would let a leaver's
live peer pass for none. A peer tied to no one, saved or live, is listed as
an account of its own (`unattributed`), so a sweep reports it as an orphan.

Names match in any case, as LDAP, Keycloak and SCIM match usernames: a peer
of ``# user = Alice`` is alice's, and accounts are listed casefolded.
"""

from __future__ import annotations

import base64
import ipaddress
import threading
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from iam.connectors.vpn import commands, wgconf
from iam.connectors.vpn.boundary import translate
from iam.connectors.vpn.files import replace_file
from iam.connectors.vpn.names import check_username
from iam.connectors.vpn.settings import WireGuardSettings

from iam import contract, errors
from iam.contract import Op, StepSpec
from iam.model import AccountState, Credential, Entitlement, Outcome, Result, Session

VPN_ACCESS = Entitlement("vpn", "access")


def unattributed(key: str) -> str:
    """The account name of a peer no person is tied to: ``peer-`` and its key in base32.

    Base32 in lower case is a valid username in every case, so a sweep can
    report it and ``iam offboard`` can remove it like anyone's.
    """
    return "peer-" + base64.b32encode(base64.b64decode(key)).decode().rstrip("=").lower()


class WireGuardConnector(
    contract.Connector,
    contract.Readable,
    contract.Entitling,
    contract.CredentialRevocable,
    contract.Terminable,
):
    """One WireGuard interface and its saved configuration."""

    settings_model = WireGuardSettings
    settings: WireGuardSettings
    #: A WireGuard account is its peer: granting vpn:access adds it.
    implicit_accounts = True

    def __init__(
        self,
        name: str,
        settings: Mapping[str, Any] | WireGuardSettings,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__(name, settings)
        s = self.settings
        self.clock = clock
        self.interface = s.interface
        self.config_path = Path(s.config_path)
        self.comment_key = s.comment_key
        self.peers_file = Path(s.peers_file) if s.peers_file else None
        self.live_seconds = s.live_seconds
        self.timeout = s.timeout
        prefix = ["ip", "netns", "exec", s.netns] if s.netns else []
        self._wg_cmd = [*prefix, s.wg]
        self._lock = threading.Lock()

    # plumbing -----------------------------------------------------------------

    def _wg(self, *args: str, what: str, stdin: str | None = None) -> str:
        return commands.run([*self._wg_cmd, *args], what, timeout=self.timeout, stdin=stdin).stdout

    def _table(self, field: str) -> dict[str, str]:
        """``wg show <iface> <field>`` as {public key: value}; never asks for the private key."""
        out = self._wg("show", self.interface, field, what=f"read {field} of {self.interface}")
        table = {}
        for line in out.splitlines():
            key, _, value = line.partition("\t")
            if key:
                table[key] = value.strip()
        return table

    def _config(self) -> str:
        """The saved configuration; it must exist, since it is where peers are tied to people."""
        if not self.config_path.exists():
            raise errors.IncompleteRead(
                f"the WireGuard configuration {self.config_path} does not exist: set "
                f"systems.{self.name}.config_path to the file the interface {self.interface} is loaded from",
                system=self.name,
            )
        return self.config_path.read_text(encoding="utf-8")

    def _peers(self, text: str) -> list[wgconf.PeerBlock]:
        """The saved peers; a person comment that cannot be read is an error naming its line."""
        try:
            return wgconf.parse_peers(text, self.comment_key)
        except wgconf.UnreadablePeer as exc:
            raise errors.IncompleteRead(
                f"{self.config_path} (systems.{self.name}.config_path), {exc}; until then nobody can "
                "tell whose that peer is",
                system=self.name,
            ) from None

    def _mapping(self, text: str, peers: list[wgconf.PeerBlock], only: str | None) -> dict[str, set[str]]:
        """{casefolded username: keys} from the config comments and the peers file.

        The keys of ``only`` (of everyone when None) must all be readable; a
        malformed peers-file entry of someone else does not stop this read.
        """
        keys: dict[str, set[str]] = {}
        for peer in peers:
            if peer.username:
                keys.setdefault(peer.username.casefold(), set()).add(peer.public_key)
        for user, key in wgconf.removed_peers(text, self.comment_key):
            keys.setdefault(user.casefold(), set()).add(key)
        if self.peers_file is not None:
            listed, unreadable = self._peers_file()
            for user, found in listed.items():
                keys.setdefault(user, set()).update(found)
            wanted = [only.casefold()] if only is not None else sorted(unreadable)
            for user in wanted:
                if user in unreadable:
                    raise errors.IncompleteRead(
                        f"{self.peers_file} (systems.{self.name}.peers_file): {unreadable[user]} value(s) "
                        f"listed for {user} are not WireGuard public keys, so the peers of {user} cannot "
                        "all be known; correct them",
                        system=self.name,
                    )
        return keys

    def _peers_file(self) -> tuple[dict[str, set[str]], dict[str, int]]:
        """{casefolded username: keys} from ``peers_file``, and how many values of whom are not public keys.

        A value that is not a key is never used (it would reach a wg command line).
        """
        assert self.peers_file is not None
        where = f"{self.peers_file} (systems.{self.name}.peers_file)"
        try:
            data = yaml.load(self.peers_file.read_text(encoding="utf-8"), _PeersLoader) or {}
        except FileNotFoundError:
            raise errors.IncompleteRead(
                f"the peers file {where} does not exist: point peers_file at it, or remove the setting",
                system=self.name,
            ) from None
        except yaml.MarkedYAMLError as exc:
            line = f"line {exc.problem_mark.line + 1}: " if exc.problem_mark else ""
            raise errors.IncompleteRead(
                f"{where}, {line}{exc.problem}: correct the file", system=self.name
            ) from None
        except yaml.YAMLError:
            data = None
        if not isinstance(data, dict):
            raise errors.PermanentError(
                f"{where}: expected a YAML/JSON mapping of username to public keys", system=self.name
            )
        keys: dict[str, set[str]] = {}
        unreadable: dict[str, int] = {}
        for user, values in data.items():
            name = str(user).casefold()
            listed = [str(v) for v in ([values] if isinstance(values, str) else list(values or []))]
            keys.setdefault(name, set()).update(v for v in listed if wgconf.KEY.fullmatch(v))
            bad = sum(1 for v in listed if not wgconf.KEY.fullmatch(v))
            if bad:
                unreadable[name] = unreadable.get(name, 0) + bad
        return keys, unreadable

    def _state(
        self,
        user: str,
        keys: set[str],
        saved: set[str],
        handshakes: dict[str, str],
        endpoints: dict[str, str],
    ) -> AccountState:
        now = self.clock().timestamp()
        credentials = tuple(
            Credential(
                "wireguard-key",
                key,
                active=key in handshakes or key in saved,
                detail=", ".join(w for w, on in (("live", key in handshakes), ("saved", key in saved)) if on)
                or "removed",
            )
            for key in sorted(keys)
        )
        sessions = tuple(
            Session(
                key, f"from {endpoints.get(key, '?')}, last handshake {int(now - int(handshakes[key]))}s ago"
            )
            for key in sorted(keys)
            if key in handshakes
            and handshakes[key].isdigit()
            and int(handshakes[key]) > 0  # 0: never
            and now - int(handshakes[key]) < self.live_seconds
        )
        valid = any(c.active for c in credentials)
        return AccountState(
            system=self.name,
            username=user,
            ref=f"{self.interface}:{user}",
            enabled=valid,
            entitlements=frozenset({VPN_ACCESS}) if valid else frozenset(),
            sessions=sessions,
            credentials=credentials,
        )

    def _snapshot(
        self, only: str | None = None
    ) -> tuple[dict[str, set[str]], set[str], dict[str, str], dict[str, str]]:
        """Whose keys are which, the saved keys, handshakes and endpoints.

        A key saved or live that no one is tied to is listed under its own
        name (`unattributed`): left out, a live peer would belong to nobody.
        """
        text = self._config()
        peers = self._peers(text)
        mapping = self._mapping(text, peers, only)
        saved = {p.public_key for p in peers}
        live, endpoints = self._table("latest-handshakes"), self._table("endpoints")
        tied = set().union(*mapping.values())
        for key in (saved | set(live)) - tied:
            if wgconf.KEY.fullmatch(key):  # any other value makes wg refuse the file: no peer
                mapping[unattributed(key)] = {key}
        return mapping, saved, live, endpoints

    # base and reading ---------------------------------------------------------

    def check(self) -> str:
        with translate("check", self.name):
            _, saved, live, _ = self._snapshot()
        return (
            f"WireGuard {self.interface}: {len(live)} live peer(s), {len(saved)} saved in {self.config_path}"
        )

    def read_account(self, username: str) -> AccountState | None:
        user = check_username(username, self.name)
        with translate(f"read {user}", self.name):
            mapping, saved, live, endpoints = self._snapshot(user)
        keys = mapping.get(user.casefold())
        return self._state(user, keys, saved, live, endpoints) if keys else None

    def iter_accounts(self) -> Iterator[AccountState]:
        with translate("list accounts", self.name):
            mapping, saved, live, endpoints = self._snapshot()
        for user in sorted(mapping):
            yield self._state(user, mapping[user], saved, live, endpoints)

    # changing -----------------------------------------------------------------

    def grant(self, username: str, entitlement: Entitlement) -> Result:
        """Add a peer with a new key pair and the next free address; write the client's 0600 config."""
        user = check_username(username, self.name)
        _only_vpn_access(entitlement)
        s = self.settings
        if s.profile_dir is None or s.address_pool is None or s.endpoint is None:
            raise errors.Unsupported(
                "granting WireGuard access needs profile_dir, address_pool and endpoint settings",
                system=self.name,
            )
        with self._lock, translate(f"grant vpn:access to {user}", self.name):
            mapping, saved, live, _ = self._snapshot(user)
            if any(k in saved or k in live for k in mapping.get(user.casefold(), ())):
                return Result(Outcome.UNCHANGED, "a peer is configured")
            address = self._free_address(s.address_pool)
            private = self._wg("genkey", what="generate a key").strip()
            public = self._wg("pubkey", what="derive a public key", stdin=private + "\n").strip()
            server_key = self._wg("show", self.interface, "public-key", what="read the server key").strip()
            profile = Path(s.profile_dir)
            profile.mkdir(mode=0o700, parents=True, exist_ok=True)
            path = profile / f"{user}.conf"
            client = [
                "[Interface]",
                f"PrivateKey = {private}",
                f"Address = {address}",
                *s.profile_extra,
                "",
                "[Peer]",
                f"PublicKey = {server_key}",
                f"Endpoint = {s.endpoint}",
                f"AllowedIPs = {ipaddress.ip_network(s.address_pool, strict=False)}",
                "PersistentKeepalive = 25",
            ]
            replace_file(path, ("\n".join(client) + "\n").encode(), mode=0o600)
            self._wg(
                "set", self.interface, "peer", public, "allowed-ips", address, what=f"add the peer of {user}"
            )
            text = wgconf.add_peer(self._config(), user, public, address, self.comment_key)
            replace_file(self.config_path, text.encode(), mode=None)
        return Result(Outcome.UPDATED, f"peer {public} at {address} added; client config {path}")

    def revoke(self, username: str, entitlement: Entitlement) -> Result:
        """Remove every peer of the person, live and saved."""
        user = check_username(username, self.name)
        _only_vpn_access(entitlement)
        with self._lock, translate(f"revoke vpn:access of {user}", self.name):
            keys = self._snapshot(user)[0].get(user.casefold())
            if not keys:
                return Result(Outcome.ABSENT, f"no peer for {user}")
            removed = self._remove(user, keys)
        return Result(Outcome.UPDATED if removed else Outcome.UNCHANGED, f"{removed} peer(s) removed")

    def revoke_credential(self, username: str, credential_id: str) -> Result:
        """Remove one peer from the interface and from the saved configuration."""
        user = check_username(username, self.name)
        if not wgconf.KEY.fullmatch(credential_id):
            raise errors.InvalidAttribute(
                f"{credential_id!r} is not a WireGuard public key", system=self.name
            )
        with self._lock, translate(f"remove peer {credential_id} of {user}", self.name):
            if credential_id not in self._snapshot(user)[0].get(user.casefold(), set()):
                return Result(Outcome.ABSENT, f"{user} has no peer {credential_id}")
            removed = self._remove(user, {credential_id})
        return Result(Outcome.UPDATED if removed else Outcome.UNCHANGED, f"peer {credential_id} removed")

    def termination_steps(self, state: AccountState) -> list[StepSpec]:
        """One removal per peer; the tunnel dies with it, so there is no session step."""
        return [
            StepSpec(Op.REVOKE_CREDENTIAL, c.id, f"remove peer {c.id} (live and saved)")
            for c in state.credentials
            if c.active
        ]

    # helpers ------------------------------------------------------------------

    def _remove(self, user: str, keys: set[str]) -> int:
        """Remove ``keys`` live and from the file, then read both back; return how many places changed."""
        live = set(self._table("latest-handshakes"))
        changed = 0
        for key in sorted(keys & live):
            self._wg("set", self.interface, "peer", key, "remove", what=f"remove peer {key}")
            changed += 1
        when = self.clock().strftime("%Y-%m-%dT%H:%M:%SZ")
        text, dropped = wgconf.remove_peers(self._config(), keys, self.comment_key, (user, when))
        if dropped:
            replace_file(self.config_path, text.encode(), mode=None)
            changed += dropped
        left_live = keys & set(self._table("latest-handshakes"))
        left_saved = keys & {p.public_key for p in self._peers(self._config())}
        if left_live or left_saved:
            raise errors.PermanentError(
                f"peers still present after removal: {', '.join(sorted(left_live | left_saved))}",
                system=self.name,
            )
        return changed

    def _free_address(self, pool: str) -> str:
        network = ipaddress.ip_network(pool, strict=False)
        text = self._config()
        used = {
            ipaddress.ip_interface(value).ip
            for value in [ip for p in self._peers(text) for ip in p.allowed_ips]
            + wgconf.interface_addresses(text)
            + [ip for v in self._table("allowed-ips").values() for ip in v.split() if "/" in ip]
        }
        hosts = iter(network.hosts())
        next(hosts, None)  # the first address is the server's
        for host in hosts:
            if host not in used:
                return f"{host}/{network.max_prefixlen}"
        raise errors.PermanentError(f"no free address left in {pool}", system=self.name)


class _PeersLoader(yaml.SafeLoader):
    """YAML with every username as written.

    YAML 1.1 reads the key ``0123`` as 83, ``no`` as False and ``1_000`` as
    1000, and keeps only the last of a key given twice: each would hide live
    peers from the person they belong to.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[str] = set()
        for key, _ in node.value:
            if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                key.tag = "tag:yaml.org,2002:str"
                if key.value in seen:
                    raise yaml.constructor.ConstructorError(
                        problem=f"{key.value!r} is listed twice", problem_mark=key.start_mark
                    )
                seen.add(key.value)
        return super().construct_mapping(node, deep)


def _only_vpn_access(entitlement: Entitlement) -> None:
    if entitlement != VPN_ACCESS:
        raise errors.Unsupported(f"WireGuard grants only {VPN_ACCESS}, not {entitlement}")
