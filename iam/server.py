"""`iam serve`: an authenticated HTTP endpoint for HR systems.

``POST /events`` takes the events document (schemas/events.schema.json).
Each request is signed: ``X-IAM-Timestamp`` (Unix seconds) and
``X-IAM-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>." + body>`` with
the shared secret. Unsigned, badly signed, stale (outside the allowed clock
skew) and replayed requests are refused before anything is read.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from iam import lifecycle
from iam.actor import acting
from iam.errors import IamError, InputError
from iam.runtime import Runtime
from iam.secrets import redact_value

MAX_BODY = 5 * 1024 * 1024


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header value a client sends (also used by tests and docs)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


class EventServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], rt: Runtime, clock: Callable[[], datetime]) -> None:
        if rt.config.hmac_secret is None:
            raise InputError("`iam serve` needs http.hmac_secret in the configuration")
        super().__init__(address, _Handler)
        self.rt = rt
        self.clock = clock
        self.secret = rt.config.hmac_secret.reveal()
        self.key_id = rt.config.http.key_id if rt.config.http else "hr"
        self.skew = rt.config.max_skew_seconds
        self.work_lock = threading.Lock()  # connectors are driven by one request at a time

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


class _Handler(BaseHTTPRequestHandler):
    server: EventServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # requests are recorded in the audit log instead

    def _reply(self, code: int, body: dict[str, Any]) -> None:
        data = json.dumps(redact_value(body), default=str).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/healthz":
            self._reply(200, {"ok": True})
        else:
            self._reply(404, {"error": "not found"})

    def do_POST(self) -> None:
        if self.path != "/events":
            self._reply(404, {"error": "not found"})
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._reply(413, {"error": "body too large"})
            return
        body = self.rfile.read(length)
        refusal = self._authenticate(body)
        if refusal:
            code, why = refusal
            self.server.rt.audit.record("http.refused", reason=why, client=self.client_address[0])
            self._reply(code, {"error": why})
            return
        try:
            data = json.loads(body)
        except json.JSONDecodeError as exc:
            self._reply(400, {"error": f"not valid JSON: {exc.msg} at line {exc.lineno}"})
            return
        try:
            source = f"http:{self.client_address[0]}"
            who = f"hr:{self.server.key_id}"  # whoever holds the HR key acted: a leaver holds in its name
            with self.server.work_lock, acting(actor=who):
                report = lifecycle.submit(self.server.rt, data, source, self.server.clock(), actor=who)
        except IamError as exc:
            self._reply(400, {"error": str(exc)})
            return
        result = report.to_json()
        for event in result["events"]:
            event.pop("run", None)
        self._reply(422 if report.rejected and not report.events else 202, result)

    def _authenticate(self, body: bytes) -> tuple[int, str] | None:
        stamp = self.headers.get("X-IAM-Timestamp", "")
        signature = self.headers.get("X-IAM-Signature", "")
        if not stamp or not signature:
            return 401, "unsigned request: X-IAM-Timestamp and X-IAM-Signature are required"
        try:
            timestamp = int(stamp)
        except ValueError:
            return 401, "X-IAM-Timestamp must be Unix seconds"
        now = self.server.clock()
        if abs(now.timestamp() - timestamp) > self.server.skew:
            return 401, f"stale request: timestamp is more than {self.server.skew}s from now"
        if not hmac.compare_digest(signature, sign(self.server.secret, timestamp, body)):
            return 401, "bad signature"
        digest = hashlib.sha256(signature.encode()).hexdigest()
        window = now - timedelta(seconds=2 * self.server.skew)
        if not self.server.rt.store.first_sighting(digest, window):
            return 409, "replayed request: this signature was already used"
        return None


def serve(
    rt: Runtime,
    host: str,
    port: int,
    clock: Callable[[], datetime] | None = None,
    ready: Callable[[EventServer], None] | None = None,
) -> None:
    """Serve until SIGINT or SIGTERM, then finish the request in hand and stop."""
    server = EventServer((host, port), rt, clock or (lambda: datetime.now(UTC)))
    stop = threading.Event()

    def shutdown(*_args: object) -> None:
        if not stop.is_set():
            stop.set()
            threading.Thread(target=server.shutdown, daemon=True).start()

    previous = {sig: signal.signal(sig, shutdown) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        if ready:
            ready(server)
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
