"""The console in a real browser (Debian's chromium, driven by Playwright), signed in through Keycloak.

Screenshots of the main pages are kept in ``tests/artifacts/`` (ignored by
git); ``docs/`` holds two of them for the README, refreshed when the tests
run with ``IAM_UPDATE_SCREENSHOTS=1``.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Directory
from tests.support.company import groups_of, locked
from tests.support.console import HOSTILE, PASSWORDS, Console, console_realm, start_console
from tests.support.keycloak import KeycloakServer
from tests.support.slapd import free_port

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: scripts/test installs Debian's chromium")
        pytest.skip(f"{CHROMIUM} is missing (scripts/install-packages chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def console(
    keycloak_server: KeycloakServer, company: Path, directory: Directory, tmp_path: Path
) -> Iterator[Console]:
    port = free_port()
    issuer = console_realm(keycloak_server, f"http://127.0.0.1:{port}/auth/callback")
    oidc = {"issuer": issuer, "client_id": "iam-console", "client_secret": {"env": "IAM_TEST_OIDC"}}
    with start_console(company, directory, tmp_path, port=port, oidc=oidc) as running:
        yield running


def signed_in(browser, console: Console, username: str):  # type: ignore[no-untyped-def]
    """A page of a fresh browser context, signed in as ``username`` through Keycloak's login page."""
    context = browser.new_context(viewport={"width": 1100, "height": 800})
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.dialogs = dialogs
    page.goto(f"{console.url}/login")
    page.get_by_role("link", name="Sign in with your company account").click()
    page.fill("#username", username)
    page.fill("#password", PASSWORDS[username])
    page.click("#kc-login")
    page.wait_for_url(f"{console.url}/")
    return page


def shot(page, name: str, docs: bool = False) -> None:  # type: ignore[no-untyped-def]
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    if docs and os.environ.get("IAM_UPDATE_SCREENSHOTS") == "1":
        shutil.copyfile(path, DOCS / f"console-{name}.png")


def test_a_manager_revokes_one_entitlement_keeps_the_rest_and_cannot_open_another_managers_campaign(
    browser, console: Console
) -> None:
    page = signed_in(browser, console, "ann")
    page.get_by_role("link", name="My reviews").first.click()
    shot(page, "reviews")
    page.get_by_role("link", name="Open").click()
    page.locator('input[value="revoke"][data-line^="cal:"][data-line*="cn=sales,"]').check()
    page.locator('input[name="bulk"][value="keep"]').check()
    page.locator('input[name="c0"]').fill("moved out of sales")
    shot(page, "review", docs=True)
    page.get_by_role("button", name="Submit decisions").click()

    page.get_by_text("Decisions recorded").wait_for()
    assert "complete" in page.locator(".result").inner_text()
    assert "sales" not in groups_of(console.directory, "cal") and "staff" in groups_of(
        console.directory, "cal"
    )
    assert "finance" in groups_of(console.directory, "bea")
    decisions = [r for r in console.audit() if r["event"] == "certification.decision"]
    assert {r["actor"] for r in decisions} == {"web:ann"}

    other = page.goto(f"{console.url}/reviews/{console.campaigns['mo']}")
    assert other is not None and other.status == 403
    assert "another manager's" in page.content()


def test_an_auditor_reads_evidence_and_is_offered_no_offboarding_and_an_operator_offboards(
    browser, console: Console
) -> None:
    page = signed_in(browser, console, "ops")
    page.get_by_role("link", name="Offboard").first.click()
    page.fill("#username", "bea")
    page.fill("#reason", "resigned")
    page.fill("#ticket", "HR-7")
    page.get_by_role("button", name="Show the plan").click()
    shot(page, "offboard-plan")
    page.fill("#again", "bea")
    page.get_by_role("button", name="Offboard bea").click()
    verdict = page.locator("#verdict")
    verdict.wait_for(timeout=120_000)  # the page refreshes itself until the run ends
    assert verdict.inner_text() == "COMPLETE"
    shot(page, "offboard", docs=True)
    assert groups_of(console.directory, "bea") == set() and locked(console.directory, "bea")

    auditor = signed_in(browser, console, "cal")
    assert auditor.get_by_role("link", name="Offboard").count() == 0
    auditor.get_by_role("link", name="Runs and evidence").first.click()
    shot(auditor, "runs")
    auditor.get_by_role("link", name="Evidence", exact=True).first.click()
    auditor.wait_for_url("**/evidence")
    heading = auditor.get_by_role("heading", name=re.compile("Termination evidence: bea"))
    heading.wait_for()
    # the pack's own inline style is allowed by its hash, and only it: the page is styled
    assert auditor.locator("h1").evaluate("e => getComputedStyle(e).fontSize") != "32px"
    shot(auditor, "evidence")
    refused = auditor.goto(f"{console.url}/offboard")
    assert refused is not None and refused.status == 403


def test_a_hostile_display_name_is_shown_as_text(browser, console: Console) -> None:
    page = signed_in(browser, console, "mo")
    page.goto(f"{console.url}/reviews/{console.campaigns['mo']}")
    legend = page.locator("fieldset.person legend").first
    assert HOSTILE in legend.inner_text()
    assert page.dialogs == []  # the script never ran
    assert page.locator("fieldset.person script").count() == 0
