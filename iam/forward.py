"""A copy of every audit record where the iam host cannot rewrite it: syslog over TCP, with TLS.

Each record goes out as it is appended, as one RFC 5424 message (its MSG the
record's canonical JSON, its MSGID the event), framed by octet counting
(RFC 6587) over TCP, or TLS when configured: the usual way into a SIEM. A
syslog server that does not answer never stops a termination: what could
not be sent waits (the store keeps how far the copy got) and goes later,
in order.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterable
from typing import Any

from pydantic import Field

from iam.chain import canonical
from iam.documents import Document

#: RFC 5424 severities: a change of access is a notice, everything else information.
NOTICE, INFO = 5, 6


class SyslogSettings(Document):
    """Where the off-box copy of the audit log goes."""

    host: str = Field(min_length=1, description="the syslog server (rsyslog, syslog-ng, a SIEM's collector)")
    port: int = Field(
        default=6514, ge=1, le=65535, description="6514 is syslog over TLS; plain TCP is often 514"
    )
    tls: bool = Field(default=True, description="TLS to the server; false only for a lab")
    ca_file: str | None = Field(default=None, description="CA bundle that issued the server's certificate")
    tls_verify: bool = Field(default=True, description="check the server's certificate; false only by name")
    facility: int = Field(default=10, ge=0, le=23, description="10 is authpriv")
    app_name: str = Field(default="iam", pattern="^[!-~]{1,48}$")
    timeout: float = Field(default=5, gt=0, le=60, description="seconds to connect and to send")


class Forwarder:
    """Sends records to the configured syslog server; raises OSError when it cannot."""

    def __init__(self, settings: SyslogSettings, hostname: str | None = None) -> None:
        self.settings = settings
        self.hostname = (hostname or socket.gethostname() or "-")[:255]

    def send(self, records: Iterable[dict[str, Any]]) -> None:
        """One connection, every record in order; an error (the server down, TLS refused) raises."""
        s = self.settings
        with socket.create_connection((s.host, s.port), timeout=s.timeout) as raw:
            stream: socket.socket = raw
            if s.tls:
                context = ssl.create_default_context(cafile=s.ca_file)
                if not s.tls_verify:
                    context.check_hostname = False
                    context.verify_mode = ssl.CERT_NONE
                stream = context.wrap_socket(raw, server_hostname=s.host)
            try:
                for record in records:
                    message = self.message(record)
                    stream.sendall(str(len(message)).encode() + b" " + message)
            finally:
                if stream is not raw:
                    stream.close()

    def message(self, record: dict[str, Any]) -> bytes:
        """One RFC 5424 message: PRI, version, time, host, app, procid, msgid, no structured data, MSG."""
        severity = NOTICE if record.get("event") == "access.changed" else INFO
        pri = self.settings.facility * 8 + severity
        msgid = "".join(c for c in str(record.get("event", "-")) if "!" <= c <= "~")[:32] or "-"
        when = str(record.get("at") or "-")
        header = f"<{pri}>1 {when} {self.hostname} {self.settings.app_name} - {msgid} - "
        return header.encode() + canonical(record).encode()
