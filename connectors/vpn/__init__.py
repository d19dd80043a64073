"""VPN access: OpenVPN (easy-rsa certificates, management interface) and WireGuard (peers)."""

from iam.connectors.vpn.names import InvalidUsername
from iam.connectors.vpn.openvpn import OpenVpnConnector
from iam.connectors.vpn.wireguard import WireGuardConnector

__all__ = ["InvalidUsername", "OpenVpnConnector", "WireGuardConnector"]
