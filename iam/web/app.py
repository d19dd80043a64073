"""The ASGI application of `iam serve`: routes, and JSON answers for what no route takes.

HR's endpoint is there when ``http`` is configured, the console when
``web`` is; health and metrics always.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from iam.errors import InputError
from iam.runtime import Runtime
from iam.web.hr import EventsEndpoint, json_reply
from iam.web.metrics import MetricsEndpoint
from iam.web.session import IdleTimeout, SecurityHeaders


async def healthz(request: Request) -> Response:
    """Alive and answering: for a load balancer or an orchestrator's probe."""
    return json_reply(200, {"ok": True})


async def _http_error(request: Request, exc: Exception) -> Response:
    code = exc.status_code if isinstance(exc, HTTPException) else 500
    return json_reply(code, {"error": "not found" if code == 404 else "method not allowed"})


def create_app(rt: Runtime, clock: Callable[[], datetime]) -> Starlette:
    """The whole application, bound to one runtime (its store, connectors and audit log)."""
    config = rt.config
    if config.http is None and config.web is None:
        raise InputError("`iam serve` needs http.hmac_secret (HR's endpoint) or a web section (the console)")
    work_lock = threading.Lock()  # connectors are driven by one request at a time
    routes: list[BaseRoute] = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", MetricsEndpoint(rt.store, clock).endpoint, methods=["GET"]),
    ]
    if config.http is not None:
        routes.append(Route("/events", EventsEndpoint(rt, clock, work_lock).endpoint, methods=["POST"]))
    middleware: list[Middleware] = []
    if config.web is not None:
        from iam.web.console import Console

        web = config.web
        routes += Console(rt, web, clock, work_lock).routes
        middleware = [
            Middleware(SecurityHeaders),
            Middleware(
                SessionMiddleware,
                secret_key=web.session_secret.reveal(),
                session_cookie="iam_session",
                max_age=web.idle_minutes * 60,
                same_site="lax",
                https_only=web.secure_cookies,
            ),
            Middleware(IdleTimeout, idle_seconds=web.idle_minutes * 60, clock=clock),
        ]
    return Starlette(
        routes=routes, middleware=middleware, exception_handlers={404: _http_error, 405: _http_error}
    )
