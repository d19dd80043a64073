"""The ASGI application of `iam serve`: routes, and JSON answers for what no route takes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from iam.runtime import Runtime
from iam.web.hr import EventsEndpoint, json_reply
from iam.web.metrics import MetricsEndpoint


async def healthz(request: Request) -> Response:
    """Alive and answering: for a load balancer or an orchestrator's probe."""
    return json_reply(200, {"ok": True})


async def _http_error(request: Request, exc: Exception) -> Response:
    code = exc.status_code if isinstance(exc, HTTPException) else 500
    return json_reply(code, {"error": "not found" if code == 404 else "method not allowed"})


def create_app(rt: Runtime, clock: Callable[[], datetime]) -> Starlette:
    """The whole application, bound to one runtime (its store, connectors and audit log)."""
    routes = [
        Route("/events", EventsEndpoint(rt, clock).endpoint, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", MetricsEndpoint(rt.store, clock).endpoint, methods=["GET"]),
    ]
    return Starlette(routes=routes, exception_handlers={404: _http_error, 405: _http_error})
