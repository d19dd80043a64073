"""VPN access: OpenVPN (easy-rsa certificates, management interface) and WireGuard (peers)."""

from connectors.vpn.names import InvalidUsername
from connectors.vpn.openvpn import OpenVpnConnector
from connectors.vpn.wireguard import WireGuardConnector

__all__ = ["InvalidUsername", "OpenVpnConnector", "WireGuardConnector"]
