from pathlib import Path

import pytest

from iam.config import load_config

ROOT = Path(__file__).parents[2] / "examples"
EXAMPLES = [*sorted(ROOT.glob("*.yaml")), ROOT / "company/iam.yaml"]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_configurations_are_valid(path: Path) -> None:
    env = {
        name: "example-secret"
        for name in (
            "IAM_LDAP_PASSWORD",
            "IAM_AD_PASSWORD",
            "KEYCLOAK_SECRET",
            "IAM_HMAC_SECRET",
            "IAM_KEYCLOAK_SECRET",
            "IAM_WIKI_SCIM_TOKEN",
            "IAM_CHAT_CLIENT_SECRET",
            "SEAM_API_KEY",
        )
    }
    config = load_config(path, environ=env)
    assert config.systems


def test_there_are_examples() -> None:
    assert EXAMPLES


def test_sample_company_feed_is_valid_against_the_policy() -> None:
    from iam.hr import read_feed, validate_people
    from iam.policy import load_policy

    records, source = read_feed(ROOT / "company/hr-feed.csv")
    people, errors = validate_people(records, source, {})
    assert errors == [] and len(people) == 300
    policy = load_policy(ROOT / "company/policy.yaml")
    today = __import__("datetime").date(2026, 11, 22)
    for person in people:
        desired = policy.desired(person, today, ["directory"])
        assert desired["directory"].account and desired["directory"].entitlements
