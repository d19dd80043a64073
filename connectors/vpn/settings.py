"""The VPN systems' settings: one model each, checked the same from a file or from code.

A bad setting fails with `ConfigError` before any tool runs; a path or a
profile line can never smuggle a second line into a command or a file.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal, cast

from pydantic import Field, JsonValue, StringConstraints, model_validator

from iam.documents import Document, check_dependencies, invalid
from iam.errors import ConfigError
from iam.secrets import SecretSetting
from iam.settings import ConnectorSettings

#: One line of text: no line break or NUL can reach a profile or a command.
Line = Annotated[str, StringConstraints(pattern="^[^\\r\\n\\x00]*$")]
#: A path (or a command), one line long.
PathSetting = Annotated[str, StringConstraints(min_length=1, pattern="^[^\\r\\n\\x00]*$")]
Port = Annotated[int, Field(ge=1, le=65535)]
Seconds = Annotated[float, Field(gt=0)]


class ManagementAddress(Document):
    """OpenVPN's management interface over TCP: on loopback only (the protocol is clear text)."""

    host: str = Field(min_length=1)
    port: Port


#: A setting that needs others (JSON Schema's dependentRequired), for the check and the schema alike.
OPENVPN_NEEDS = {"profile_dir": ["remote"]}
WIREGUARD_NEEDS = {"profile_dir": ["address_pool", "endpoint"]}


class OpenVpnSettings(ConnectorSettings):
    """An OpenVPN server with an easy-rsa 3 PKI and its management interface."""

    model_config = {"json_schema_extra": {"dependentRequired": cast(JsonValue, OPENVPN_NEEDS)}}

    easyrsa: PathSetting = "/usr/share/easy-rsa/easyrsa"
    openssl: PathSetting = "openssl"
    pki_dir: PathSetting = Field(description="the easy-rsa 3 PKI (holds index.txt, issued/, private/)")
    crl_path: PathSetting = Field(description="the file the server's crl-verify reads; replaced atomically")
    management: PathSetting | ManagementAddress = Field(
        description="OpenVPN's management interface: a unix socket path, or host/port on loopback"
    )
    management_password: SecretSetting | None = None
    ca_passphrase: SecretSetting | None = None
    key_algo: Literal["rsa", "ec", "ed"] | None = Field(
        default=None, description="EASYRSA_ALGO for new client keys"
    )
    cert_days: int | None = Field(default=None, ge=1, description="EASYRSA_CERT_EXPIRE")
    crl_days: int | None = Field(
        default=None, ge=1, description="EASYRSA_CRL_DAYS: how long a new CRL is valid"
    )
    crl_renew_days: int = Field(
        default=30,
        ge=1,
        description="run-due renews the CRL when it expires within this many days (< crl_days)",
    )
    server_names: list[str] = Field(
        default=["server"], description="certificate CNs that are servers, not people"
    )
    profile_dir: PathSetting | None = Field(
        default=None, description="where client profiles (.ovpn, mode 0600) are written; needs remote"
    )
    remote: PathSetting | None = Field(default=None, description="the server's host name as clients reach it")
    port: Port = 1194
    proto: Literal["udp", "tcp-client", "udp4", "udp6", "tcp4-client", "tcp6-client"] = "udp"
    dev: Literal["tun", "tap"] = "tun"
    ca: PathSetting | None = Field(
        default=None, description="CA certificate put into profiles; default <pki_dir>/ca.crt"
    )
    profile_extra: list[Line] = Field(default=[], description="extra directives for profiles")
    timeout: Seconds = Field(default=10, description="seconds per management exchange")
    command_timeout: Seconds = Field(default=120, description="seconds per easy-rsa/openssl run")

    @model_validator(mode="after")
    def _consistent(self) -> OpenVpnSettings:
        check_dependencies(self, OPENVPN_NEEDS)
        if self.crl_days is not None and self.crl_days <= self.crl_renew_days:
            raise invalid(
                "crl_renew_days",
                f"{self.crl_renew_days} is not less than crl_days ({self.crl_days}): every new CRL "
                "would be due at once; lower crl_renew_days",
            )
        return self


class WireGuardSettings(ConnectorSettings):
    """One WireGuard interface and its saved configuration."""

    model_config = {"json_schema_extra": {"dependentRequired": cast(JsonValue, WIREGUARD_NEEDS)}}

    interface: str = Field(pattern="^[A-Za-z0-9_.=+-]{1,15}$")
    config_path: PathSetting = Field(description="the saved configuration (wg-quick or wg format)")
    wg: PathSetting = "wg"
    netns: str | None = Field(
        default=None,
        pattern="^[A-Za-z0-9_.-]{1,64}$",
        description="run wg inside this network namespace (ip netns exec)",
    )
    comment_key: str = Field(
        default="user",
        pattern="^[A-Za-z0-9_-]{1,32}$",
        description="peers are named by a comment '# <key> = <username>' in their [Peer] block",
    )
    peers_file: PathSetting | None = Field(
        default=None, description="YAML/JSON mapping username -> [public keys], read too"
    )
    address_pool: str | None = Field(default=None, description="CIDR from which new peers get an address")
    endpoint: PathSetting | None = Field(default=None, description="host:port clients connect to")
    profile_dir: PathSetting | None = Field(
        default=None,
        description="where client configurations (mode 0600) are written; needs address_pool and endpoint",
    )
    profile_extra: list[Line] = Field(default=[], description="extra lines for [Interface]")
    live_seconds: int = Field(
        default=180,
        ge=1,
        description="a handshake younger than this is a live session (WireGuard rekeys every 120 s)",
    )
    timeout: Seconds = 10

    @model_validator(mode="after")
    def _profiles_need_a_pool_and_an_endpoint(self) -> WireGuardSettings:
        check_dependencies(self, WIREGUARD_NEEDS)
        return self


def loopback(system: str, host: str) -> str:
    """Refuse a management address off loopback: the protocol is clear text."""
    if host == "localhost":
        return host
    try:
        if ipaddress.ip_address(host).is_loopback:
            return host
    except ValueError:
        pass
    raise ConfigError(
        f"systems.{system}.management.host: {host!r} is not a loopback address; the management "
        "protocol is clear text, so use a unix socket or 127.0.0.1"
    )
