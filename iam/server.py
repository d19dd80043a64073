"""`iam serve`'s HR endpoint, under the names it had before the web console (`iam.web`).

``sign`` is what HR's client computes; ``EventServer`` runs the whole
application (see `iam.web.server`).
"""

from __future__ import annotations

from iam.web.hr import MAX_BODY, sign
from iam.web.server import WebServer as EventServer
from iam.web.server import serve

__all__ = ["MAX_BODY", "EventServer", "serve", "sign"]
