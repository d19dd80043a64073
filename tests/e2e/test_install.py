"""The package as a user installs it: everything under the `iam` name, the core beneath the rest,
and a fresh `pip install .` that runs the demo on all four systems from anywhere."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
#: Folders installed under the iam name, and the name each gets.
MAPPED = {"connectors": "iam.connectors", "lab": "iam.lab"}
#: What the core never imports: it reaches connectors by entry point, and knows nothing of the lab or tests.
ABOVE_THE_CORE = ("iam.connectors", "iam.lab", "connectors", "lab", "tests")


def test_every_package_folder_is_installed_under_the_iam_name() -> None:
    declared = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {"iam"}
    for folder, name in MAPPED.items():
        for init in (REPO / folder).rglob("__init__.py"):
            parts = init.parent.relative_to(REPO / folder).parts
            found.add(".".join((name, *parts)))
    assert found <= declared, f"add to [tool.setuptools] packages: {sorted(found - declared)}"
    assert not {p for p in declared if p.split(".")[0] in ("connectors", "lab", "tests")}


def test_the_core_imports_nothing_above_it() -> None:
    upward = []
    for path in sorted((REPO / "iam").rglob("*.py")):  # with its subpackages (iam.web)
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            upward += [
                f"{path.relative_to(REPO)}:{node.lineno} {n}"
                for n in names
                if any(n == top or n.startswith(top + ".") for top in ABOVE_THE_CORE)
            ]
    assert upward == []


def test_a_fresh_install_runs_the_demo_on_all_four_systems(tmp_path: Path) -> None:
    """Not editable, from a directory that is not the checkout: nothing borrowed from the source tree."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    install = subprocess.run(
        [str(venv / "bin/pip"), "install", "-q", str(REPO)], capture_output=True, text=True, timeout=600
    )
    assert install.returncode == 0, install.stdout[-2000:] + install.stderr[-2000:]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IAM_", "PYTHON"))}

    result = subprocess.run(
        [str(venv / "bin/iam"), "demo", "--workdir", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
    )

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    out = result.stdout
    assert str(REPO) not in out  # the lab came from site-packages, not the checkout
    assert "SSO: Keycloak Admin API emulator" in out and "badges: Lenel OpenAccess emulator" in out
    assert "offboard ada: COMPLETE" in out
    if os.geteuid() == 0 or os.environ.get("CI"):  # a VPN namespace needs root (or user namespaces)
        assert "VPN: OpenVPN server in network namespace" in out
