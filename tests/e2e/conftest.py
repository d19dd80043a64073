"""Fixtures for end-to-end tests: the sample company on a real slapd."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.conftest import Directory
from tests.support.company import sample_policy


@pytest.fixture
def company(tmp_path: Path, directory: Directory, config_file: Path) -> Path:
    """The test directory holding the sample policy's groups, and a config with that policy."""
    sample_policy(directory, tmp_path)
    data = yaml.safe_load(config_file.read_text())
    data["policy"] = "policy.yaml"
    data["timezone"] = "UTC"
    config_file.write_text(yaml.safe_dump(data))
    return config_file
