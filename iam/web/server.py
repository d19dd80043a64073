"""Running the application under uvicorn, in a thread of this process.

Uvicorn runs with h11, the strict pure-Python HTTP/1.1 parser: a negative
or non-numeric ``Content-Length`` is answered 400 and the connection closed
before any application code runs. The socket is bound here (port 0 picks a
free one) and listening before `serve_forever` starts, so a caller may
connect as soon as the object exists.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import threading
from collections.abc import Callable
from datetime import UTC, datetime

import uvicorn

from iam.runtime import Runtime
from iam.web.app import create_app


class WebServer:
    """`iam serve`'s server: ``serve_forever`` blocks; ``shutdown`` (from any thread) stops it gracefully."""

    def __init__(
        self, address: tuple[str, int], rt: Runtime, clock: Callable[[], datetime] | None = None
    ) -> None:
        self.rt = rt
        self.clock = clock or (lambda: datetime.now(UTC))
        app = create_app(rt, self.clock)
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.socket = socket.socket(family, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(address)
        self.socket.listen(128)
        self.server_address = self.socket.getsockname()
        config = uvicorn.Config(
            app,
            http="h11",
            lifespan="off",
            log_config=None,
            access_log=False,  # requests that matter are in the audit log
            server_header=False,
            proxy_headers=False,  # the client address audited is the peer's, not a header's claim
        )
        self.uvicorn = uvicorn.Server(config)
        self._done = threading.Event()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def serve_forever(self, poll_interval: float = 0.1) -> None:
        """Serve until `shutdown`; requests in hand are finished first. (``poll_interval`` is unused.)"""
        self._done.clear()
        try:
            asyncio.run(self.uvicorn.serve(sockets=[self.socket]))
        finally:
            self._done.set()

    def shutdown(self) -> None:
        """Ask the server to stop and wait until it has."""
        self.uvicorn.should_exit = True
        self._done.wait()

    def server_close(self) -> None:
        self.socket.close()


def serve(
    rt: Runtime,
    host: str,
    port: int,
    clock: Callable[[], datetime] | None = None,
    ready: Callable[[WebServer], None] | None = None,
) -> None:
    """Serve until SIGINT or SIGTERM, then finish the requests in hand and stop.

    Uvicorn runs in a thread of its own so that these signals stay with this
    function (uvicorn, in the main thread, would raise them again once stopped
    and the process would not exit 0).
    """
    server = WebServer((host, port), rt, clock)

    def shutdown(*_args: object) -> None:
        server.uvicorn.should_exit = True

    previous = {sig: signal.signal(sig, shutdown) for sig in (signal.SIGINT, signal.SIGTERM)}
    worker = threading.Thread(target=server.serve_forever, name="iam-serve", daemon=True)
    try:
        worker.start()
        if ready:
            ready(server)
        while worker.is_alive():
            worker.join(timeout=0.2)  # wakes so that a signal is handled
    finally:
        server.uvicorn.should_exit = True
        worker.join()
        server.server_close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
