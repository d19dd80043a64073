"""The web side of `iam serve`: one ASGI application (Starlette) under uvicorn.

It holds the HR endpoint (`iam.web.hr`), health and Prometheus metrics
(`iam.web.metrics`). Like the rest of the core it imports no connector, no lab
and no test; `iam.cli` imports it only inside `iam serve`, so the web stack
costs nothing to the other commands.
"""

from __future__ import annotations

from iam.web.app import create_app
from iam.web.server import WebServer, serve

__all__ = ["WebServer", "create_app", "serve"]
