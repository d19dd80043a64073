"""People told when something needs them: e-mail through a real SMTP server (STARTTLS, AUTH)
and a webhook POST to a local receiver, sent by the `iam` command; the test reads what arrived."""

from __future__ import annotations

import json
import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.conftest import Directory, iam_env, run_iam
from tests.support import schemas
from tests.support.company import BASE_FEED, write_feed
from tests.support.mailbox import PASSWORD, USER, SmtpServer, WebhookReceiver

HOOK_ENV, SMTP_ENV = "IAM_TEST_HOOK_URL", "IAM_TEST_SMTP_PASSWORD"


@pytest.fixture
def smtp(tmp_path: Path) -> Iterator[SmtpServer]:
    server = SmtpServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def hook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    receiver.start()
    yield receiver
    receiver.stop()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def notifying(config: Path, smtp: SmtpServer, routes: dict[str, list[str]]) -> Path:
    data = yaml.safe_load(config.read_text())
    data["notifications"] = {
        "email": {
            "host": "127.0.0.1",
            "port": smtp.port,
            "username": USER,
            "password": {"env": SMTP_ENV},
            "sender": "iam@example.org",
            "ca_file": str(smtp.ca_file),
        },
        "webhooks": {"it": {"url": {"env": HOOK_ENV}}},
        "routes": routes,
        "attempts": 2,
    }
    config.write_text(yaml.safe_dump(data))
    return config


def with_a_system_down(config: Path) -> Path:
    data = yaml.safe_load(config.read_text())
    down = dict(data["systems"]["directory"])
    down["url"] = f"ldap://127.0.0.1:{closed_port()}"
    data["systems"]["backup"] = down
    config.write_text(yaml.safe_dump(data))
    return config


def env(hook: WebhookReceiver, password: str = PASSWORD) -> dict[str, str]:
    return iam_env({HOOK_ENV: hook.url, SMTP_ENV: password})


def audit(config: Path) -> list[dict]:
    return [json.loads(line) for line in (config.parent / "state/audit.jsonl").read_text().splitlines()]


IT = {"run_partial": ["it@example.org", "webhook:it"]}


def test_a_partial_run_is_mailed_and_posted_to_it_and_no_secret_is_logged(
    directory: Directory, config_file: Path, smtp: SmtpServer, hook: WebhookReceiver
) -> None:
    config = with_a_system_down(notifying(config_file, smtp, IT))

    result = run_iam(
        "--config", str(config), "offboard", "alice", "--reason", "resigned", "--yes", env=env(hook)
    )

    assert result.returncode == 3, result.stdout + result.stderr
    [mail] = smtp.mailbox.to("it@example.org")
    assert "offboard of alice ended partial" in mail["Subject"] and mail["From"] == "iam@example.org"
    body = mail.get_payload()
    assert "backup" in body and "iam resume" in body
    [posted] = hook.received
    assert posted["body"]["kind"] == "run_partial" and "alice" in posted["body"]["text"]
    assert posted["body"]["username"] == "alice"
    sent = [r for r in audit(config) if r["event"] == "notification.sent"]
    assert {(r["channel"], r["to"]) for r in sent} == {("email", "it@example.org"), ("webhook", "webhook:it")}
    everything = (config.parent / "state/audit.jsonl").read_text() + result.stdout + result.stderr
    assert PASSWORD not in everything and "it-token-123" not in everything


def test_a_failed_notification_is_retried_logged_and_never_fails_the_run(
    directory: Directory, config_file: Path, smtp: SmtpServer, hook: WebhookReceiver
) -> None:
    config = with_a_system_down(notifying(config_file, smtp, IT))

    result = run_iam(
        "--config",
        str(config),
        "offboard",
        "alice",
        "--reason",
        "resigned",
        "--yes",
        env=env(hook, "wrong-Pass"),
    )

    assert result.returncode == 3, result.stdout + result.stderr  # the run's own verdict, not an error
    # tried twice; each time smtplib tries both mechanisms the server offers (PLAIN, LOGIN)
    assert smtp.mailbox.messages == [] and smtp.mailbox.refused_logins == 2 * 2
    [failed] = [r for r in audit(config) if r["event"] == "notification.failed"]
    assert (failed["to"], failed["attempts"]) == ("it@example.org", 2)
    assert "535" in failed["error"] or "Authentication" in failed["error"]
    assert "wrong-Pass" not in (config.parent / "state/audit.jsonl").read_text()
    assert len(hook.received) == 1  # the other channel still got it


def test_a_webhook_that_fails_is_logged_by_host_and_status_and_its_token_is_kept_nowhere(
    directory: Directory, config_file: Path, smtp: SmtpServer, hook: WebhookReceiver
) -> None:
    """httpx quotes the URL in its errors, spelt its own way (host lower case), so the
    registered secret did not match and the token reached the audit log and the outbox."""
    config = with_a_system_down(notifying(config_file, smtp, {"run_partial": ["webhook:it"]}))
    hook.status = 404
    spelt_otherwise = iam_env({HOOK_ENV: hook.url.replace("127.0.0.1", "LOCALHOST"), SMTP_ENV: PASSWORD})

    base = ("--config", str(config))
    results = [
        run_iam(*base, "offboard", "alice", "--reason", "resigned", "--yes", env=spelt_otherwise),
        run_iam(*base, "run-due", env=spelt_otherwise),  # tried again from the outbox
        run_iam(*base, "notifications", "list", "--format", "json", env=spelt_otherwise),
    ]

    assert [r.returncode for r in results] == [3, 0, 0], [r.stderr for r in results]
    assert len(hook.received) == 2 * 2  # it reached the receiver: two attempts per command
    stored = [p for p in (config.parent / "state").glob("*") if p.is_file()]
    everything = "".join(p.read_bytes().decode("latin-1") for p in stored) + "".join(
        r.stdout + r.stderr for r in results
    )
    assert "it-token-123" not in everything and "/hooks/" not in everything
    failed = [r for r in audit(config) if r["event"] == "notification.failed"]
    assert [r["error"] for r in failed] == ["WebhookFailed: localhost answered HTTP 404"] * 2
    [kept] = json.loads(results[2].stdout)
    assert kept["last_error"] == "WebhookFailed: localhost answered HTTP 404"


def test_a_sweep_tells_security_of_new_findings_once(
    company: Path, directory: Directory, smtp: SmtpServer, hook: WebhookReceiver
) -> None:
    config = notifying(company, smtp, {"sweep_new_findings": ["security@example.org"]})

    first = run_iam("--config", str(config), "review", "sweep", "--format", "json", env=env(hook))
    again = run_iam("--config", str(config), "review", "sweep", "--format", "json", env=env(hook))

    assert first.returncode == 4 and again.returncode == 4, first.stderr + again.stderr
    [mail] = smtp.mailbox.to("security@example.org")
    assert "new finding" in mail["Subject"]
    assert "orphan" in mail.get_payload() and "alice" in mail.get_payload()


def test_a_hold_conflict_is_told_to_hr_when_a_sync_first_sees_it(
    company: Path, tmp_path: Path, directory: Directory, smtp: SmtpServer, hook: WebhookReceiver
) -> None:
    config = notifying(company, smtp, {"hold_conflict": ["hr@example.org", "webhook:it"]})
    feed = write_feed(tmp_path / "feed.csv", BASE_FEED)
    first = run_iam("--config", str(config), "hr", "sync", str(feed), env=env(hook))
    assert first.returncode == 0, first.stdout + first.stderr
    off = run_iam("--config", str(config), "offboard", "cal", "--reason", "for cause", "--yes", env=env(hook))
    assert off.returncode == 0, off.stderr

    for _ in range(2):
        result = run_iam("--config", str(config), "hr", "sync", str(feed), "--format", "json", env=env(hook))
        assert result.returncode == 4, result.stdout + result.stderr

    [mail] = smtp.mailbox.to("hr@example.org")
    assert "cal" in mail["Subject"] and "iam reinstate cal" in mail.get_payload()
    assert [p["body"]["kind"] for p in hook.received] == ["hold_conflict"]


def test_a_manager_is_told_a_certification_opened_is_due_soon_and_is_overdue_once_each(
    company: Path, tmp_path: Path, directory: Directory, smtp: SmtpServer, hook: WebhookReceiver
) -> None:
    kinds = ("certification_opened", "certification_due_soon", "certification_overdue")
    config = notifying(company, smtp, {kind: ["manager"] for kind in kinds})
    feed = write_feed(tmp_path / "feed.csv", BASE_FEED)
    assert run_iam("--config", str(config), "hr", "sync", str(feed), env=env(hook)).returncode == 0

    def iam(*args: str) -> None:
        result = run_iam("--config", str(config), *args, env=env(hook))
        assert result.returncode == 0, result.stdout + result.stderr

    iam(
        "review",
        "certify",
        "--manager",
        "ann",
        "--due",
        "2026-12-10",
        "--out",
        str(tmp_path),
        "--now",
        "2026-12-01T09:00:00+00:00",
    )
    for day in ("2026-12-05", "2026-12-08", "2026-12-09", "2026-12-11", "2026-12-12"):
        iam("run-due", "--now", f"{day}T09:00:00+00:00")

    subjects = [m["Subject"] for m in smtp.mailbox.to("ann@example.org")]
    assert subjects == [
        "iam: please certify your people's access by 2026-12-10",
        "iam: your access certification is due on 2026-12-10",
        "iam: your access certification is overdue since 2026-12-10",
    ]


def test_a_notification_that_failed_is_kept_and_delivered_by_the_next_run_due(
    directory: Directory, config_file: Path, smtp: SmtpServer, hook: WebhookReceiver
) -> None:
    config = with_a_system_down(notifying(config_file, smtp, {"run_partial": ["it@example.org"]}))
    smtp.stop()  # the mail server is down while the run ends partial

    result = run_iam(
        "--config", str(config), "offboard", "alice", "--reason", "resigned", "--yes", env=env(hook)
    )

    assert result.returncode == 3, result.stdout + result.stderr
    [failed] = [r for r in audit(config) if r["event"] == "notification.failed"]
    assert (failed["to"], failed["kept"]) == ("it@example.org", True)
    down = run_iam("--config", str(config), "run-due", env=env(hook))  # still down: kept again
    assert smtp.mailbox.messages == []
    assert len([r for r in audit(config) if r["event"] == "notification.failed"]) == 2, down.stderr

    smtp.restart()
    run_iam("--config", str(config), "run-due", env=env(hook))

    [mail] = smtp.mailbox.to("it@example.org")
    assert "offboard of alice ended partial" in mail["Subject"] and "backup" in mail.get_payload()
    [sent] = [r for r in audit(config) if r["event"] == "notification.sent"]
    assert sent["to"] == "it@example.org" and sent["kept_since"]
    run_iam("--config", str(config), "run-due", env=env(hook))
    assert len(smtp.mailbox.messages) == 1  # delivered once, then gone from the outbox
    stored = (config.parent / "state").glob("*")
    everything = (config.parent / "state/audit.jsonl").read_text() + "".join(
        p.read_bytes().decode("latin-1") for p in stored if p.is_file()
    )
    assert PASSWORD not in everything and "it-token-123" not in everything


def test_a_notification_nobody_could_receive_for_keep_days_is_dropped_once_and_logged(
    directory: Directory, config_file: Path, smtp: SmtpServer, hook: WebhookReceiver
) -> None:
    config = with_a_system_down(notifying(config_file, smtp, {"run_partial": ["it@example.org"]}))
    data = yaml.safe_load(config.read_text())
    data["notifications"]["keep_days"] = 2
    config.write_text(yaml.safe_dump(data))
    smtp.stop()
    run_iam("--config", str(config), "offboard", "alice", "--reason", "resigned", "--yes", env=env(hook))
    store = sqlite3.connect(config.parent / "state/iam.db")
    with store:  # kept three days ago: past keep_days
        store.execute("update notification_outbox set created_at = datetime('now', '-3 days')")
    smtp.restart()

    run_iam("--config", str(config), "run-due", env=env(hook))

    assert smtp.mailbox.messages == []  # too late to tell: dropped, not sent
    [dropped] = [r for r in audit(config) if r["event"] == "notification.dropped"]
    assert (dropped["to"], dropped["kind"], dropped["failures"]) == ("it@example.org", "run_partial", 1)
    assert store.execute("select count(*) from notification_outbox").fetchone() == (0,)
    run_iam("--config", str(config), "run-due", env=env(hook))
    assert len([r for r in audit(config) if r["event"] == "notification.dropped"]) == 1


def test_keep_days_out_of_range_is_refused_and_changes_nothing(config_file: Path, smtp: SmtpServer) -> None:
    config = notifying(config_file, smtp, {"run_partial": ["it@example.org"]})
    data = yaml.safe_load(config.read_text())
    data["notifications"]["keep_days"] = 0
    config.write_text(yaml.safe_dump(data))

    result = run_iam("--config", str(config), "run-due")

    assert result.returncode == 2 and "keep_days" in result.stderr, result.stderr
    assert not (config.parent / "state/audit.jsonl").exists()


@pytest.mark.parametrize(
    "url", ["ftp://hooks.example.org/T0KEN-9f2c", "https:///T0KEN-9f2c", "http://[::1/T0KEN-9f2c"]
)
def test_a_webhook_url_no_post_can_go_to_is_refused_without_quoting_it(
    config_file: Path, smtp: SmtpServer, url: str
) -> None:
    config = notifying(config_file, smtp, {"run_partial": ["webhook:it"]})

    result = run_iam("--config", str(config), "run-due", env=iam_env({HOOK_ENV: url, SMTP_ENV: PASSWORD}))

    assert result.returncode == 2, result.stdout + result.stderr
    assert "notifications.webhooks.it.url" in result.stderr and "not an http" in result.stderr
    assert "T0KEN-9f2c" not in result.stdout + result.stderr
    assert not (config.parent / "state/audit.jsonl").exists()


def test_kept_notifications_are_listed_and_one_can_be_dropped_by_hand_audited(
    directory: Directory, config_file: Path, smtp: SmtpServer, hook: WebhookReceiver
) -> None:
    config = with_a_system_down(notifying(config_file, smtp, {"run_partial": ["it@example.org"]}))
    base = ("--config", str(config), "notifications")
    empty = run_iam(*base, "list", env=env(hook))
    assert empty.returncode == 0 and "No kept notification" in empty.stdout, empty.stderr
    smtp.stop()
    run_iam("--config", str(config), "offboard", "alice", "--reason", "resigned", "--yes", env=env(hook))

    listed = run_iam(*base, "list", "--format", "json", env=env(hook))
    assert listed.returncode == 0, listed.stderr
    [kept] = json.loads(listed.stdout)
    schemas.validate([kept], "notifications")
    assert (kept["kind"], kept["recipient"], kept["failures"]) == ("run_partial", "it@example.org", 1)
    assert "offboard of alice ended partial" in kept["subject"] and kept["last_error"]
    assert PASSWORD not in listed.stdout
    assert str(kept["id"]) in run_iam(*base, "list", env=env(hook)).stdout

    unknown = run_iam(*base, "drop", str(kept["id"] + 1000), "--reason", "stale", env=env(hook))
    assert unknown.returncode == 2 and "no kept notification" in unknown.stderr
    unreasoned = run_iam(*base, "drop", str(kept["id"]), "--reason", " ", env=env(hook))
    assert unreasoned.returncode == 2 and "reason is required" in unreasoned.stderr
    assert len(json.loads(run_iam(*base, "list", "--format", "json", env=env(hook)).stdout)) == 1

    dropped = run_iam(*base, "drop", str(kept["id"]), "--reason", "told IT by phone", env=env(hook))
    assert dropped.returncode == 0 and "will not be sent" in dropped.stdout, dropped.stderr
    [told] = [r for r in audit(config) if r["event"] == "notification.dropped"]
    assert (told["reason"], told["by_hand"], told["to"]) == ("told IT by phone", True, "it@example.org")
    assert told["actor"].startswith("os:")
    assert json.loads(run_iam(*base, "list", "--format", "json", env=env(hook)).stdout) == []
    smtp.restart()
    run_iam("--config", str(config), "run-due", env=env(hook))
    assert smtp.mailbox.messages == []  # dropped: never sent
