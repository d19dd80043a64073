"""The web side of `iam serve`: one ASGI application (Starlette) under uvicorn.

`iam.web.app` holds the routes: HR's endpoint (`iam.web.hr`), health and
Prometheus metrics (`iam.web.metrics`) and, when ``web`` is configured
(`iam.web.settings`), the console (`iam.web.console`). Like the rest of the
core it imports no connector, no lab and no test. Nothing is imported here:
the configuration reads `iam.web.settings` on every command, and the web
stack loads only inside `iam serve` (`iam.web.server`).
"""
