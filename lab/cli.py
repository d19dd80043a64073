"""The lab's commands, added to `iam` through the ``iam.commands`` entry points."""

from __future__ import annotations

import signal
import sys
import threading
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import click

WORKDIR = click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("iam-demo"),
    show_default=True,
    help="Where the demo's store, audit log and VPN profiles are written.",
)


@click.command()
@WORKDIR
def demo(workdir: Path) -> None:
    """Joiner, mover and leaver on the lab's systems: nothing to install."""
    from iam.lab.demo import run_demo

    from iam import render

    sys.exit(run_demo(workdir, render.console()))


@click.group()
def lab() -> None:
    """The lab: emulators of Keycloak and Lenel OpenAccess, and a real OpenVPN server, to try iam on."""


@lab.command("up")
@click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("iam-lab"),
    show_default=True,
    help="Where the lab writes iam.yaml, its secrets and the VPN's files.",
)
def lab_up(workdir: Path) -> None:
    """Run the lab's systems until Ctrl-C, and write an iam.yaml that reaches them.

    The Keycloak emulator holds realm `example` with user `ada`; the
    OpenAccess emulator holds Ada's badge 7001 and a door; the VPN is a real
    OpenVPN server where this machine can run one (root, or unprivileged user
    namespaces).
    """
    from iam.lab.demo import prepare_workdir
    from iam.lab.systems import DemoSystems, start_pacs, start_sso, start_vpn

    from iam import render

    prepare_workdir(workdir)
    stopped = threading.Event()
    with ExitStack() as stack:
        systems = DemoSystems()
        start_sso(stack, systems)
        start_pacs(stack, systems)
        start_vpn(stack, systems, workdir.resolve())
        config = write_config(workdir.resolve(), systems)
        out = render.console()
        for note in systems.notes:
            out.print(note)
        out.print(f"\nwrote {config}; try:")
        for command in ("connectors check", "status ada"):
            out.print(f"  iam --config {config} {command}")
        out.print("Ctrl-C stops the lab.")
        previous = {
            sig: signal.signal(sig, lambda *_: stopped.set()) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            stopped.wait()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    click.echo("lab stopped", err=True)


def write_config(workdir: Path, systems: Any) -> Path:
    """An iam.yaml for the lab's systems; each secret in a file of its own (mode 0600) beside it."""
    import yaml

    from iam.secrets import Secret

    secrets_dir = workdir / "secrets"
    secrets_dir.mkdir(mode=0o700, exist_ok=True)
    blocks: dict[str, dict[str, Any]] = {}
    for name, settings in systems.settings.items():
        block: dict[str, Any] = {"type": systems.types[name]}
        for key, value in settings.items():
            if isinstance(value, Secret):
                path = secrets_dir / f"{name}-{key}"
                path.write_text(value.reveal(), encoding="utf-8")
                path.chmod(0o600)
                value = {"file": str(path.resolve())}
            elif isinstance(value, Path):
                value = str(value)
            block[key] = value
        blocks[name] = block
    config = workdir / "iam.yaml"
    document = {"store": "iam.db", "audit_log": "iam-audit.jsonl", "systems": blocks}
    config.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return config


@lab.group("directory")
def lab_directory() -> None:
    """A local OpenLDAP slapd holding the sample company's directory, for the README's walk-through."""


DIRECTORY_WORKDIR = click.option(
    "--workdir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("iam-directory"),
    show_default=True,
    help="Where the directory's configuration, data, pid and admin password live.",
)


@lab_directory.command("start")
@DIRECTORY_WORKDIR
@click.option(
    "--ldif",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("directory.ldif"),
    show_default=True,
    help="Entries loaded on the first start (examples/company/directory.ldif: OUs and the policy's groups).",
)
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=3890,
    show_default=True,
    help="Port on 127.0.0.1 (examples/company/iam.yaml reaches it on 3890).",
)
def lab_directory_start(workdir: Path, ldif: Path, port: int) -> None:
    """Start slapd in the background on 127.0.0.1 (plain LDAP); the admin password: WORKDIR/admin-password."""
    from iam.lab import directory

    url = directory.start(workdir, ldif, port)
    lab = directory.LabDirectory(workdir)
    click.echo(f"slapd listens on {url} (pid {lab.pid()}), bind as {directory.ADMIN_DN}")
    click.echo(f"its password: export IAM_LDAP_PASSWORD=$(cat {lab.password_file})")
    click.echo(f"stop it: iam lab directory stop --workdir {workdir}")


@lab_directory.command("stop")
@DIRECTORY_WORKDIR
def lab_directory_stop(workdir: Path) -> None:
    """Stop the lab directory started from WORKDIR (by its pid); its data stays for the next start."""
    from iam.lab import directory

    pid = directory.stop(workdir)
    click.echo(f"stopped slapd (pid {pid})" if pid else f"no lab directory runs from {workdir}", err=True)
