"""What every HTTP connector (SCIM, OpenAccess, Seam) does alike at its boundary.

A refused answer is kept as `Refused` until the session translates it with
its own vocabulary; transport failures become iam's errors here, once, so a
TLS failure names ``ca_file`` and ``verify_tls`` the same way for every
system. Messages are built from URLs, statuses and the service's error code,
never from a credential.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from iam import errors
from iam.secrets import redact


class HttpSession:
    """One httpx client per connector, one call at a time (the lock); redirects are never followed."""

    def __init__(
        self,
        system: str,
        url: str,
        timeout: float,
        *,
        ca_file: str | None,
        verify_tls: bool | None,
        transport: httpx.BaseTransport | None,
    ) -> None:
        self.system = system
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._verify: bool | str = False if verify_tls is False else (ca_file or True)
        self._transport = transport
        self._client: httpx.Client | None = None
        self._lock = threading.RLock()

    def _http(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(
                verify=self._verify, timeout=self.timeout, transport=self._transport, follow_redirects=False
            )
        return self._client

    def _error(self, kind: type[errors.ConnectorError], message: str) -> errors.ConnectorError:
        return kind(message, system=self.system)

    def close(self) -> None:
        """Drop the connection; the session is reusable after."""
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None


class Refused(Exception):
    """An error answer: its status, the service's error code and message, and any ``Retry-After``."""

    def __init__(self, status: int, code: str, message: str, retry_after: str | None = None) -> None:
        super().__init__(f"{status} {code}")
        self.status, self.code, self.message, self.retry_after = status, code, message, retry_after

    def said(self) -> str:
        """``HTTP 409 uniqueness: <message>``, redacted, for an error message."""
        said = f"HTTP {self.status}" + (f" {self.code}" if self.code else "")
        return said + (f": {redact(self.message)}" if self.message else "")

    def retry_seconds(self) -> float | None:
        try:
            return float(self.retry_after) if self.retry_after is not None else None
        except ValueError:
            return None


ErrorParser = Callable[[httpx.Response], tuple[str, str]]


def json_object(response: httpx.Response, parse_error: ErrorParser) -> dict[str, Any]:
    """The answer's JSON object (empty for no content); `Refused` for an error or for any other body."""
    if response.status_code >= 300:  # redirects are not followed: a wrong url must say so
        code, message = parse_error(response)
        raise Refused(response.status_code, code, message, response.headers.get("Retry-After"))
    if not response.content:
        return {}
    try:
        data = response.json()
    except ValueError:
        raise Refused(502, "", "the answer is not JSON") from None
    if not isinstance(data, dict):
        raise Refused(502, "", "the answer is not a JSON object")
    return data


def nested_error(response: httpx.Response, code_key: str) -> tuple[str, str]:
    """``{"error": {code_key, "message"}}`` (OpenAccess, Seam), or nothing usable."""
    try:
        error = response.json().get("error") or {}
    except (ValueError, AttributeError):
        return "", ""
    if not isinstance(error, dict):
        return "", ""
    return str(error.get(code_key) or ""), str(error.get("message") or "")[:200]


@contextmanager
def transport_errors(what: str, where: str, timeout: float, system: str) -> Iterator[None]:
    """httpx's transport failures as iam's errors, named for ``what`` and the URL ``where``."""
    try:
        yield
    except httpx.TimeoutException:
        raise errors.ConnectTimeout(f"{what}: {where} did not answer in {timeout}s", system=system) from None
    except httpx.ConnectError as exc:
        if _is_tls(exc):
            raise errors.PermanentError(
                f"{what}: TLS to {where} failed ({_tls_reason(exc)}); set ca_file to trust the "
                "server's certificate, or verify_tls: false to turn checking off by name",
                system=system,
            ) from None
        raise errors.Unreachable(f"{what}: cannot connect to {where}", system=system) from None
    except httpx.TransportError as exc:
        raise errors.Unreachable(
            f"{what}: the connection to {where} failed ({type(exc).__name__})", system=system
        ) from None


def _tls_reason(exc: BaseException) -> str:
    """``certificate verify failed``, ``wrong version number`` (plain HTTP on the port), ..."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return str(getattr(seen, "reason", None) or type(seen).__name__).lower().replace("_", " ")
        seen = seen.__cause__ or seen.__context__
    return "handshake failed"


def _is_tls(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError) or "CERTIFICATE_VERIFY_FAILED" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
