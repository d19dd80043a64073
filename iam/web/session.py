"""The console's session: who is signed in, their CSRF token, and when they were last seen.

The session lives in a signed cookie (Starlette's `SessionMiddleware`,
itsdangerous): Secure (unless turned off by name), HttpOnly, SameSite=Lax
(Strict would drop the cookie on the identity provider's redirect back).
`IdleTimeout` ends a session not used for ``web.idle_minutes``; every page
answers with a strict Content-Security-Policy (`SecurityHeaders`).
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: No inline script or style, nothing from another origin, no framing, forms post only here.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]


@dataclass(frozen=True)
class WebUser:
    """A signed-in person: their username (as HR knows it), display name and console roles."""

    username: str
    name: str
    roles: frozenset[str]

    @property
    def actor(self) -> str:
        """How the audit log names them (`iam.actor`)."""
        return f"web:{self.username}"


def sign_in(request: Request, user: WebUser, now: datetime) -> None:
    """Start a fresh session for ``user`` (a new CSRF token: nothing carried over from before)."""
    request.session.clear()
    request.session.update(
        {
            "user": user.username,
            "name": user.name,
            "roles": sorted(user.roles),
            "csrf": secrets.token_urlsafe(32),
            "seen": now.timestamp(),
        }
    )


def current_user(request: Request) -> WebUser | None:
    session = request.session
    if "user" not in session:
        return None
    return WebUser(session["user"], session.get("name", session["user"]), frozenset(session.get("roles", [])))


def csrf_token(request: Request) -> str:
    """The session's CSRF token (one is made for a visitor not signed in yet, for the sign-in form)."""
    if "csrf" not in request.session:
        request.session["csrf"] = secrets.token_urlsafe(32)
    token: str = request.session["csrf"]
    return token


def csrf_ok(request: Request, form: Any) -> bool:
    """The form carries this session's token: a page of another site cannot post in the person's name."""
    sent = form.get("csrf")
    expected = request.session.get("csrf")
    return isinstance(sent, str) and isinstance(expected, str) and hmac.compare_digest(sent, expected)


class IdleTimeout:
    """Forget the signed-in person when their last request is older than ``idle_seconds``."""

    def __init__(self, app: ASGIApp, idle_seconds: int, clock: Callable[[], datetime]) -> None:
        self.app = app
        self.idle_seconds = idle_seconds
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and "session" in scope:
            session = scope["session"]
            now = self.clock().timestamp()
            if "user" in session:
                if now - float(session.get("seen", 0)) > self.idle_seconds:
                    session.clear()
                else:
                    session["seen"] = now
        await self.app(scope, receive, send)


class SecurityHeaders:
    """Add the CSP and its companions to every answer of the console."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                own = {name.lower() for name, _ in headers}  # a page may bring a stricter CSP of its own
                message["headers"] = headers + [h for h in SECURITY_HEADERS if h[0] not in own]
            await send(message)

        await self.app(scope, receive, send if scope["type"] != "http" else with_headers)
