"""The VPN systems' settings: JSON Schemas and the check the connectors repeat.

The core validates a configuration file against a connector's
``settings_schema`` and turns secret references into `Secret`s; a connector
built directly (tests, scripts) checks again here, with secrets masked, so a
bad setting fails with `ConfigError` before any tool runs.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

from iam.errors import ConfigError
from iam.secrets import SECRET_SCHEMA
from iam.settings import validate_settings

_LINE = {"type": "string", "pattern": "^[^\\r\\n\\x00]*$"}
_PATH = {"type": "string", "minLength": 1, "pattern": "^[^\\r\\n\\x00]*$"}
_TIMEOUT = {"type": "number", "exclusiveMinimum": 0}

OPENVPN_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["pki_dir", "crl_path", "management"],
    "properties": {
        "easyrsa": {**_PATH, "default": "/usr/share/easy-rsa/easyrsa"},
        "openssl": {**_PATH, "default": "openssl"},
        "pki_dir": {**_PATH, "description": "the easy-rsa 3 PKI (holds index.txt, issued/, private/)"},
        "crl_path": {**_PATH, "description": "the file the server's crl-verify reads; replaced atomically"},
        "management": {
            "description": "OpenVPN's management interface: a unix socket path, or host/port on loopback",
            "oneOf": [
                _PATH,
                {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["host", "port"],
                    "properties": {
                        "host": {"type": "string", "minLength": 1},
                        "port": {"type": "integer", "minimum": 1, "maximum": 65535},
                    },
                },
            ],
        },
        "management_password": SECRET_SCHEMA,
        "ca_passphrase": SECRET_SCHEMA,
        "key_algo": {"enum": ["rsa", "ec", "ed"], "description": "EASYRSA_ALGO for new client keys"},
        "cert_days": {"type": "integer", "minimum": 1, "description": "EASYRSA_CERT_EXPIRE"},
        "crl_days": {
            "type": "integer",
            "minimum": 1,
            "description": "EASYRSA_CRL_DAYS: how long a new CRL is valid",
        },
        "crl_renew_days": {
            "type": "integer",
            "minimum": 1,
            "default": 30,
            "description": "run-due renews the CRL when it expires within this many days (< crl_days)",
        },
        "server_names": {
            "type": "array",
            "items": {"type": "string"},
            "default": ["server"],
            "description": "certificate CNs that are servers, not people",
        },
        "profile_dir": {**_PATH, "description": "where client profiles (.ovpn, mode 0600) are written"},
        "remote": {**_PATH, "description": "the server's host name as clients reach it"},
        "port": {"type": "integer", "minimum": 1, "maximum": 65535, "default": 1194},
        "proto": {
            "enum": ["udp", "tcp-client", "udp4", "udp6", "tcp4-client", "tcp6-client"],
            "default": "udp",
        },
        "dev": {"enum": ["tun", "tap"], "default": "tun"},
        "ca": {**_PATH, "description": "CA certificate put into profiles; default <pki_dir>/ca.crt"},
        "profile_extra": {"type": "array", "items": _LINE, "description": "extra directives for profiles"},
        "timeout": {**_TIMEOUT, "default": 10, "description": "seconds per management exchange"},
        "command_timeout": {**_TIMEOUT, "default": 120, "description": "seconds per easy-rsa/openssl run"},
    },
    "dependentRequired": {"profile_dir": ["remote"]},
}

WIREGUARD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["interface", "config_path"],
    "properties": {
        "interface": {"type": "string", "pattern": "^[A-Za-z0-9_.=+-]{1,15}$"},
        "config_path": {**_PATH, "description": "the saved configuration (wg-quick or wg format)"},
        "wg": {**_PATH, "default": "wg"},
        "netns": {
            "type": "string",
            "pattern": "^[A-Za-z0-9_.-]{1,64}$",
            "description": "run wg inside this network namespace (ip netns exec)",
        },
        "comment_key": {
            "type": "string",
            "pattern": "^[A-Za-z0-9_-]{1,32}$",
            "default": "user",
            "description": "peers are named by a comment '# <key> = <username>' in their [Peer] block",
        },
        "peers_file": {**_PATH, "description": "YAML/JSON mapping username -> [public keys], read too"},
        "address_pool": {"type": "string", "description": "CIDR from which new peers get an address"},
        "endpoint": {**_PATH, "description": "host:port clients connect to"},
        "profile_dir": {**_PATH, "description": "where client configurations (mode 0600) are written"},
        "profile_extra": {"type": "array", "items": _LINE, "description": "extra lines for [Interface]"},
        "live_seconds": {
            "type": "integer",
            "minimum": 1,
            "default": 180,
            "description": "a handshake younger than this is a live session (WireGuard rekeys every 120 s)",
        },
        "timeout": {**_TIMEOUT, "default": 10},
    },
    "dependentRequired": {"profile_dir": ["address_pool", "endpoint"]},
}


def validated(system: str, settings: Mapping[str, Any], schema: Mapping[str, Any]) -> dict[str, Any]:
    """The settings with plain-string secrets wrapped in `Secret`; `ConfigError` if invalid."""
    return validate_settings(system, settings, schema)


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
