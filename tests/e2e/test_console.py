"""The web console over HTTP on a real slapd: LDAP sign-in, sessions, CSRF, a manager's review.

The browser tests drive the same pages through Keycloak's login page; these
speak HTTP with httpx, as a browser without JavaScript does.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from tests.conftest import Directory
from tests.support.company import groups_of
from tests.support.console import HOSTILE, PASSWORDS, Console, start_console
from tests.support.slapd import BASE_DN


@pytest.fixture
def console(company: Path, directory: Directory, tmp_path: Path) -> Iterator[Console]:
    with start_console(company, directory, tmp_path) as running:
        yield running


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


def sign_in(console: Console, username: str, password: str | None = None) -> httpx.Client:
    client = console.client()
    token = csrf_of(client.get("/login").text)
    answer = client.post(
        "/login", data={"csrf": token, "username": username, "password": password or PASSWORDS[username]}
    )
    assert answer.status_code == 303, answer.text
    return client


def test_sign_in_by_ldap_bind_starts_an_httponly_samesite_session_behind_a_strict_csp(
    console: Console,
) -> None:
    client = console.client()
    page = client.get("/login")
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert "<script" not in page.text and "style=" not in page.text
    token = csrf_of(page.text)

    forged = client.post("/login", data={"username": "ann", "password": PASSWORDS["ann"]})
    wrong = client.post("/login", data={"csrf": token, "username": "ann", "password": "guess"})
    injected = client.post("/login", data={"csrf": token, "username": "ann,ou=x", "password": "x"})
    assert (forged.status_code, wrong.status_code, injected.status_code) == (403, 401, 401)
    assert "wrong username or password" in wrong.text
    assert client.get("/reviews").status_code == 303

    good = client.post("/login", data={"csrf": token, "username": "ann", "password": PASSWORDS["ann"]})
    assert good.status_code == 303 and good.headers["location"] == "/"
    cookie = good.headers["set-cookie"].lower()
    assert cookie.startswith("iam_session=") and "httponly" in cookie and "samesite=lax" in cookie
    assert client.get("/").status_code == 200
    records = console.audit()
    assert [(r["event"], r["actor"]) for r in records if r["event"].startswith("web.signin")][-1] == (
        "web.signin",
        "web:ann",
    )
    assert PASSWORDS["ann"] not in Path(console.server.rt.config.audit_log).read_text()


def test_a_manager_revokes_one_entitlement_and_keeps_the_rest_and_the_directory_shows_it(
    console: Console,
) -> None:
    client = sign_in(console, "ann")
    listing = client.get("/reviews")
    assert listing.status_code == 200
    campaign = console.campaigns["ann"]
    assert f"/reviews/{campaign}" in listing.text and console.campaigns["mo"] not in listing.text
    page = client.get(f"/reviews/{campaign}")
    assert page.status_code == 200
    auditors = re.search(r"cn=auditors,.*?</td>\s*<td[^>]*>(.*?)</td>", page.text, re.S)
    assert auditors and "no role names it" in auditors.group(1)  # the directory group the test added
    assert "role finance (birthright: department Finance)" in page.text
    revoke = re.search(r'name="(d\d+)" value="revoke" data-line="cal:[^"]*cn=sales,', page.text)
    assert revoke, page.text
    assert "sales" in groups_of(console.directory, "cal")

    done = client.post(
        f"/reviews/{campaign}",
        data={
            "csrf": csrf_of(page.text),
            revoke.group(1): "revoke",
            "bulk": "keep",
            "c0": "not in sales now",
        },
    )

    assert done.status_code == 200, done.text
    assert "complete" in done.text
    assert "sales" not in groups_of(console.directory, "cal") and "staff" in groups_of(
        console.directory, "cal"
    )
    assert "finance" in groups_of(console.directory, "bea")
    decisions = [r for r in console.audit() if r["event"] == "certification.decision"]
    assert decisions and {r["decided_by"] for r in decisions} == {"ann"}
    assert {r["actor"] for r in decisions} == {"web:ann"}
    assert [r["decision"] for r in decisions].count("revoke") == 1
    again = client.get(f"/reviews/{campaign}")
    assert 'value="revoke"' not in again.text  # every line decided: nothing left to choose


def test_another_managers_campaign_is_refused_and_nothing_is_decided(console: Console) -> None:
    client = sign_in(console, "ann")
    theirs = console.campaigns["mo"]
    token = csrf_of(client.get("/reviews").text)

    opened = client.get(f"/reviews/{theirs}")
    posted = client.post(f"/reviews/{theirs}", data={"csrf": token, "bulk": "revoke"})

    assert (opened.status_code, posted.status_code) == (403, 403)
    assert "pat" not in opened.text
    assert console.server.rt.store.get_certification(theirs)["decisions"] == {}
    assert "sales" in groups_of(console.directory, "pat")
    assert any(r["event"] == "web.forbidden" and r["actor"] == "web:ann" for r in console.audit())


def test_a_decision_without_the_forms_token_changes_nothing(console: Console) -> None:
    client = sign_in(console, "ann")
    campaign = console.campaigns["ann"]
    forged = client.post(f"/reviews/{campaign}", data={"bulk": "revoke"})
    assert forged.status_code == 403
    assert console.server.rt.store.get_certification(campaign)["decisions"] == {}
    assert "sales" in groups_of(console.directory, "cal")


def test_a_hostile_display_name_is_shown_as_text(console: Console) -> None:
    client = sign_in(console, "mo")
    page = client.get(f"/reviews/{console.campaigns['mo']}")
    assert page.status_code == 200
    assert HOSTILE not in page.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


def test_an_idle_session_ends_and_sign_out_ends_it_at_once(console: Console) -> None:
    client = sign_in(console, "ann")
    console.clock["now"] += timedelta(minutes=29)
    assert client.get("/reviews").status_code == 200
    console.clock["now"] += timedelta(minutes=31)
    expired = client.get("/reviews")
    assert expired.status_code == 303 and expired.headers["location"].startswith("/login")

    client = sign_in(console, "ann")
    token = csrf_of(client.get("/").text)
    assert client.post("/logout", data={"csrf": token}).status_code == 303
    assert client.get("/reviews").status_code == 303
    assert any(r["event"] == "web.signout" and r["actor"] == "web:ann" for r in console.audit())


def test_roles_come_from_the_directory_groups_named_in_the_config(console: Console) -> None:
    auditor = sign_in(console, "cal").get("/").text
    operator = sign_in(console, "ops").get("/").text
    assert "Your roles: auditor, reviewer" in auditor
    assert "Your roles: operator, reviewer" in operator


def test_a_dn_rule_gives_the_role_to_that_group_however_spelt_and_never_to_a_namesake_elsewhere(
    company: Path, directory: Directory, tmp_path: Path
) -> None:
    """Rules and groups were both cut to their first value: members of any group named
    ``it-ops``, wherever it was (a self-service branch), became operators."""
    # spelt otherwise than the server sends it back in memberOf
    roles = {"operator": {"groups": [f"CN=IT-Ops , OU=Groups,{BASE_DN.upper()}"]}}
    with start_console(company, directory, tmp_path, roles=roles) as console:
        conn = console.directory.slapd.admin()
        assert conn.add(
            f"ou=self-service,ou=people,{BASE_DN}", ["organizationalUnit"], {"ou": "self-service"}
        )
        namesake = {"cn": "it-ops", "member": [f"uid=ann,ou=people,{BASE_DN}"]}
        assert conn.add(f"cn=it-ops,ou=self-service,ou=people,{BASE_DN}", ["groupOfNames"], namesake)
        conn.unbind()

        operator = sign_in(console, "ops").get("/").text
        ann = sign_in(console, "ann").get("/").text

    assert "Your roles: operator, reviewer" in operator
    assert "Your roles: reviewer" in ann


def test_an_operator_offboards_after_typing_the_username_again_and_watches_it_complete(
    console: Console,
) -> None:
    from iam.lab.waiting import wait_for

    from tests.support.company import locked

    client = sign_in(console, "ops")
    form = client.get("/offboard")
    assert form.status_code == 200
    token = csrf_of(form.text)
    fields = {"csrf": token, "username": "bea", "reason": "resigned", "ticket": "HR-42"}
    plan = client.post("/offboard/plan", data=fields)
    assert plan.status_code == 200 and "Type <b>bea</b> again" in plan.text
    assert "finance" in plan.text  # the plan names what goes

    typo = client.post("/offboard/apply", data={**fields, "again": "bee"})
    assert typo.status_code == 400
    assert not [r for r in console.server.rt.store.list_runs("bea", 10) if r["kind"] == "offboard"]
    assert "finance" in groups_of(console.directory, "bea")

    started = client.post("/offboard/apply", data={**fields, "again": "bea"})
    assert started.status_code == 303
    job = started.headers["location"]
    page = wait_for(
        lambda: (
            (p := client.get(job, follow_redirects=True)).status_code == 200
            and 'id="verdict"' in p.text
            and p
        ),
        120,
        "the run's end",
    )
    assert "COMPLETE" in page.text and 'http-equiv="refresh"' not in page.text
    assert groups_of(console.directory, "bea") == set() and locked(console.directory, "bea")
    offboard = [r for r in console.server.rt.store.list_runs("bea", 10) if r["kind"] == "offboard"]
    assert [(r["status"], r["actor"], r["ticket"]) for r in offboard] == [("complete", "web:ops", "HR-42")]

    auditor = sign_in(console, "cal")
    home = auditor.get("/").text
    assert 'href="/runs"' in home and 'href="/offboard"' not in home
    assert auditor.get("/offboard").status_code == 403
    assert (
        auditor.post("/offboard/apply", data={**fields, "csrf": csrf_of(home), "again": "bea"}).status_code
        == 403
    )
    evidence = auditor.get(f"/runs/{offboard[0]['id']}/evidence")
    assert evidence.status_code == 200 and "Termination evidence: bea" in evidence.text
    assert sign_in(console, "ann").get("/runs").status_code == 403


def test_findings_show_the_latest_sweep_filtered_searched_and_what_is_new(console: Console) -> None:
    import ldap3

    from iam import sweep
    from tests.support.slapd import BASE_DN

    rt = console.server.rt
    sweep.sweep(rt, console.clock["now"])
    conn = console.directory.slapd.admin()
    sales = f"cn=sales,ou=groups,{BASE_DN}"
    assert conn.modify(sales, {"member": [(ldap3.MODIFY_ADD, [f"uid=bea,ou=people,{BASE_DN}"])]})
    sweep.sweep(rt, console.clock["now"] + timedelta(hours=1))
    client = sign_in(console, "cal")  # an auditor

    page = client.get("/findings")
    assert page.status_code == 200
    excess = re.search(r"<tr>\s*<td>excess</td>.*?</tr>", page.text, re.S)
    assert excess and "bea" in excess.group(0) and "cn=sales" in excess.group(0)
    assert 'class="badge">new<' in excess.group(0) and "Finance" in excess.group(0)
    assert "bea" not in client.get("/findings?type=orphan").text.split("<tbody>")[1]
    assert "cn=sales" in client.get("/findings?department=Finance&q=sales").text
    assert "No finding matches" in client.get("/findings?q=nobody-like-this").text
    assert sign_in(console, "ann").get("/findings").status_code == 403


def test_people_are_found_and_shown_with_what_they_hold_now_and_their_history(console: Console) -> None:
    client = sign_in(console, "ops")
    found = client.get("/people", params={"q": "sales"})
    assert found.status_code == 200 and 'href="/people/pat"' in found.text
    assert HOSTILE not in found.text and "&lt;script&gt;" in found.text

    person = client.get("/people/bea")
    assert person.status_code == 200
    assert "cn=finance" in person.text and "enabled" in person.text
    assert "joiner" in person.text  # her history: the run that created her
    assert client.get("/people/no%20such").status_code == 400


def test_overdue_campaigns_are_marked(console: Console) -> None:
    client = sign_in(console, "ann")
    assert "overdue" not in client.get("/reviews").text
    console.clock["now"] += timedelta(days=15)  # past the due date, nothing decided
    client = sign_in(console, "ann")
    assert 'class="badge">overdue<' in client.get("/reviews").text


def test_iam_serve_runs_the_console_alone_and_refuses_a_config_with_nothing_to_serve(
    company: Path, directory: Directory
) -> None:
    import signal
    import subprocess
    import sys

    import yaml

    from tests.conftest import iam_env, run_iam
    from tests.support.console import SESSION_SECRET, web_section
    from tests.support.slapd import free_port

    nothing = run_iam("--config", str(company), "serve", "--port", str(free_port()))
    assert nothing.returncode != 0 and "needs http.hmac_secret" in nothing.stderr and "web" in nothing.stderr
    assert "Traceback" not in nothing.stderr

    data = yaml.safe_load(company.read_text())
    data["web"] = web_section(directory)
    company.write_text(yaml.safe_dump(data))
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "iam", "--config", str(company), "serve", "--port", str(port)],
        env=iam_env({"IAM_TEST_SESSION": SESSION_SECRET}),
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert "listening on" in proc.stderr.readline()
        login = httpx.get(f"http://127.0.0.1:{port}/login", timeout=10)
        assert login.status_code == 200 and "default-src 'none'" in login.headers["content-security-policy"]
        assert httpx.post(f"http://127.0.0.1:{port}/events", content=b"{}", timeout=10).status_code == 404
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    assert code == 0


def test_a_reviewer_finds_only_their_own_people(console: Console) -> None:
    client = sign_in(console, "ann")
    found = client.get("/people", params={"q": "test"}).text
    assert 'href="/people/cal"' in found and 'href="/people/bea"' in found
    assert 'href="/people/pat"' not in found and 'href="/people/ops"' not in found
    assert client.get("/people/cal").status_code == 200
    assert client.get("/people/pat").status_code == 403
    assert client.get("/people/nobody").status_code == 403


def test_an_offboardings_page_is_read_from_the_journal_and_survives_a_restart_of_the_server(
    console: Console,
) -> None:
    import threading

    from iam.lab.waiting import wait_for

    from iam.web.server import WebServer

    client = sign_in(console, "ops")
    token = csrf_of(client.get("/offboard").text)
    fields = {"csrf": token, "username": "bea", "reason": "resigned", "ticket": "HR-7", "again": "bea"}
    job = client.post("/offboard/apply", data=fields).headers["location"]
    run_page = wait_for(
        lambda: (a := client.get(job)).status_code == 303 and a.headers["location"], 120, "the run's id"
    )
    assert run_page.startswith("/offboard/runs/")
    wait_for(lambda: 'id="verdict"' in client.get(run_page).text, 120, "the run's end")

    console.server.shutdown()
    console.server.server_close()
    again = WebServer(("127.0.0.1", 0), console.server.rt, lambda: console.clock["now"])
    threading.Thread(target=again.serve_forever, daemon=True).start()
    try:
        console.server = again
        client = sign_in(console, "ops")
        page = client.get(run_page)
        assert page.status_code == 200 and "COMPLETE" in page.text and "Offboarding bea" in page.text
        assert 'http-equiv="refresh"' not in page.text and "cn=finance" in page.text  # its steps
        gone = client.get(job)
        assert gone.status_code == 404 and "see its run under Runs" in gone.text
        assert client.get("/offboard/runs/not-a-run").status_code == 404
        assert sign_in(console, "cal").get(run_page).status_code == 403
    finally:
        again.shutdown()
        again.server_close()


def test_review_lines_show_the_last_login_the_directory_records(console: Console) -> None:
    from iam import certify

    sign_in(console, "cal")  # a bind: slapd's lastbind overlay records it
    campaign = certify.export(console.server.rt, "ann", console.clock["now"])
    page = sign_in(console, "ann").get(f"/reviews/{campaign.id}")
    assert page.status_code == 200 and '<th scope="col">Last login</th>' in page.text
    people = page.text.split('<fieldset class="person">')[1:]
    rows = {
        who: re.findall(r'<td class="last-login">(.*?)</td>', part)
        for who in ("bea", "cal")
        for part in people
        if f'<span class="meta">({who})</span>' in part
    }
    assert rows["cal"] and all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", cell) for cell in rows["cal"])
    assert rows["bea"] and all("not recorded" in cell for cell in rows["bea"])  # never signed in
    assert [i.last_login is not None for i in campaign.items if i.username == "cal"] == [True] * len(
        rows["cal"]
    )


def test_a_system_that_cannot_be_read_is_said_so_on_the_people_page_never_no_access(
    console: Console,
) -> None:
    client = sign_in(console, "ops")
    console.directory.slapd.stop()  # the directory is gone; the console (its own store) is not
    page = client.get("/people/bea")
    assert page.status_code == 200
    rows = re.findall(r"<tr><td>(\w+) <span.*?</tr>", page.text, re.S)
    assert rows, page.text
    row = re.search(r"<tr><td>directory <span.*?</tr>", page.text, re.S)
    assert row and "could not be read" in row.group(0), page.text
    assert "no access" not in row.group(0) and "no account" not in row.group(0)
    assert "enabled" not in row.group(0) and "cn=finance" not in row.group(0)


def test_an_offboarding_a_restart_cut_short_says_so_and_does_not_refresh_forever(console: Console) -> None:
    # journaled as running, and no thread of this server runs it: what a restart mid-run leaves
    run_id = console.server.rt.store.create_run("offboard", "bea", "resigned", False, [], {})["id"]
    page = sign_in(console, "ops").get(f"/offboard/runs/{run_id}")
    assert page.status_code == 200 and 'id="abandoned"' in page.text and "iam resume" in page.text
    assert 'http-equiv="refresh"' not in page.text and 'id="verdict"' not in page.text
