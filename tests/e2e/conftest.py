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


HMAC = "hmac-shared-Secret-for-tests"


@pytest.fixture
def event_server(company: Path):
    """`iam serve`'s server in this process, with a clock the test sets."""
    import threading
    from datetime import UTC, datetime

    from iam.config import load_config
    from iam.runtime import Runtime
    from iam.server import EventServer
    from tests.conftest import PASSWORD_ENV
    from tests.support.slapd import ADMIN_PASSWORD

    data = yaml.safe_load(company.read_text())
    data["http"] = {"hmac_secret": {"env": "IAM_TEST_HMAC"}}
    company.write_text(yaml.safe_dump(data))
    config = load_config(company, environ={PASSWORD_ENV: ADMIN_PASSWORD, "IAM_TEST_HMAC": HMAC})
    clock = {"now": datetime(2026, 11, 22, 10, 0, tzinfo=UTC)}
    with Runtime(config) as rt:
        server = EventServer(("127.0.0.1", 0), rt, lambda: clock["now"])
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        yield server, clock
        server.shutdown()
        server.server_close()
