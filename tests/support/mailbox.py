"""Where notifications land in tests: a real SMTP server (aiosmtpd: STARTTLS required, then
AUTH LOGIN/PLAIN) and a local HTTP receiver of webhook POSTs. Both keep what they received."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import threading
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

USER, PASSWORD = "iam-mailer", "smtp-Secret-4711"


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key; the certificate is also the CA file to trust."""
    cert, key = directory / "smtp.crt", directory / "smtp.key"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"),
            *("-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1"),
            *("-addext", "subjectAltName=IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@dataclass
class Mailbox:
    """Every message the server accepted, and every login it refused."""

    messages: list[Message] = field(default_factory=list)
    refused_logins: int = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.original_content or envelope.content)
        message["X-Envelope-To"] = ", ".join(envelope.rcpt_tos)
        self.messages.append(message)
        return "250 OK"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            USER.encode(),
            PASSWORD.encode(),
        )
        if not ok:
            self.refused_logins += 1
        return AuthResult(success=ok, handled=False)

    def to(self, address: str) -> list[Message]:
        return [m for m in self.messages if m["To"] == address]


class SmtpServer:
    """aiosmtpd on a free loopback port: STARTTLS required before AUTH, AUTH required before mail."""

    def __init__(self, directory: Path) -> None:
        self.ca_file, key = self_signed(directory)
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(self.ca_file, key)
        self.mailbox = Mailbox()
        self.controller = self._controller(_free_port())

    def _controller(self, port: int) -> Controller:
        return Controller(
            self.mailbox,
            hostname="127.0.0.1",
            port=port,
            tls_context=self.context,
            require_starttls=True,
            authenticator=self.mailbox.authenticate,
            auth_required=True,
        )

    def restart(self) -> None:
        """Up again on the same port, with the same mailbox, after `stop` (a controller starts once)."""
        self.controller = self._controller(self.port)
        self.controller.start()

    @property
    def port(self) -> int:
        return int(self.controller.port)

    def start(self) -> None:
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class WebhookReceiver:
    """A local HTTP endpoint that keeps each JSON body POSTed to it and answers `status` (200)."""

    def __init__(self) -> None:
        received: list[dict[str, Any]] = []
        self.received = received
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                received.append({"path": self.path, "body": json.loads(self.rfile.read(length))})
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/it-token-123"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
