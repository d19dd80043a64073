"""SCIM over httpx: signing in, the one place errors become iam's, and reading listings to their end.

Every request carries ``Authorization: Bearer``: the configured token, or
one fetched from the OAuth2 token endpoint with client credentials (kept
until the service refuses it, then fetched again once; that is the only
repetition here, every other failure leaves as an `iam.errors` type for the
engine's retry policy). Tokens are registered as secrets; messages are built
from paths, statuses and SCIM's ``scimType``, never from a credential.

A listing is read until it has given as many distinct resources (by
``id``) as the ``totalResults`` it announces. One that stops short (an empty
page before the end, a page with nothing not seen before, as from a service
that ignores ``startIndex``, no total at all) is `errors.IncompleteRead`: a
user or a group left out would read as "no access". A listing answered 404
means the URL is wrong, not that nothing is there.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from iam.connectors import http
from iam.connectors.http import Refused
from iam.connectors.scim.settings import ScimSettings

from iam import errors
from iam.secrets import Secret, register

SCIM_JSON = "application/scim+json"
LIST_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:ListResponse"


@dataclass(frozen=True)
class Answer:
    """One successful answer: its JSON object (empty for 204) and its ETag, if the service sent one."""

    body: dict[str, Any]
    etag: str | None = None


@dataclass(frozen=True)
class Features:
    """What the service says it supports (its ServiceProviderConfig), so iam asks only for that."""

    patch: bool = False
    filter: bool = False
    etag: bool = False
    max_results: int | None = None
    announced: bool = True

    def describe(self) -> str:
        if not self.announced:
            return "no ServiceProviderConfig: PUT and paged listings"
        said = [
            "PATCH" if self.patch else "PUT (no PATCH)",
            "filters" if self.filter else "paged listings (no filter)",
        ]
        if self.etag:
            said.append("ETags")
        return ", ".join(said)


class ScimSession(http.HttpSession):
    """One signed-in client per connector; one call at a time."""

    def __init__(
        self, system: str, settings: ScimSettings, transport: httpx.BaseTransport | None = None
    ) -> None:
        super().__init__(
            system,
            settings.url,
            settings.timeout,
            ca_file=settings.ca_file,
            verify_tls=settings.verify_tls,
            transport=transport,
        )
        self.page_size = settings.page_size
        self._token: Secret | None = settings.token
        self._oauth = settings.oauth
        self._fetched: str | None = None
        self._features: Features | None = None

    # the boundary ---------------------------------------------------------------------------------

    @contextmanager
    def boundary(self, what: str, *, token_endpoint: bool = False) -> Iterator[None]:
        """httpx's errors and the service's refusals, as iam's, named for ``what``."""
        where = self._oauth.token_url if token_endpoint and self._oauth else self.url
        try:
            with http.transport_errors(what, where, self.timeout, self.system):
                yield
        except Refused as exc:
            raise self._translate(exc, what, token_endpoint) from None

    def _translate(self, exc: Refused, what: str, token_endpoint: bool) -> errors.ConnectorError:
        said = exc.said()
        if exc.status == 429:
            return errors.RateLimited(
                f"{what}: the service asked to slow down ({said})",
                retry_after=exc.retry_seconds(),
                system=self.system,
            )
        if exc.status == 501:
            return self._error(errors.Unsupported, f"{what}: the service does not support it ({said})")
        if exc.status >= 500:
            return self._error(errors.TransientError, f"{what}: the service failed ({said})")
        if token_endpoint and exc.status in (400, 401, 403):
            return self._error(
                errors.AuthenticationFailed,
                f"{what}: the token endpoint refused client {self._oauth.client_id if self._oauth else ''} "
                f"({said}); check oauth.client_id, oauth.client_secret and oauth.scope",
            )
        if exc.status == 401:
            hint = (
                "oauth.client_id and its grants"
                if self._oauth
                else "the configured token (expired, revoked?)"
            )
            return self._error(
                errors.AuthenticationFailed, f"{what}: the service refused iam ({said}); check {hint}"
            )
        if exc.status == 403:
            return self._error(
                errors.PermissionDenied,
                f"{what}: forbidden ({said}); the token needs the application's SCIM provisioning scope",
            )
        if exc.status == 404:
            return self._error(errors.NoSuchObject, f"{what}: not found ({said})")
        if exc.status == 409:
            return self._error(errors.AlreadyExists, f"{what}: already exists ({said})")
        if exc.status == 412:
            return self._error(
                errors.TransientError,
                f"{what}: changed by someone else since iam read it ({said}); a retry reads it again",
            )
        if exc.status in (400, 422):
            return self._error(errors.InvalidAttribute, f"{what}: the service rejected the request ({said})")
        return self._error(
            errors.PermanentError, f"{what}: the service answered {said}; check url ({self.url})"
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
        if_match: str | None = None,
    ) -> Answer:
        """One request's answer; signs in first if needed, and once more if a fetched token lapsed."""
        with self._lock, self.boundary(what):
            fresh = self._oauth is not None and self._fetched is None
            response = self._send(method, path, params, body, if_match)
            if response.status_code == 401 and self._oauth is not None and not fresh:
                self._fetched = None
                response = self._send(method, path, params, body, if_match)
            return _checked(response)

    def _bearer(self) -> str:
        if self._token is not None:
            return self._token.reveal()
        if self._fetched is None:
            self._fetched = self._fetch_token()
        return self._fetched

    def _fetch_token(self) -> str:
        """A bearer token by the client-credentials grant, the client authenticated by HTTP Basic."""
        assert self._oauth is not None
        form = {"grant_type": "client_credentials"}
        if self._oauth.scope:
            form["scope"] = self._oauth.scope
        auth = (self._oauth.client_id, self._oauth.client_secret.reveal())
        with self.boundary(f"get a token for client {self._oauth.client_id}", token_endpoint=True):
            response = self._http().post(self._oauth.token_url, data=form, auth=auth)
            answer = _checked(response).body
        token = answer.get("access_token")
        if not isinstance(token, str) or not token:
            raise self._error(errors.PermanentError, "the token endpoint answered without an access_token")
        register(token)
        return token

    def _send(
        self, method: str, path: str, params: Mapping[str, Any] | None, body: Any, if_match: str | None
    ) -> httpx.Response:
        headers = {"Accept": SCIM_JSON, "Authorization": f"Bearer {self._bearer()}"}
        if body is not None:
            headers["Content-Type"] = SCIM_JSON
        if if_match:
            headers["If-Match"] = if_match
        content = None if body is None else json.dumps(body).encode()
        return self._http().request(method, self.url + path, params=params, content=content, headers=headers)

    # what the service supports --------------------------------------------------------------------

    def features(self) -> Features:
        """The ServiceProviderConfig, read once; without one, the most careful way (PUT, paged listings)."""
        if self._features is None:
            try:
                config = self.call("read the ServiceProviderConfig", "GET", "/ServiceProviderConfig").body
            except errors.NoSuchObject:
                self._features = Features(announced=False)
            else:
                self._features = Features(
                    patch=_supported(config, "patch"),
                    filter=_supported(config, "filter"),
                    etag=_supported(config, "etag"),
                    max_results=_int((config.get("filter") or {}).get("maxResults")),
                )
        return self._features

    # listings ---------------------------------------------------------------------------------------

    def listing(
        self, what: str, resource: str, *, filter_: str | None = None, setting: str = "url"
    ) -> Iterator[dict[str, Any]]:
        """Every resource of ``/{resource}`` (matching ``filter_``), page after page, to the announced end."""
        start, seen = 1, set[str]()
        while True:
            params: dict[str, Any] = {"startIndex": start, "count": self.page_size}
            if filter_ is not None:
                params["filter"] = filter_
            try:
                answer = self.call(f"{what} (from {start})", "GET", f"/{resource}", params=params).body
            except errors.NoSuchObject:
                raise self._error(
                    errors.IncompleteRead,
                    f"{what}: {self.url}/{resource} does not exist; set {setting} to the SCIM base URL "
                    "(the one before /Users)",
                ) from None
            total = _int(answer.get("totalResults"))
            page = answer.get("Resources") or []
            if total is None or not isinstance(page, list):
                raise self._cut_short(f"{what}: the listing of {resource} announced no totalResults")
            new = {_identity(r): r for r in page if isinstance(r, dict) and _identity(r) not in seen}
            yield from new.values()
            seen |= new.keys()
            if len(seen) >= total:
                return
            if not new:
                why = ": a page repeated what was read (does the service honour startIndex?)" if page else ""
                raise self._cut_short(
                    f"{what}: the listing of {resource} ended after {len(seen)} of {total}{why}"
                )
            start += len(page)

    def _cut_short(self, said: str) -> errors.IncompleteRead:
        return errors.IncompleteRead(
            f"{said}: what was left out cannot be taken for nothing; check that the token may read "
            "every resource of it",
            system=self.system,
        )


def _identity(resource: Mapping[str, Any]) -> str:
    """What tells two listed resources apart: the ``id`` every SCIM resource has (RFC 7643 §3.1)."""
    rid = resource.get("id")
    return str(rid) if rid is not None else json.dumps(resource, sort_keys=True)


def _supported(config: Mapping[str, Any], feature: str) -> bool:
    block = config.get(feature)
    return isinstance(block, dict) and block.get("supported") is True


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _checked(response: httpx.Response) -> Answer:
    data = http.json_object(response, _error)
    return Answer(data, response.headers.get("ETag") or _version(data))


def _version(data: Mapping[str, Any]) -> str | None:
    meta = data.get("meta")
    version = meta.get("version") if isinstance(meta, dict) else None
    return version if isinstance(version, str) and version else None


def _error(response: httpx.Response) -> tuple[str, str]:
    """SCIM's error body (RFC 7644 §3.12): ``scimType`` and ``detail``, or OAuth's ``error``."""
    try:
        data = response.json()
    except ValueError:
        return "", ""
    if not isinstance(data, dict):
        return "", ""
    kind = data.get("scimType") or data.get("error") or ""
    detail = data.get("detail") or data.get("error_description") or ""
    return str(kind), str(detail)[:200]
