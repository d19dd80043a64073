"""python-keycloak's admin client, set up for iam, and the one place its errors become iam's.

python-keycloak renews the admin token itself: ahead of time at 90% of its
lifetime (by the wall clock), and again when the server answers 401, after
which it repeats the call once; a refused refresh falls back to a new grant.
That is what keeps a sweep longer than master's 60 s token alive. Three
things are changed, by subclassing its connection rather than patching it:

- no retries below us: ``max_retries=0`` for admin *and* token requests
  (python-keycloak builds its token client with urllib3's default of one
  retry, which also sleeps out a 429's ``Retry-After``); the engine retries;
- secrets are revealed only for the token request that sends them, and any
  refused refresh (also "Stale token", which python-keycloak does not list)
  falls back to a fresh grant once;
- the last response is kept, because python-keycloak's errors carry only the
  status and body, and a 429's ``Retry-After`` is a header.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import requests
from iam.connectors.keycloak.settings import KeycloakSettings
from keycloak import KeycloakAdmin, KeycloakOpenID, KeycloakOpenIDConnection
from keycloak.connection import ConnectionManager
from keycloak.exceptions import KeycloakConnectionError, KeycloakError, KeycloakPostError

from iam import errors
from iam.secrets import Secret, redact


class TokenRefused(KeycloakError):
    """The token endpoint answered with an error: the configured credentials, not the call, failed."""


class _RecordingManager(ConnectionManager):
    """The token client's connection, reporting each response to its owner."""

    def __init__(self, owner: _Connection, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.owner = owner

    def raw_post(self, *args: Any, **kwargs: Any) -> requests.Response:
        self.owner.last_response = response = super().raw_post(*args, **kwargs)
        return response


class _Connection(KeycloakOpenIDConnection):
    """python-keycloak's self-renewing connection: no retries, secrets revealed only when sent."""

    def __init__(
        self, *, secret_password: Secret | None, secret_client: Secret | None, **kwargs: Any
    ) -> None:
        self._secret_password = secret_password
        self._secret_client = secret_client
        self.last_response: requests.Response | None = None
        super().__init__(password=None, max_retries=0, **kwargs)

    @property
    def keycloak_openid(self) -> KeycloakOpenID:
        """python-keycloak's token client, built as its own property does but without retries."""
        if self._keycloak_openid is None:
            openid = KeycloakOpenID(
                server_url=self.server_url or "",
                realm_name=self.user_realm_name or self.realm_name or "master",
                client_id=self.client_id or "",
                verify=self.verify,
                timeout=self.timeout,
                max_retries=0,
            )
            openid.connection = _RecordingManager(
                self, base_url=self.server_url, timeout=self.timeout, verify=self.verify, max_retries=0
            )
            self._keycloak_openid = openid
        return self._keycloak_openid

    @contextmanager
    def _revealed(self) -> Iterator[KeycloakOpenID]:
        """The token client holding the secrets for one request; its refusals become `TokenRefused`."""
        openid = self.keycloak_openid
        self.password = self._secret_password.reveal() if self._secret_password else None
        openid.client_secret_key = self._secret_client.reveal() if self._secret_client else None
        try:
            yield openid
        except KeycloakError as exc:
            if isinstance(exc, KeycloakConnectionError) or exc.response_code is None:
                raise
            raise TokenRefused(exc.error_message, exc.response_code, exc.response_body) from None
        finally:
            self.password = None
            openid.client_secret_key = None

    def get_token(self) -> None:
        with self._revealed():
            super().get_token()

    def refresh_token(self) -> None:
        """Refresh; if the server refuses the refresh token for any reason (400), make a new grant."""
        refresh = (self.token or {}).get("refresh_token")
        with self._revealed() as openid:
            if refresh:
                try:
                    self.token = openid.refresh_token(refresh)
                    return
                except KeycloakPostError as exc:
                    if exc.response_code != 400:
                        raise
            super().get_token()

    def _remember(
        self, call: Callable[..., requests.Response], *args: Any, **kwargs: Any
    ) -> requests.Response:
        self.last_response = response = call(*args, **kwargs)
        return response

    def raw_get(self, *args: Any, **kwargs: Any) -> requests.Response:
        return self._remember(super().raw_get, *args, **kwargs)

    def raw_post(self, *args: Any, **kwargs: Any) -> requests.Response:
        return self._remember(super().raw_post, *args, **kwargs)

    def raw_put(self, *args: Any, **kwargs: Any) -> requests.Response:
        return self._remember(super().raw_put, *args, **kwargs)

    def raw_delete(self, *args: Any, **kwargs: Any) -> requests.Response:
        return self._remember(super().raw_delete, *args, **kwargs)


class KeycloakSession:
    """One python-keycloak admin client per connector, used by one thread at a time."""

    def __init__(self, system: str, settings: KeycloakSettings) -> None:
        self.system = system
        self.server_url = settings.server_url.rstrip("/") + "/"  # urljoin drops a last segment without it
        self.realm = settings.realm
        self.auth_realm = settings.auth_realm
        self.timeout = settings.timeout
        self.client_id = settings.client_id
        self.username = settings.username
        self.who = f"user {self.username}" if self.username else f"client {self.client_id}"
        verify: bool | str = settings.ca_file or True
        if settings.verify_tls is False:
            verify = False
        self.connection = _Connection(
            server_url=self.server_url,
            grant_type="password" if self.username else "client_credentials",
            username=self.username,
            client_id=self.client_id,
            realm_name=self.realm,
            user_realm_name=self.auth_realm,
            verify=verify,
            timeout=self.timeout,
            secret_password=settings.password,
            secret_client=settings.client_secret,
        )
        self.admin = KeycloakAdmin(connection=self.connection)
        self._lock = threading.RLock()

    @contextmanager
    def call(self, what: str, needs: str) -> Iterator[KeycloakAdmin]:
        """The admin client; python-keycloak's errors leave as iam's, named for ``what``.

        ``needs`` is the realm-management role the calls inside need, named in a 403.
        """
        with self._lock:
            self.connection.last_response = None
            try:
                yield self.admin
            except KeycloakError as exc:
                raise self._translate(exc, what, needs) from None

    def _translate(self, exc: KeycloakError, what: str, needs: str) -> errors.ConnectorError:
        code = exc.response_code
        detail = _detail(exc)
        if isinstance(exc, KeycloakConnectionError) or code is None:
            cause = exc.__cause__
            if isinstance(cause, requests.exceptions.SSLError):
                return errors.PermanentError(
                    f"{what}: TLS to {self.server_url} failed: the server certificate is not trusted "
                    "(set ca_file, or verify_tls: false to turn checking off by name)"
                )
            if isinstance(cause, requests.exceptions.Timeout):
                return errors.ConnectTimeout(f"{what}: {self.server_url} did not answer in {self.timeout}s")
            if isinstance(exc, KeycloakConnectionError):
                return errors.Unreachable(f"{what}: cannot connect to {self.server_url}")
            return errors.PermanentError(f"{what}: unexpected answer from Keycloak ({type(exc).__name__})")
        if code == 429:
            return errors.RateLimited(
                f"{what}: Keycloak asked to slow down (429)", retry_after=self._retry_after()
            )
        if code >= 500:
            return errors.TransientError(f"{what}: Keycloak answered {code}{detail}")
        if isinstance(exc, TokenRefused):
            return errors.AuthenticationFailed(
                f"{what}: Keycloak refused the credentials of {self.who} in realm {self.auth_realm} "
                f"(HTTP {code}{detail}); check the configured secret"
            )
        if code == 401:
            return errors.AuthenticationFailed(
                f"{what}: Keycloak rejected the admin token of {self.who} (401)"
            )
        if code == 403:
            return errors.PermissionDenied(
                f"{what}: forbidden (403): {self.who} needs the realm-management role {needs!r} in realm "
                f"{self.realm}"
            )
        if code == 404:
            return errors.NoSuchObject(f"{what}: not found{detail}")
        if code == 409:
            return errors.AlreadyExists(f"{what}: already exists{detail}")
        if code == 400:
            return errors.InvalidAttribute(f"{what}: Keycloak rejected the request{detail}")
        return errors.PermanentError(f"{what}: Keycloak answered {code}{detail}")

    def _retry_after(self) -> float | None:
        response = self.connection.last_response
        value = response.headers.get("Retry-After") if response is not None else None
        try:
            return float(value) if value is not None else None
        except ValueError:
            return None  # an HTTP date: let the engine's backoff decide

    def close(self) -> None:
        """Drop pooled HTTP connections (python-keycloak closes them only when collected); reusable after."""
        with self._lock:
            token_client = self.connection._keycloak_openid
            for manager in (self.connection, token_client.connection if token_client else None):
                pool = getattr(manager, "_s", None)  # python-keycloak's requests.Session
                if pool is not None:
                    pool.close()


def _detail(exc: KeycloakError) -> str:
    """Keycloak's own short reason (``error``, ``error_description``), never the raw body."""
    try:
        body = json.loads(exc.response_body or b"{}")
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    parts = [str(body[k]) for k in ("error", "error_description", "errorMessage") if body.get(k)]
    return f": {redact('; '.join(parts))}" if parts else ""
