"""Signing in to the console through a real Keycloak 26: its login page, the code flow, the groups claim."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from tests.conftest import Directory
from tests.support.console import PASSWORDS, console_realm, start_console
from tests.support.keycloak import KeycloakServer
from tests.support.slapd import free_port


def loopback_is_secure(client: httpx.Client) -> None:
    """Send Keycloak's Secure cookies back over http to 127.0.0.1, as browsers do for loopback."""
    for cookie in client.cookies.jar:
        cookie.secure = False


def keycloak_login(
    client: httpx.Client, start: httpx.Response, username: str, password: str
) -> httpx.Response:
    """Follow the console's redirect to Keycloak, fill its login form, and come back with the code."""
    assert start.status_code in (302, 303, 307), start.text
    page = client.get(start.headers["location"])
    loopback_is_secure(client)
    assert page.status_code == 200, page.text[:500]
    action = re.search(r'<form[^>]*id="kc-form-login"[^>]*action="([^"]+)"', page.text)
    assert action, page.text[:2000]
    back = client.post(
        action.group(1).replace("&amp;", "&"), data={"username": username, "password": password}
    )
    if back.status_code != 302:  # Keycloak's page again, saying why
        return back
    return client.get(back.headers["location"])


def test_sign_in_through_keycloak_gives_the_roles_of_the_groups_claim(
    keycloak_server: KeycloakServer, company: Path, directory: Directory, tmp_path: Path
) -> None:
    port = free_port()
    issuer = console_realm(keycloak_server, f"http://127.0.0.1:{port}/auth/callback")
    oidc = {"issuer": issuer, "client_id": "iam-console", "client_secret": {"env": "IAM_TEST_OIDC"}}
    with start_console(company, directory, tmp_path, port=port, oidc=oidc) as console:
        client = console.client()
        assert "Sign in with your company account" in client.get("/login").text

        refused = keycloak_login(client, client.get("/login/sso"), "cal", "wrong")
        body = refused.text[refused.text.find("<body") :]
        assert refused.status_code == 200 and "Invalid username or password" in refused.text, body[:3000]

        done = keycloak_login(client, client.get("/login/sso?next=/reviews"), "cal", PASSWORDS["cal"])
        assert done.status_code == 303 and done.headers["location"] == "/reviews", done.text
        home = client.get("/")
        assert "Your roles: auditor, reviewer" in home.text
        signins = [r for r in console.audit() if r["event"] == "web.signin"]
        assert [(r["actor"], r["method"]) for r in signins] == [("web:cal", "oidc")]

        stranger = console.client()
        forged = stranger.get("/auth/callback?code=stolen&state=guessed")
        assert forged.status_code == 401
        assert stranger.get("/reviews").status_code == 303  # still not signed in


def test_signing_out_ends_the_keycloak_session_too_so_the_next_visit_asks_for_the_password(
    keycloak_server: KeycloakServer, company: Path, directory: Directory, tmp_path: Path
) -> None:
    port = free_port()
    issuer = console_realm(keycloak_server, f"http://127.0.0.1:{port}/auth/callback")
    oidc = {"issuer": issuer, "client_id": "iam-console", "client_secret": {"env": "IAM_TEST_OIDC"}}
    with start_console(company, directory, tmp_path, port=port, oidc=oidc) as console:
        client = console.client()
        done = keycloak_login(client, client.get("/login/sso"), "ann", PASSWORDS["ann"])
        assert done.status_code == 303, done.text
        loopback_is_secure(client)  # Keycloak's own session cookie, set when the password was accepted
        silent = client.get(client.get("/login/sso").headers["location"])  # Keycloak still knows her
        assert silent.status_code == 302 and "/auth/callback?" in silent.headers["location"]
        assert client.get(silent.headers["location"]).status_code == 303
        token = re.search(r'name="csrf" value="([^"]+)"', client.get("/").text)
        assert token

        out = client.post("/logout", data={"csrf": token.group(1)})
        assert out.status_code == 303, out.text
        end = out.headers["location"]
        assert end.startswith(issuer + "/protocol/openid-connect/logout?") and "id_token_hint=" in end
        back = client.get(end)
        loopback_is_secure(client)
        assert back.status_code == 302 and back.headers["location"] == f"http://127.0.0.1:{port}/login"
        assert client.get("/").status_code == 303  # signed out of the console
        again = client.get(client.get("/login/sso").headers["location"])
        assert again.status_code == 200 and 'id="kc-form-login"' in again.text  # the password again
        assert [r["actor"] for r in console.audit() if r["event"] == "web.signout"] == ["web:ann"]
