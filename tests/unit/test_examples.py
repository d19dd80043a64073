from pathlib import Path

import pytest

from iam.config import load_config

EXAMPLES = sorted((Path(__file__).parents[2] / "examples").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_configurations_are_valid(path: Path) -> None:
    env = {name: "example-secret" for name in ("IAM_LDAP_PASSWORD", "IAM_AD_PASSWORD", "KEYCLOAK_SECRET")}
    config = load_config(path, environ=env)
    assert config.systems


def test_there_are_examples() -> None:
    assert EXAMPLES
