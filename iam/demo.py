"""`iam demo`: joiner → mover → leaver on a built-in sample company.

Nothing to install: the directory is ldap3's in-memory server (MOCK_SYNC)
loaded with a small company. The demo runs the same engine, store, audit log
and LDAP connector as a real deployment; only the directory is simulated
(MOCK_SYNC has no ppolicy or overlays, so it is a demo, never proof: the
tests use a real slapd).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import ldap3
from rich.console import Console

from connectors.ldap import LdapConnector
from iam import runs
from iam.config import Config, SystemConfig
from iam.model import DesiredAccount, Entitlement, Identity
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


def _group(cn: str) -> Entitlement:
    return Entitlement("group", f"cn={cn},ou=groups,{BASE}")


def sample_directory(password: str) -> ldap3.Connection:
    """An in-memory directory holding the sample company."""
    server = ldap3.Server("demo-directory", get_info=ldap3.NONE)
    conn = ldap3.Connection(server, ADMIN, password, client_strategy=ldap3.MOCK_SYNC)
    conn.strategy.add_entry(ADMIN, {"userPassword": password, "sn": "admin", "objectClass": ["person"]})
    for ou in ("people", "groups", "leavers"):
        conn.strategy.add_entry(f"ou={ou},{BASE}", {"ou": ou, "objectClass": ["organizationalUnit"]})
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


def run_demo(workdir: Path, out: Console) -> int:
    """Tell the story; returns the exit code (0 when every step verified)."""
    from iam import render

    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
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
    connector = LdapConnector("directory", settings, connection_factory=lambda: directory)
    config = Config(
        path=None,
        store=str(workdir / "iam.db"),
        audit_log=str(workdir / "iam-audit.jsonl"),
        systems=(SystemConfig("directory", "ldap", settings),),
    )
    ada = Identity("ada", "Ada", "Lovelace", "ada@example.org", "Engineering", "Engineer")
    failures = 0
    with Runtime(config, connectors={"directory": connector}) as rt:
        chapters = [
            (
                "1. Joiner: Ada Lovelace starts in Engineering",
                lambda: runs.provision(
                    rt,
                    "joiner",
                    "ada",
                    {
                        "directory": DesiredAccount(
                            frozenset({_group("staff"), _group("engineering"), _group("developers")}),
                            ada.attributes(),
                        )
                    },
                    "HR: new hire",
                ),
            ),
            (
                "2. Mover: Ada moves to Finance (engineering access goes, finance access comes)",
                lambda: runs.provision(
                    rt,
                    "mover",
                    "ada",
                    {
                        "directory": DesiredAccount(
                            frozenset({_group("staff"), _group("finance")}), ada.attributes()
                        )
                    },
                    "HR: department change",
                ),
            ),
            (
                "3. Leaver: Ada leaves; every access is removed and verified",
                lambda: runs.offboard(rt, "ada", "resigned"),
            ),
        ]
        for title, action in chapters:
            out.rule(title)
            report = action()
            out.print(render.steps_table(report))
            out.print(render.report_table(report))
            failures += report["status"] != "complete"
        out.rule("4. Evidence")
        status = runs.status(rt, "ada")
        out.print(render.status_table(status))
        verify = rt.audit.verify()
        out.print(
            f"Audit log {config.audit_log}: {verify.records} records, "
            f"{'chain intact' if verify.ok else 'TAMPERED'}"
        )
        out.print(f"Runs and step journal (SQLite): {config.store}")
        failures += not verify.ok
    return 0 if failures == 0 else 3
