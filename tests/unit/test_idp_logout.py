"""Signing out at the provider (`iam.web.idp_logout`) with authlib's own client over real HTTP:
a provider that cannot be asked is said to be unreachable (the console then warns that its session
may still be open), one without an ``end_session_endpoint`` gives no URL, one with it gives the URL."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from authlib.integrations.starlette_client import OAuth

from iam.web.idp_logout import ProviderUnreachable, end_session_url


def client(issuer: str) -> Any:
    oauth = OAuth()
    oauth.register(
        name="idp",
        server_metadata_url=issuer + "/.well-known/openid-configuration",
        client_id="iam-console",
        client_secret="not-used-here",
    )
    return oauth.idp


@pytest.fixture
def provider() -> Iterator[tuple[str, dict[str, Any]]]:
    """A discovery document served over HTTP; the test fills it."""
    document: dict[str, Any] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(document).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/realms/corp", document
    server.shutdown()
    server.server_close()


def test_a_provider_that_cannot_be_asked_is_unreachable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    with pytest.raises(ProviderUnreachable):
        asyncio.run(
            end_session_url(client(f"http://127.0.0.1:{closed}/realms/corp"), "id.token", "https://x/login")
        )


Provider = tuple[str, dict[str, Any]]


def test_a_provider_without_an_end_session_endpoint_gives_no_url(provider: Provider) -> None:
    issuer, document = provider
    document.update(issuer=issuer, authorization_endpoint=issuer + "/auth")
    assert asyncio.run(end_session_url(client(issuer), "id.token", "https://console/login")) is None


def test_the_end_session_url_carries_the_id_token_and_the_way_back(provider: Provider) -> None:
    issuer, document = provider
    document.update(issuer=issuer, end_session_endpoint=issuer + "/logout?ui_locales=en")
    url = asyncio.run(end_session_url(client(issuer), "id.token&x", "https://console/login"))
    assert url is not None and url.startswith(issuer + "/logout?ui_locales=en&")
    query = parse_qs(urlsplit(url).query)
    assert query["id_token_hint"] == ["id.token&x"]  # escaped, not split into two parameters
    assert query["post_logout_redirect_uri"] == ["https://console/login"]
