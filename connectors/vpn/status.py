"""Connected clients from the management ``status 3`` reply.

``status 3`` is tab separated (a CN may hold commas), and each table names
its columns in a ``HEADER`` line, so columns are found by name rather than
position. After a ``kill`` OpenVPN may list the instance for a few seconds
more with no virtual address: only rows with a virtual address are live
tunnels.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class ClientRow:
    """One ``CLIENT_LIST`` row."""

    common_name: str
    real_address: str
    virtual_address: str
    virtual_ipv6: str = ""
    connected_since: str = ""
    client_id: str = ""

    @property
    def live(self) -> bool:
        """A tunnel is up only once the server has given it a virtual address."""
        return bool(self.virtual_address or self.virtual_ipv6)


# Column order of OpenVPN 2.4-2.6, used only if a reply has no HEADER line.
_DEFAULT_COLUMNS = [
    "Common Name",
    "Real Address",
    "Virtual Address",
    "Virtual IPv6 Address",
    "Bytes Received",
    "Bytes Sent",
    "Connected Since",
    "Connected Since (time_t)",
    "Username",
    "Client ID",
    "Peer ID",
]


def parse_status3(lines: Iterable[str]) -> list[ClientRow]:
    """Every ``CLIENT_LIST`` row of a ``status 3`` reply, live or not."""
    columns = _DEFAULT_COLUMNS
    rows: list[ClientRow] = []
    for line in lines:
        fields = line.split("\t")
        if fields[:2] == ["HEADER", "CLIENT_LIST"]:
            columns = fields[2:]
        elif fields[0] == "CLIENT_LIST":
            values = dict(zip(columns, fields[1:], strict=False))
            rows.append(
                ClientRow(
                    common_name=values.get("Common Name", ""),
                    real_address=values.get("Real Address", ""),
                    virtual_address=values.get("Virtual Address", ""),
                    virtual_ipv6=values.get("Virtual IPv6 Address", ""),
                    connected_since=values.get("Connected Since", ""),
                    client_id=values.get("Client ID", ""),
                )
            )
    return rows
