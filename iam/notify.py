"""Telling people when something needs them: e-mail (SMTP, STARTTLS, auth) and webhooks.

Each kind of event (a run ended partial, a termination hold HR contradicts,
new sweep findings, an owner who left active third parties, a
certification opened) has its recipients in ``notifications.routes``: an
e-mail address, ``webhook:NAME`` (a JSON POST with a Slack-compatible
``text``), or ``manager`` (the e-mail of the manager the event concerns).

A notification never fails the command that sends it: each delivery is
tried ``attempts`` times (tenacity), then recorded as
``notification.failed`` in the audit log, with no secret in the record,
and kept in the store's outbox: the next `iam run-due` tries it again.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any, Literal, Protocol

import httpx
from pydantic import Field, model_validator
from tenacity import Retrying, stop_after_attempt, wait_exponential

from iam.documents import Document, invalid
from iam.errors import InputError
from iam.report import KeptNotification, KeptNotificationList
from iam.secrets import SecretSetting, UnavailableSecret, redact, register

Kind = Literal[
    "run_partial",
    "hold_conflict",
    "sweep_new_findings",
    "owner_left",
    "certification_opened",
    "certification_due_soon",
    "certification_overdue",
]


class EmailSettings(Document):
    """The SMTP server notifications are sent through."""

    host: str = Field(min_length=1)
    port: int = Field(default=587, ge=1, le=65535)
    starttls: bool = Field(default=True, description="upgrade the connection with STARTTLS before logging in")
    username: str | None = Field(default=None, min_length=1)
    password: SecretSetting | None = Field(default=None, description="the SMTP password (a secret)")
    sender: str = Field(min_length=3, description="the From: address")
    ca_file: str | None = Field(default=None, description="trust this CA (PEM) instead of the system's")
    verify_tls: bool = Field(default=True, description="false turns TLS certificate checks off, by name")
    timeout: float = Field(default=10, gt=0)


class WebhookSettings(Document):
    """A JSON POST endpoint (Slack, Teams, Mattermost incoming webhooks take its ``text``)."""

    url: SecretSetting = Field(description="the endpoint; a secret, since such URLs carry their token")
    ca_file: str | None = None
    verify_tls: bool = Field(default=True, description="false turns TLS certificate checks off, by name")
    timeout: float = Field(default=10, gt=0)

    @model_validator(mode="after")
    def _an_http_url(self) -> WebhookSettings:
        """Refuse a URL no POST can go to (never quoting it); register httpx's spelling of it as a
        secret too: httpx lower-cases the host and drops a default port, and its errors quote that."""
        if isinstance(self.url, UnavailableSecret):
            return self
        try:
            url = httpx.URL(self.url.reveal())
        except httpx.InvalidURL:
            url = None
        if url is None or url.scheme not in ("http", "https") or not url.host:
            raise invalid("url", "not an http:// or https:// URL with a host (a secret: not shown)")
        register(str(url))
        return self


class NotificationSettings(Document):
    """Who is told what, and through which channel."""

    email: EmailSettings | None = None
    webhooks: dict[str, WebhookSettings] = Field(default_factory=dict)
    routes: dict[Kind, list[str]] = Field(
        default_factory=dict,
        description="per kind: e-mail addresses, webhook:NAME, or manager (the manager's e-mail)",
    )
    attempts: int = Field(default=3, ge=1, le=10, description="tries per delivery before it is logged failed")
    keep_days: int = Field(
        default=14,
        ge=1,
        le=365,
        description="days an undelivered notification is retried by run-due before it is dropped "
        "(logged notification.dropped)",
    )

    @model_validator(mode="after")
    def _recipients_exist(self) -> NotificationSettings:
        for kind, recipients in self.routes.items():
            for to in recipients:
                if to.startswith("webhook:") and to.removeprefix("webhook:") not in self.webhooks:
                    raise invalid("routes", f"{kind}: {to} names no webhook under notifications.webhooks")
                if not to.startswith("webhook:") and self.email is None:
                    raise invalid(
                        "routes", f"{kind}: {to} is an e-mail recipient; configure notifications.email"
                    )
        return self


#: Where a delivery's outcome is recorded: the audit log's ``record``.
Record = Callable[..., None]


def _tls(ca_file: str | None, verify: bool) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=ca_file)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _send_mail(settings: EmailSettings, to: str, subject: str, text: str) -> None:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = settings.sender, to, subject
    message.set_content(text)
    with smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout) as smtp:
        if settings.starttls:
            smtp.starttls(context=_tls(settings.ca_file, settings.verify_tls))
        if settings.username and settings.password is not None:
            smtp.login(settings.username, settings.password.reveal())
        smtp.send_message(message)


class WebhookFailed(Exception):
    """A webhook delivery that failed, told by host and status or error class only: a webhook's
    path and query are its token, and httpx quotes the whole URL in its messages."""


def _post(hook: WebhookSettings, body: Mapping[str, Any]) -> None:
    url = httpx.URL(hook.url.reveal())
    verify: ssl.SSLContext | bool = _tls(hook.ca_file, hook.verify_tls) if url.scheme == "https" else True
    try:
        response = httpx.post(url, json=dict(body), timeout=hook.timeout, verify=verify)
    except Exception as exc:
        raise WebhookFailed(f"{type(exc).__name__} posting to {url.host}") from None
    if not response.is_success:
        raise WebhookFailed(f"{url.host} answered HTTP {response.status_code}")


class Outbox(Protocol):
    """Where failed notifications wait for the next `iam run-due` (the store)."""

    def keep_notification(
        self, kind: str, recipient: str, subject: str, text: str, facts: dict[str, Any], error: str
    ) -> None: ...

    def kept_notifications(self) -> list[dict[str, Any]]: ...

    def forget_notification(self, id_: int) -> None: ...

    def notification_failed_again(self, id_: int, error: str) -> None: ...


def _deliver(
    settings: NotificationSettings, to: str, kind: str, subject: str, text: str, facts: Mapping[str, Any]
) -> None:
    """One delivery, tried ``attempts`` times; raises the last error."""
    for attempt in Retrying(
        stop=stop_after_attempt(settings.attempts),
        wait=wait_exponential(multiplier=0.2, max=2),
        reraise=True,
    ):
        with attempt:
            if to.startswith("webhook:"):
                body = {"text": f"{subject}\n{text}", "kind": kind, **facts}
                _post(settings.webhooks[to.removeprefix("webhook:")], body)
            else:
                assert settings.email is not None
                _send_mail(settings.email, to, subject, text)


def _channel(to: str) -> str:
    return "webhook" if to.startswith("webhook:") else "email"


def _attempt(
    settings: NotificationSettings, to: str, kind: str, subject: str, text: str, facts: Mapping[str, Any]
) -> str | None:
    """Deliver with retries; the redacted error if it still failed (a notification never fails the run)."""
    try:
        _deliver(settings, to, kind, subject, text, facts)
    except Exception as exc:
        return redact(f"{type(exc).__name__}: {exc}")
    return None


def _log(record: Record, event: str, kind: str, to: str, **more: Any) -> None:
    """One delivery's outcome in the audit log: its kind, recipient and channel, never a URL or secret."""
    record(event, kind=kind, to=to, channel=_channel(to), **more)


def send(
    settings: NotificationSettings | None,
    record: Record,
    kind: Kind,
    subject: str,
    text: str,
    *,
    manager_email: str | None = None,
    facts: Mapping[str, Any] | None = None,
    outbox: Outbox | None = None,
) -> int:
    """Deliver one event to every recipient its route names; how many got it. Never raises.

    A delivery that fails after its retries is kept in ``outbox`` for the next run-due.
    """
    if settings is None or not settings.routes.get(kind):
        return 0
    delivered = 0
    for to in settings.routes[kind]:
        if to == "manager":
            if not manager_email:
                record("notification.failed", kind=kind, to=to, error="no manager e-mail is known")
                continue
            to = manager_email
        error = _attempt(settings, to, kind, subject, text, facts or {})
        if error is not None:
            if outbox is not None:
                outbox.keep_notification(kind, to, subject, text, dict(facts or {}), error)
            _log(
                record,
                "notification.failed",
                kind,
                to,
                attempts=settings.attempts,
                error=error,
                kept=outbox is not None,
            )
            continue
        _log(record, "notification.sent", kind, to)
        delivered += 1
    return delivered


def send_kept(settings: NotificationSettings | None, record: Record, outbox: Outbox) -> int:
    """Try again every notification an earlier command could not deliver; how many went. Never raises.

    Without notification settings any more, they stay kept (nowhere to send them).
    """
    if settings is None:
        return 0
    delivered = 0
    oldest = datetime.now(UTC) - timedelta(days=settings.keep_days)
    for row in outbox.kept_notifications():
        to, kind = row["recipient"], row["kind"]
        if row["created_at"] < oldest:  # nobody was told in keep_days: say so once, stop retrying
            outbox.forget_notification(row["id"])
            _log(
                record,
                "notification.dropped",
                kind,
                to,
                kept_since=row["created_at"].isoformat(),
                failures=row["failures"],
                error=row["last_error"],
            )
            continue
        if to.startswith("webhook:") and to.removeprefix("webhook:") not in settings.webhooks:
            continue  # the webhook is no longer configured: kept, not lost
        if not to.startswith("webhook:") and settings.email is None:
            continue
        error = _attempt(settings, to, kind, row["subject"], row["text"], row["facts"] or {})
        if error is not None:
            outbox.notification_failed_again(row["id"], error)
            _log(
                record,
                "notification.failed",
                kind,
                to,
                attempts=settings.attempts,
                error=error,
                kept=True,
                failures=row["failures"] + 1,
            )
            continue
        outbox.forget_notification(row["id"])
        _log(record, "notification.sent", kind, to, kept_since=row["created_at"].isoformat())
        delivered += 1
    return delivered


def kept(outbox: Outbox) -> KeptNotificationList:
    """The notifications an earlier command could not deliver, oldest first (`iam notifications list`)."""
    return KeptNotificationList(
        [
            KeptNotification(
                id=row["id"],
                kind=row["kind"],
                recipient=row["recipient"],
                subject=row["subject"],
                kept_since=row["created_at"],
                failures=row["failures"],
                last_error=row["last_error"],
            )
            for row in outbox.kept_notifications()
        ]
    )


def drop(outbox: Outbox, record: Record, notification_id: int, reason: str) -> KeptNotification:
    """Stop trying to deliver one kept notification, by hand: audited like one dropped after
    ``keep_days``, with who dropped it and why. An unknown id changes nothing."""
    if not reason.strip():
        raise InputError("a reason is required (--reason), it goes to the audit log")
    found = next((n for n in kept(outbox).root if n.id == notification_id), None)
    if found is None:
        raise InputError(f"no kept notification {notification_id} (see `iam notifications list`)")
    outbox.forget_notification(found.id)
    _log(
        record,
        "notification.dropped",
        found.kind,
        found.recipient,
        kept_since=found.kept_since.isoformat(),
        failures=found.failures,
        error=found.last_error,
        reason=reason,
        by_hand=True,
    )
    return found
