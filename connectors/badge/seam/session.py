"""Seam's API over httpx: the API key, the one place errors become iam's, and listings read to their end.

Every call is a POST with a JSON body (Seam's API takes POST on every
route) carrying ``Authorization: Bearer <api key>``. Nothing is repeated
here: every failure leaves as an `iam.errors` type for the engine's retry
policy. Seam's Python SDK was not used for this reason: it retries inside
(``httpx_retries``), where iam's engine must own retries, and adds nothing
a handful of routes need. The key is revealed only into the header;
messages are built from routes, statuses and Seam's error ``type``.

A listing that announces more pages (``pagination.has_next_page``) is
followed cursor by cursor; one that announces more without a cursor is
`errors.IncompleteRead`, never a shorter list.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import httpx
from iam.connectors import http
from iam.connectors.http import Refused

from iam import errors
from iam.secrets import Secret

if TYPE_CHECKING:
    from iam.connectors.badge.seam import SeamSettings


class SeamSession(http.HttpSession):
    """One client per connector; one call at a time."""

    def __init__(
        self, system: str, settings: SeamSettings, transport: httpx.BaseTransport | None = None
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
        self._api_key: Secret = settings.api_key

    @contextmanager
    def boundary(self, what: str) -> Iterator[None]:
        """httpx's errors and Seam's refusals, as iam's, named for ``what``."""
        try:
            with http.transport_errors(what, self.url, self.timeout, self.system):
                yield
        except Refused as exc:
            raise self._translate(exc, what) from None

    def _translate(self, exc: Refused, what: str) -> errors.ConnectorError:
        said = exc.said()
        if exc.status == 429:
            return errors.RateLimited(
                f"{what}: Seam asked to slow down ({said})",
                retry_after=exc.retry_seconds(),
                system=self.system,
            )
        if exc.status >= 500:
            return self._error(errors.TransientError, f"{what}: Seam failed ({said})")
        if exc.status == 401:
            return self._error(
                errors.AuthenticationFailed, f"{what}: Seam refused the API key ({said}); check api_key"
            )
        if exc.status == 403:
            return self._error(
                errors.PermissionDenied,
                f"{what}: forbidden ({said}); the API key's workspace may not do this",
            )
        if exc.status == 404:
            return self._error(errors.NoSuchObject, f"{what}: not found ({said})")
        if exc.status in (400, 422):
            return self._error(errors.InvalidAttribute, f"{what}: Seam rejected the request ({said})")
        return self._error(errors.PermanentError, f"{what}: Seam answered {said}; check url ({self.url})")

    def call(self, what: str, route: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """One route's JSON answer."""
        with self._lock, self.boundary(what):
            headers = {"Authorization": f"Bearer {self._api_key.reveal()}", "Accept": "application/json"}
            return _checked(self._http().post(self.url + route, json=dict(body), headers=headers))

    def listing(self, what: str, route: str, key: str, body: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        """Every item of a list route, cursor after cursor (see the module docstring)."""
        cursor: str | None = None
        while True:
            ask = {**body, "limit": self.page_size, **({"page_cursor": cursor} if cursor else {})}
            answer = self.call(what, route, ask)
            items = answer.get(key)
            if not isinstance(items, list):
                raise self._error(errors.IncompleteRead, f"{what}: Seam's answer holds no {key} list")
            yield from (i for i in items if isinstance(i, dict))
            pagination = answer.get("pagination") or {}
            if not pagination.get("has_next_page"):
                return
            cursor = pagination.get("next_page_cursor")
            if not cursor:
                raise self._error(
                    errors.IncompleteRead,
                    f"{what}: Seam announced another page of {key} without a cursor to it; what was left "
                    "out cannot be taken for nothing",
                )


def _checked(response: httpx.Response) -> dict[str, Any]:
    return http.json_object(response, _error)


def _error(response: httpx.Response) -> tuple[str, str]:
    """Seam's ``{"error": {"type", "message"}}``, or nothing usable."""
    return http.nested_error(response, "type")
