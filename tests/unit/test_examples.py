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


def test_sample_company_shows_policy_acknowledgement_most_signed_a_few_not() -> None:
    from datetime import date

    from iam.acknowledgement import findings
    from iam.hr import read_feed, validate_people
    from iam.policy import load_policy

    records, source = read_feed(ROOT / "company/hr-feed.csv")
    people, _ = validate_people(records, source, {})
    policy = load_policy(ROOT / "company/policy.yaml")
    assert policy.acknowledgement is not None and policy.acknowledgement.version == "2026-01"
    by_name = {p.username: p for p in people}
    unsigned = {"tshannon", "fliskov", "mlovelace2", "sshannon2"}
    assert {p.username for p in people if p.policy_ack_version != "2026-01"} == unsigned

    assert findings(by_name, policy, date(2026, 1, 15)) == []  # in the grace period: nobody reported
    late = findings(by_name, policy, date(2026, 11, 22))
    assert {f.account for f in late} == unsigned
    assert policy.withheld(by_name["tshannon"], date(2026, 11, 22)) == {"finance"}  # an accountant
    assert "finance" in policy.roles_of(by_name["hberners"], date(2026, 11, 22))  # signed, keeps it
