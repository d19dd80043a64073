"""`iam demo`: joiner → mover → leaver on a built-in sample company.

The directory is ldap3's in-memory server (MOCK_SYNC) loaded with a small
company; SSO and badges are the Keycloak and OpenAccess emulators when the
source checkout is at hand (`iam.lab.systems`); the VPN is a real OpenVPN
server when this machine can run one (`iam.lab.openvpn`). The demo runs the
same engine, store, audit log and connectors as a real deployment. MOCK_SYNC
has no ppolicy or overlays, so the directory part is a demo, never proof:
the tests use a real slapd.
"""

from __future__ import annotations

import shutil
import sys
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import ldap3
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from iam.connectors.ldap import LdapConnector
from iam.lab.systems import (
    DemoSystems,
    log_in,
    start_pacs,
    start_sso,
    start_vpn,
    swipe,
    vpn_connect,
    vpn_refused,
)
from rich.console import Console

from iam import export, lifecycle, retention_schedule, runs, suspension
from iam.config import AuditSettings, Config, SystemConfig
from iam.errors import InputError
from iam.report import EventOutcome
from iam.runtime import Runtime
from iam.secrets import Secret

BASE = "dc=example,dc=org"
ADMIN = f"cn=admin,{BASE}"
COMPANY = [
    ("grace", "Grace", "Hopper", "Engineering"),
    ("linus", "Linus", "Torvalds", "Engineering"),
    ("mary", "Mary", "Jackson", "Finance"),
    ("alan", "Alan", "Turing", "Research"),
    ("joan", "Joan", "Clarke", "Finance"),
]
GROUPS = {  # cn: (objectClass, members)
    "staff": ("groupOfNames", ["grace", "linus", "mary", "alan", "joan"]),
    "engineering": ("groupOfNames", ["grace", "linus"]),
    "finance": ("groupOfUniqueNames", ["mary", "joan"]),
    "developers": ("posixGroup", ["grace", "linus"]),
    "payroll-approvers": ("groupOfNames", ["joan"]),
}


def _group(cn: str) -> str:
    return f"group:cn={cn},ou=groups,{BASE}"


DEMO_POLICY = {
    "roles": {
        "staff": {
            "entitlements": {
                "directory": [_group("staff")],
                "sso": ["realm-role:employee", "realm-role:default-roles-example"],
                "badges": ["access-level:HQ Main Entrance"],
                "vpn": ["vpn:access"],
            }
        },
        "engineering": {
            "entitlements": {
                "directory": [_group("engineering"), _group("developers")],
                "sso": ["group:/engineering"],
            }
        },
        "finance": {
            "entitlements": {
                "directory": [_group("finance")],
                "sso": ["group:/finance"],
                "badges": ["access-level:Finance Floor"],
            }
        },
        "payroll-approver": {"entitlements": {"directory": [_group("payroll-approvers")]}},
    },
    "birthright": [
        {"role": "staff", "when": {"kind": ["employee"]}},
        {"role": "engineering", "when": {"department": ["Engineering"]}},
        {"role": "finance", "when": {"department": ["Finance"]}},
        {"role": "payroll-approver", "when": {"title": ["Finance Manager"]}},
    ],
}
ADA = {
    "hr_id": "E2001",
    "username": "ada",
    "given_name": "Ada",
    "family_name": "Lovelace",
    "email": "ada@example.org",
    "department": "Engineering",
    "title": "Engineer",
    "manager": "grace",
    "kind": "employee",
    "status": "active",
    "site": "HQ",
}


def sample_directory(password: str) -> ldap3.Connection:
    """An in-memory directory holding the sample company."""
    server = ldap3.Server("demo-directory", get_info=ldap3.NONE)
    conn = ldap3.Connection(server, ADMIN, password, client_strategy=ldap3.MOCK_SYNC)
    conn.strategy.add_entry(ADMIN, {"userPassword": password, "sn": "admin", "objectClass": ["person"]})
    for ou in ("people", "groups", "leavers", "policies"):
        conn.strategy.add_entry(f"ou={ou},{BASE}", {"ou": ou, "objectClass": ["organizationalUnit"]})
    # What a slapd whose ppolicy locks accounts holds (MOCK_SYNC enforces none of it):
    # a default policy with pwdLockout, named by the overlay in cn=config.
    policy = f"cn=default,ou=policies,{BASE}"
    conn.strategy.add_entry(policy, {"cn": "default", "pwdLockout": "TRUE", "objectClass": ["pwdPolicy"]})
    conn.strategy.add_entry(
        "olcDatabase={1}mdb,cn=config", {"olcSuffix": BASE, "objectClass": ["olcMdbConfig"]}
    )
    conn.strategy.add_entry(
        "olcOverlay={0}ppolicy,olcDatabase={1}mdb,cn=config",
        {"olcPPolicyDefault": policy, "objectClass": ["olcPPolicyConfig"]},
    )
    for uid, given, family, dept in COMPANY:
        conn.strategy.add_entry(
            f"uid={uid},ou=people,{BASE}",
            {
                "uid": uid,
                "givenName": given,
                "sn": family,
                "cn": f"{given} {family}",
                "departmentNumber": dept,
                "objectClass": ["inetOrgPerson"],
                "userPassword": f"{uid}-pw-1",
            },
        )
    for cn, (cls, members) in GROUPS.items():
        attr = {"groupOfNames": "member", "groupOfUniqueNames": "uniqueMember", "posixGroup": "memberUid"}[
            cls
        ]
        values = members if cls == "posixGroup" else [f"uid={m},ou=people,{BASE}" for m in members]
        conn.strategy.add_entry(f"cn={cn},ou=groups,{BASE}", {"cn": cn, "objectClass": [cls], attr: values})
    conn.bind()
    return conn


#: Marks a directory `iam demo` made; it lists what the demo wrote there.
WORKDIR_MARKER = ".iam-demo"
#: What the demo writes in its directory (and all a rerun may remove).
DEMO_FILES = (
    "policy.yaml",
    "iam.db",
    "iam.db-wal",
    "iam.db-shm",
    "iam-audit.jsonl",
    "vpn-profiles",
    "audit-signing.key",
    "audit-public.pem",
    "ada-evidence.html",
    WORKDIR_MARKER,
)
PUBLIC_KEY = "audit-public.pem"
EVIDENCE = "ada-evidence.html"


def _signing_key(workdir: Path) -> Secret:
    """A throwaway Ed25519 key that seals the demo's audit log (a real site keeps its own, secret)."""
    key = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path = workdir / "audit-signing.key"
    path.write_bytes(key)
    path.chmod(0o600)
    return Secret(key.decode(), f"file:{path}")


def prepare_workdir(workdir: Path) -> None:
    """An empty directory for the demo, never at the cost of a user's files.

    A new or empty directory is used as it is. One a previous demo made (it
    holds the marker) loses only the demo's own files. Anything else that is
    not empty is refused: iam deletes nothing it did not create.
    """
    if workdir.exists() and not workdir.is_dir():
        raise InputError(f"--workdir {workdir}: exists and is not a directory; name a new or empty one")
    if workdir.is_dir() and any(workdir.iterdir()):
        if not (workdir / WORKDIR_MARKER).is_file():
            raise InputError(
                f"--workdir {workdir}: not empty, and not made by `iam demo`; nothing was deleted. "
                "Name a new or empty directory"
            )
        for name in DEMO_FILES:
            path = workdir / name
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            elif path.exists() or path.is_symlink():
                path.unlink()
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / WORKDIR_MARKER).write_text(
        "made by `iam demo`; a rerun removes only these: " + " ".join(DEMO_FILES) + "\n", encoding="utf-8"
    )


def run_demo(workdir: Path, out: Console) -> int:
    """Tell the story; returns the exit code (0 when every step verified)."""
    from iam import render

    prepare_workdir(workdir)
    (workdir / "policy.yaml").write_text(yaml.safe_dump(DEMO_POLICY, sort_keys=False))
    password = Secret("demo-admin-" + "pw", "demo")
    directory = sample_directory(password.reveal())
    settings = {
        "url": "ldap://demo-directory",
        "base_dn": BASE,
        "bind_dn": ADMIN,
        "bind_password": password,
        "users_dn": f"ou=people,{BASE}",
        "groups_dn": f"ou=groups,{BASE}",
        "leavers_dn": f"ou=leavers,{BASE}",
    }
    with ExitStack() as stack:
        systems = DemoSystems(
            connectors={"directory": LdapConnector("directory", settings, lambda: directory)},
            types={"directory": "ldap"},
            notes=["directory: ldap3's in-memory server, a sample company"],
        )
        start_sso(stack, systems)
        start_pacs(stack, systems)
        start_vpn(stack, systems, workdir)
        for note in systems.notes:
            out.print(f"[dim]{note}[/dim]")
        config = Config(
            path=None,
            store=str(workdir / "iam.db"),
            audit_log=str(workdir / "iam-audit.jsonl"),
            audit=AuditSettings(signing_key=_signing_key(workdir)),
            systems=tuple(SystemConfig(n, t, _retention(n)) for n, t in systems.types.items()),
            policy=str(workdir / "policy.yaml"),
        )
        with Runtime(config, connectors=systems.connectors) as rt:
            failures = _tell(rt, systems, out, render, workdir)
            failures += _retention_ends(rt, out)
            _chapter(out, "4. Evidence")
            out.print(render.status_table(runs.status(rt, "ada")))
            verify = rt.audit.verify()
            out.print(
                f"Audit log {config.audit_log}: {verify.records} records, "
                f"{'chain intact' if verify.ok else 'TAMPERED'}"
            )
            out.print(f"Runs and step journal (SQLite): {config.store}")
            out.print(f"Policy used: {config.policy}")
            failures += not verify.ok
            assert rt.audit.signer is not None
            (workdir / PUBLIC_KEY).write_text(rt.audit.signer.public_pem(), encoding="utf-8")
        with Runtime(
            config, connectors=systems.connectors
        ) as rt:  # a new command: the leaver's run is sealed
            pack = runs.evidence(rt, username="ada")
        (workdir / EVIDENCE).write_text(export.evidence_html(pack), encoding="utf-8")
        out.print(f"Ada's evidence pack, for an auditor (prints on A4): {workdir / EVIDENCE}")
        out.print(
            f"An auditor checks the log with the public key alone: "
            f"{iam_command()} audit verify --log {config.audit_log} --public-key {workdir / PUBLIC_KEY}"
        )
    return 0 if failures == 0 else 3


def iam_command() -> str:
    """How to run this iam from a shell: `iam` when that is the one on PATH, else its path
    (scripts/demo installs iam in .venv, which is on no PATH until it is activated)."""
    script = Path(sys.argv[0])
    if script.name != "iam":  # python -m iam
        script = Path(sys.executable).with_name("iam")
    found = shutil.which("iam")
    if found and Path(found).resolve() == script.resolve():
        return "iam"
    return str(script) if script.is_file() else f"{sys.executable} -m iam"


def _chapter(out: Console, title: str) -> None:
    """A chapter's heading rule, as wide as a terminal at most: a console that never cuts values
    (not a terminal) is 10,000 columns wide, and a rule would fill it."""
    from rich.rule import Rule

    out.print(Rule(title), width=min(out.width, 100))


def _tell(rt: Runtime, systems: DemoSystems, out: Console, render: Any, workdir: Path) -> int:
    chapters: list[tuple[str, dict[str, Any]]] = [
        (
            "1. Joiner: HR hires Ada Lovelace into Engineering",
            {"type": "joiner", "person": ADA, "reason": "new hire"},
        ),
        (
            "2. Mover: Ada moves to Finance (engineering access goes, finance access comes, in one run)",
            {"type": "mover", "person": {**ADA, "department": "Finance", "title": "Accountant"}},
        ),
        (
            "3. Leaver: Ada leaves; every access is removed and read back",
            {"type": "leaver", "username": "ada", "immediate": True, "reason": "resigned"},
        ),
    ]
    failures = 0
    for title, event in chapters:
        _chapter(out, title)
        if event["type"] == "leaver":
            for note in (log_in(systems, "ada"), swipe(systems)):
                if note:
                    out.print(note)
            out.print(render.status_table(runs.status(rt, "ada")))
        report = lifecycle.submit(rt, {"events": [event]}, "demo", datetime.now(UTC))
        outcome = report.events[0]
        run = outcome.run
        assert run is not None, outcome.error
        out.print(f"roles from policy: {', '.join(_roles(rt, outcome)) or 'none (leaver)'}")
        out.print(render.steps_table(run))
        out.print(render.report_table(run))
        failures += run.status != "complete"
        if event["type"] == "mover":
            failures += _incident(rt, systems, out, render, workdir)
        if event["type"] == "joiner" and run.status == "complete":
            note = vpn_connect(systems, "ada", workdir)
            if note:
                out.print(note)
                failures += "could NOT connect" in note
        door = swipe(systems)
        if door and event["type"] == "leaver":
            out.print(f"after offboarding, {door}")
            failures += "DENIED" not in door
        refused = vpn_refused(systems, "ada") if event["type"] == "leaver" else None
        if refused:
            out.print(f"after offboarding, {refused}")
            failures += "REFUSED" not in refused
    return failures


#: The demo directory deletes a leaver's entry this long after the termination.
RETENTION_DAYS = 30


def _retention(system: str) -> dict[str, Any]:
    return {"retention": {"delete_after_days": RETENTION_DAYS}} if system == "directory" else {}


def _incident(rt: Runtime, systems: DemoSystems, out: Console, render: Any, workdir: Path) -> int:
    """Ada's laptop is stolen: her access is suspended at once, then restored as it was."""
    _chapter(out, "Incident: Ada's laptop is stolen; her access is suspended at once, then restored")
    cut = suspension.suspend(rt, "ada", "incident INC-42: laptop stolen")
    out.print(render.steps_table(cut))
    out.print(render.report_table(cut))
    failures = int(cut.status != "complete")
    door = swipe(systems)
    if door:
        out.print(f"while suspended, {door}")
        failures += "DENIED" not in door
    back = suspension.restore(rt, "ada", "INC-42 closed: laptop found, nothing misused", datetime.now(UTC))
    out.print(render.steps_table(back))
    out.print(render.report_table(back))
    failures += back.status != "complete"
    door = swipe(systems)
    if door:
        out.print(f"after the restore, {door}")
        failures += "GRANTED" not in door
    note = vpn_connect(systems, "ada", workdir)  # the restore issued a new certificate and profile
    if note:
        out.print(f"after the restore, {note}")
        failures += "could NOT connect" in note
    return failures


def _retention_ends(rt: Runtime, out: Console) -> int:
    """The directory's retention: Ada's entry is deleted once it ends (a simulated clock)."""
    _chapter(
        out, f"Retention: the directory deletes a leaver's entry {RETENTION_DAYS} days after the termination"
    )
    scheduled = retention_schedule.scheduled(rt.config, rt.store, "ada")
    if not scheduled:
        out.print("no delete is scheduled for ada")
        return 1
    due = scheduled[0].due
    out.print(f"ada's directory entry is due for deletion on {due:%Y-%m-%d %H:%M} UTC")
    early = lifecycle.run_due(rt, due - timedelta(days=1))
    out.print(f"iam run-due --now {due - timedelta(days=1):%Y-%m-%d}: {len(early.deletions)} deletion(s)")
    later = lifecycle.run_due(rt, due + timedelta(minutes=1))
    done = [d for d in later.deletions if d.username == "ada"]
    for d in done:
        out.print(
            f"iam run-due --now {due + timedelta(minutes=1):%Y-%m-%d}: {d.username} {d.status} in "
            f"{', '.join(d.systems)} (run {d.run_id})"
        )
    return int(early.deletions != [] or [d.status for d in done] != ["deleted"])


def _roles(rt: Runtime, outcome: EventOutcome) -> list[str]:
    if outcome.type == "leaver":
        return []
    identity = lifecycle.known_identities(rt)["E2001"]
    return sorted(lifecycle.policy_of(rt).roles_of(identity, datetime.now(UTC).date()))
