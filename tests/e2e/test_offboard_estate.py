"""`iam offboard` across the estate: the directory (slapd), a SaaS application (SCIM) and the doors (Seam).

The CLI runs as a separate process on one configuration naming all three;
afterwards each system is looked at from outside, with its own means: an
admin LDAP connection, the SCIM server's own API, Seam's API with the
workspace's key.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.conftest import Directory, iam_env, run_iam
from tests.support import schemas
from tests.support.company import BASE_FEED, NOW, groups_of, locked, sample_policy, write_feed
from tests.support.scim import TOKEN, ScimAdmin, ScimServer
from tests.support.seam import FakeSeam, SeamAdmin

SCIM_TOKEN_ENV = "IAM_TEST_SCIM_TOKEN"
SEAM_KEY_ENV = "IAM_TEST_SEAM_KEY"


@dataclass
class Estate:
    config: Path
    scim: ScimAdmin
    seam: SeamAdmin
    scim_ids: dict[str, str]
    scim_groups: dict[str, str]
    seam_ids: dict[str, str]
    seam_key: str

    def env(self) -> dict[str, str]:
        return iam_env({SCIM_TOKEN_ENV: TOKEN, SEAM_KEY_ENV: self.seam_key})


@pytest.fixture
def scim_server(tmp_path: Path) -> Iterator[ScimServer]:
    server = ScimServer(tmp_path / "scim")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def fake_seam(tmp_path: Path) -> Iterator[FakeSeam]:
    server = FakeSeam(tmp_path / "seam")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def estate(directory: Directory, config_file: Path, scim_server: ScimServer, fake_seam: FakeSeam) -> Estate:
    """alice and bob in all three systems; alice holds more than bob everywhere."""
    scim = scim_server.admin()
    scim_ids = {u: scim.add_user(u) for u in ("alice", "bob")}
    scim_groups = {
        "eng": scim.add_group("eng", [scim_ids["alice"], scim_ids["bob"]]),
        "admins": scim.add_group("admins", [scim_ids["alice"]]),
    }
    seam = fake_seam.admin()
    assert fake_seam.seed
    groups = fake_seam.seed.access_groups
    seam_ids = {
        "alice": seam.add_user("alice@example.com", "Alice", [groups["Lobby"], groups["Server Room"]]),
        "bob": seam.add_user("bob@example.com", "Bob", [groups["Lobby"]]),
    }
    seam.add_credential(seam_ids["alice"], "7001")
    seam.add_credential(seam_ids["alice"], "7002")
    seam.add_credential(seam_ids["bob"], "7003")

    data = yaml.safe_load(config_file.read_text())
    data["systems"]["wiki"] = {
        "type": "scim",
        "url": scim_server.url,
        "token": {"env": SCIM_TOKEN_ENV},
        "timeout": 5,
    }
    data["systems"]["doors"] = {
        "type": "seam",
        "url": fake_seam.seed.url,
        "api_key": {"env": SEAM_KEY_ENV},
        "acs_system_id": fake_seam.seed.acs_system_id,
        "email_domain": "example.com",
        "timeout": 5,
    }
    config_file.write_text(yaml.safe_dump(data))
    return Estate(config_file, scim, seam, scim_ids, scim_groups, seam_ids, fake_seam.seed.api_key)


def offboard(estate: Estate, *extra: str) -> tuple[int, dict[str, object], str]:
    result = run_iam(
        "--config", str(estate.config), "offboard", "alice", "--reason", "resigned", "--yes",
        "--format", "json", *extra, env=estate.env(),
    )  # fmt: skip
    report = json.loads(result.stdout) if result.stdout.strip() else {}
    return result.returncode, report, result.stdout + result.stderr


def test_a_leaver_loses_the_directory_the_saas_application_and_the_doors(
    estate: Estate, directory: Directory
) -> None:
    assert groups_of(directory, "alice") and estate.scim.user(estate.scim_ids["alice"])["active"] is True

    code, report, output = offboard(estate)

    assert code == 0, output
    schemas.validate(report, "run-report")
    assert report["status"] == "complete"
    assert {s["system"] for s in report["systems"]} == {"directory", "wiki", "doors"}  # type: ignore[union-attr]
    # the directory, through an admin LDAP connection
    assert groups_of(directory, "alice") == set() and locked(directory, "alice")
    # the SaaS application, through the SCIM server's own API
    alice = estate.scim_ids["alice"]
    assert estate.scim.user(alice)["active"] is False
    assert all(alice not in estate.scim.members(g) for g in estate.scim_groups.values())
    # the doors, through Seam's API
    seam_alice = estate.seam_ids["alice"]
    assert estate.seam.user(seam_alice)["is_suspended"] is True
    assert estate.seam.credentials_of(seam_alice) == [] and estate.seam.groups_of(seam_alice) == set()
    # bob keeps everything everywhere
    assert groups_of(directory, "bob") and not locked(directory, "bob")
    assert estate.scim.user(estate.scim_ids["bob"])["active"] is True
    assert estate.scim.members(estate.scim_groups["eng"]) == {estate.scim_ids["bob"]}
    bob = estate.seam_ids["bob"]
    assert estate.seam.user(bob)["is_suspended"] is False and estate.seam.groups_of(bob) == {"Lobby"}
    assert len(estate.seam.credentials_of(bob)) == 1
    # no secret in what a person reads
    assert TOKEN not in output and estate.seam_key not in output

    again, second, _ = offboard(estate)
    assert again == 0 and second["status"] == "complete"


def test_a_saas_application_that_cannot_be_reached_leaves_the_run_partial_and_the_rest_done(
    estate: Estate, directory: Directory, scim_server: ScimServer
) -> None:
    scim_server.stop()

    code, report, output = offboard(estate)

    assert code == 3, output
    assert report["status"] == "partial"
    wiki = next(s for s in report["systems"] if s["system"] == "wiki")  # type: ignore[union-attr]
    assert "cannot connect" in json.dumps(wiki)
    assert groups_of(directory, "alice") == set()
    assert estate.seam.user(estate.seam_ids["alice"])["is_suspended"] is True
    assert estate.seam.credentials_of(estate.seam_ids["alice"]) == []


def test_iam_lists_the_scim_and_seam_connectors_with_what_they_can_do() -> None:
    result = run_iam("connectors", "list")
    assert result.returncode == 0, result.stderr
    lines = {line.split(":")[0]: line for line in result.stdout.splitlines() if ":" in line}
    assert "disable" in lines["scim"] and "entitle" in lines["scim"] and "delete" in lines["scim"]
    assert "revoke_credentials" in lines["seam"] and "terminate" in lines["seam"]


def estate_policy(directory: Directory, tmp_path: Path) -> Path:
    """The sample company's policy, its roles also naming a SaaS group and a door group."""
    path = sample_policy(directory, tmp_path)
    policy = yaml.safe_load(path.read_text())
    roles = policy["roles"]
    roles["staff"]["entitlements"].update(wiki=["group:everyone"], doors=["access-level:Lobby"])
    roles["engineering"]["entitlements"].update(wiki=["group:eng"], doors=["access-level:Lab"])
    path.write_text(yaml.safe_dump(policy))
    return path


def hr_sync(estate: Estate, feed: Path) -> tuple[int, dict[str, object], str]:
    result = run_iam(
        "--config", str(estate.config), "hr", "sync", str(feed), "--now", NOW, "--format", "json",
        env=estate.env(),
    )  # fmt: skip
    report = json.loads(result.stdout) if result.stdout.strip() else {}
    return result.returncode, report, result.stdout + result.stderr


def test_hr_joiners_get_their_roles_everywhere_and_a_leaver_loses_them_everywhere(
    estate: Estate, directory: Directory, tmp_path: Path
) -> None:
    estate_policy(directory, tmp_path)
    data = yaml.safe_load(estate.config.read_text())
    estate.config.write_text(yaml.safe_dump({**data, "policy": "policy.yaml", "timezone": "UTC"}))
    everyone = estate.scim.add_group("everyone")
    ann, dan = (
        BASE_FEED[0],
        BASE_FEED[3],
    )  # an engineering manager; an engineering contractor until 2026-12-31
    feed = [dict(p, email=f"{p['username']}@example.com") for p in (ann, dan)]

    code, report, output = hr_sync(estate, write_feed(tmp_path / "v1.csv", feed))

    assert code == 0, output
    events = sorted((e["type"], e["username"], e["status"]) for e in report["events"])  # type: ignore[index]
    assert events == [
        ("joiner", "ann", "applied"),
        ("joiner", "dan", "applied"),
        ("leaver", "dan", "scheduled"),
    ]
    assert groups_of(directory, "dan") == {"staff", "engineering", "developers", "third-parties"}
    scim_users = {u["userName"]: u for u in estate.scim.users()}
    assert scim_users["dan"]["active"] is True
    assert scim_users["dan"]["id"] in estate.scim.members(everyone)
    assert scim_users["dan"]["id"] in estate.scim.members(estate.scim_groups["eng"])
    seam_users = {u["email_address"]: u for u in estate.seam.users()}
    seam_dan = seam_users["dan@example.com"]["acs_user_id"]
    assert estate.seam.groups_of(seam_dan) == {"Lobby", "Lab"}
    assert seam_users["dan@example.com"]["access_schedule"]["ends_at"] == "2027-01-01T00:00:00.000Z"
    assert estate.seam.groups_of(seam_users["ann@example.com"]["acs_user_id"]) == {"Lobby", "Lab"}

    code, report, output = hr_sync(estate, write_feed(tmp_path / "v2.csv", feed[:1]))  # dan has left

    assert code == 0, output
    left = [(e["type"], e["username"], e["status"]) for e in report["events"]]  # type: ignore[index]
    assert ("leaver", "dan", "applied") in left
    assert groups_of(directory, "dan") == set() and locked(directory, "dan")
    dan_scim = scim_users["dan"]["id"]
    assert estate.scim.user(dan_scim)["active"] is False
    assert dan_scim not in estate.scim.members(everyone) | estate.scim.members(estate.scim_groups["eng"])
    assert estate.seam.user(seam_dan)["is_suspended"] is True and estate.seam.groups_of(seam_dan) == set()
    assert groups_of(directory, "ann") == {"staff", "engineering", "developers"}  # ann stays everywhere
    assert estate.seam.groups_of(seam_users["ann@example.com"]["acs_user_id"]) == {"Lobby", "Lab"}
