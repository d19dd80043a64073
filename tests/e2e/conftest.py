"""Fixtures for end-to-end tests: the sample company on a real slapd."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from iam.policy import load_policy
from tests.conftest import Directory
from tests.support.company import EXAMPLES
from tests.support.slapd import add_policy_groups


@pytest.fixture
def company(tmp_path: Path, directory: Directory, config_file: Path) -> Path:
    """The test directory holding the sample policy's groups, and a config with that policy."""
    policy_path = tmp_path / "policy.yaml"
    shutil.copy(EXAMPLES / "policy.yaml", policy_path)
    groups = sorted(
        {
            e.value
            for r in load_policy(policy_path).roles.values()
            for ents in r.entitlements.values()
            for e in ents
        }
    )
    conn = directory.slapd.admin()
    add_policy_groups(conn, groups)
    conn.unbind()
    data = yaml.safe_load(config_file.read_text())
    data["policy"] = "policy.yaml"
    data["timezone"] = "UTC"
    config_file.write_text(yaml.safe_dump(data))
    return config_file
