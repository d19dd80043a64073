"""OpenAccess over httpx: the session token, and the one place errors become iam's.

Every call carries ``Application-Id`` and, except the unauthenticated ones,
``Session-Token`` from ``POST /authentication``. Tokens expire (idle timeout,
server restart), so a session refused mid-run is normal: the call logs in
again once and is repeated once. That is the only repetition here; every
other failure leaves as an `iam.errors` type for the engine's retry policy.
The password is revealed only into the login body, the token is registered
as a secret, and messages are built from names, statuses and error codes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import httpx
from iam.connectors import http
from iam.connectors.http import Refused

from iam import errors
from iam.secrets import Secret, register

if TYPE_CHECKING:
    from iam.connectors.badge.lenel import LenelSettings

API_VERSION = "1.0"
AUTHENTICATION = "/authentication"


def _reveal(value: str | Secret) -> str:
    return value.reveal() if isinstance(value, Secret) else value


class OpenAccessSession(http.HttpSession):
    """One logged-in OpenAccess client per connector; one call at a time."""

    def __init__(
        self,
        system: str,
        settings: LenelSettings,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        super().__init__(
            system,
            settings.url,
            settings.timeout,
            ca_file=settings.ca_file,
            verify_tls=settings.verify_tls,
            transport=transport,
        )
        self.username: str = settings.username
        self._password: Secret = settings.password
        self._application_id: str | Secret = settings.application_id
        self.directory_id: str | None = settings.directory_id
        self._token: str | None = None

    # the boundary ---------------------------------------------------------------------------------

    @contextmanager
    def boundary(self, what: str, *, login: bool = False) -> Iterator[None]:
        """httpx's errors and OpenAccess's refusals, as iam's, named for ``what``."""
        try:
            with http.transport_errors(what, self.url, self.timeout, self.system):
                yield
        except Refused as exc:
            raise self._translate(exc, what, login) from None

    def _translate(self, exc: Refused, what: str, login: bool) -> errors.ConnectorError:
        said = exc.said()
        if exc.status == 429:
            message = f"{what}: OpenAccess asked to slow down ({said})"
            return errors.RateLimited(message, retry_after=exc.retry_seconds(), system=self.system)
        if exc.status >= 500:
            return self._error(errors.TransientError, f"{what}: OpenAccess failed ({said})")
        if login and exc.status in (400, 401, 403):
            return self._error(
                errors.AuthenticationFailed,
                f"{what}: OpenAccess refused the login of user {self.username} or the application id "
                f"({said}); check the configured password and application_id",
            )
        if exc.status == 401:
            return self._error(
                errors.AuthenticationFailed, f"{what}: OpenAccess refused a fresh session token ({said})"
            )
        if exc.status == 403:
            return self._error(
                errors.PermissionDenied,
                f"{what}: forbidden ({said}); OnGuard user {self.username} needs the permission for this",
            )
        if exc.status == 404:
            return self._error(errors.NoSuchObject, f"{what}: not found ({said})")
        if exc.status == 409:
            return self._error(errors.AlreadyExists, f"{what}: already exists ({said})")
        if exc.status in (400, 422):
            return self._error(errors.InvalidAttribute, f"{what}: OpenAccess rejected the request ({said})")
        return self._error(
            errors.PermanentError, f"{what}: OpenAccess answered {said}; check url ({self.url})"
        )

    # calls ----------------------------------------------------------------------------------------

    def call(
        self,
        what: str,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        authenticated: bool = True,
    ) -> dict[str, Any]:
        """One API call's JSON answer; logs in first if needed, and once more if the session lapsed."""
        with self._lock, self.boundary(what):
            if not authenticated:
                return _checked(self._send(method, path, params, body, token=None))
            fresh = self._token is None
            response = self._send(method, path, params, body, token=self._login() if fresh else self._token)
            if not fresh and _session_refused(response):
                response = self._send(method, path, params, body, token=self._login())
            return _checked(response)

    def _login(self) -> str:
        self._token = None
        body: dict[str, str] = {"user_name": self.username, "password": self._password.reveal()}
        if self.directory_id:
            body["directory_id"] = self.directory_id
        with self.boundary(f"log in as {self.username}", login=True):
            answer = _checked(self._send("POST", AUTHENTICATION, None, body, token=None))
        token = answer.get("session_token")
        if not isinstance(token, str) or not token:
            raise self._error(errors.PermanentError, "OpenAccess answered a login without a session token")
        register(token)
        self._token = token
        return token

    def _send(
        self, method: str, path: str, params: Mapping[str, Any] | None, body: Any, token: str | None
    ) -> httpx.Response:
        headers = {"Application-Id": _reveal(self._application_id), "Accept": "application/json"}
        if token:
            headers["Session-Token"] = token
        query = {"version": API_VERSION, **(params or {})}
        return self._http().request(method, self.url + path, params=query, json=body, headers=headers)

    def close(self) -> None:
        """Log out (best effort: the token expires anyway) and drop the connection; reusable after."""
        with self._lock:
            if self._token is not None and self._client is not None:
                try:
                    with self.boundary("log out"):
                        _checked(self._send("DELETE", AUTHENTICATION, None, None, token=self._token))
                except errors.ConnectorError:
                    pass
            self._token = None
            super().close()


def _session_refused(response: httpx.Response) -> bool:
    """401, or an answer whose error code speaks of the session (servers differ in the status)."""
    if response.status_code == 401:
        return True
    return response.status_code >= 400 and "session" in _error(response)[0].lower()


def _checked(response: httpx.Response) -> dict[str, Any]:
    return http.json_object(response, _error)


def _error(response: httpx.Response) -> tuple[str, str]:
    """OpenAccess's ``{"error": {"code", "message"}}``, or nothing usable."""
    return http.nested_error(response, "code")
