"""``POST /events``: HR's signed events.

Each request is signed: ``X-IAM-Timestamp`` (Unix seconds) and
``X-IAM-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>." + body>`` with
the shared secret. Unsigned, badly signed, stale (outside the allowed clock
skew) and replayed requests are refused before the body is parsed.

The body is read by the server only up to `MAX_BODY`: a longer one is
answered 413 and the connection is closed, so the rest of it is never read,
kept, or taken for a next request. Malformed lengths never reach this code:
the HTTP parser (h11) answers them 400 and closes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from iam import lifecycle
from iam.actor import acting
from iam.documents import not_utf8
from iam.errors import IamError, InputError
from iam.runtime import Runtime
from iam.secrets import redact_value

MAX_BODY = 5 * 1024 * 1024


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header value a client sends (also used by tests and docs)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def json_reply(code: int, body: dict[str, Any], close: bool = False) -> Response:
    """A JSON answer with secrets redacted; ``close`` ends the connection after it."""
    headers = {"Connection": "close"} if close else None
    data = json.dumps(redact_value(body), default=str)
    return Response(data, status_code=code, media_type="application/json", headers=headers)


class TooLarge(Exception):
    """The body is longer than `MAX_BODY`."""


async def read_body(request: Request, limit: int = MAX_BODY) -> bytes:
    """The whole body, refusing by its declared length first and by its real length as it comes."""
    declared = request.headers.get("content-length")
    if declared is not None and int(declared) > limit:  # h11 let only digits through
        raise TooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


@dataclass
class EventsEndpoint:
    """HR's endpoint, bound to one runtime; connectors are driven by one request at a time."""

    rt: Runtime
    clock: Callable[[], datetime]
    work_lock: threading.Lock = field(default_factory=threading.Lock)
    secret: str = field(init=False, repr=False)
    key_id: str = field(init=False)
    skew: int = field(init=False)

    def __post_init__(self) -> None:
        if self.rt.config.hmac_secret is None:
            raise InputError("`iam serve` needs http.hmac_secret in the configuration")
        self.secret = self.rt.config.hmac_secret.reveal()
        self.key_id = self.rt.config.http.key_id if self.rt.config.http else "hr"
        self.skew = self.rt.config.max_skew_seconds

    async def endpoint(self, request: Request) -> Response:
        try:
            body = await read_body(request)
        except TooLarge:
            return json_reply(413, {"error": "body too large"}, close=True)
        client = request.client.host if request.client else "unknown"
        headers = dict(request.headers)
        return await run_in_threadpool(self.handle, headers, body, client)

    def handle(self, headers: dict[str, str], body: bytes, client: str) -> Response:
        """Authenticate, then submit: blocking work, run off the event loop."""
        refusal = self.authenticate(headers, body)
        if refusal:
            code, why = refusal
            self.rt.audit.record("http.refused", reason=why, client=client)
            return json_reply(code, {"error": why})
        try:
            data = json.loads(body)
        except json.JSONDecodeError as exc:
            return json_reply(400, {"error": f"not valid JSON: {exc.msg} at line {exc.lineno}"})
        except UnicodeDecodeError as exc:  # a Latin-1 body: the sender's to fix, said as for a file
            return json_reply(400, {"error": f"{not_utf8(body, exc)}; send UTF-8 JSON"})
        try:
            who = f"hr:{self.key_id}"  # whoever holds the HR key acted: a leaver holds in its name
            with self.work_lock, acting(actor=who):
                report = lifecycle.submit(self.rt, data, f"http:{client}", self.clock(), actor=who)
        except IamError as exc:
            return json_reply(400, {"error": str(exc)})
        result = report.to_json()
        for event in result["events"]:
            event.pop("run", None)
        return json_reply(422 if report.rejected and not report.events else 202, result)

    def authenticate(self, headers: dict[str, str], body: bytes) -> tuple[int, str] | None:
        """None when the request is signed, fresh and new; else the status and why."""
        stamp = headers.get("x-iam-timestamp", "")
        signature = headers.get("x-iam-signature", "")
        if not stamp or not signature:
            return 401, "unsigned request: X-IAM-Timestamp and X-IAM-Signature are required"
        try:
            timestamp = int(stamp)
        except ValueError:
            return 401, "X-IAM-Timestamp must be Unix seconds"
        now = self.clock()
        if abs(now.timestamp() - timestamp) > self.skew:
            return 401, f"stale request: timestamp is more than {self.skew}s from now"
        # compare_digest raises on non-ASCII text: such a header is simply not our signature
        if not signature.isascii() or not hmac.compare_digest(signature, sign(self.secret, timestamp, body)):
            return 401, "bad signature"
        digest = hashlib.sha256(signature.encode()).hexdigest()
        window = now - timedelta(seconds=2 * self.skew)
        if not self.rt.store.first_sighting(digest, window):
            return 409, "replayed request: this signature was already used"
        return None
