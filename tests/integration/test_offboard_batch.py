"""Many leavers from one file (`iam.batch`, issue 14) against a real slapd: every plan confirmed at
once, each person terminated and read back, a name not found reported without stopping the others,
and a bad file or a list over the blast-radius limit refused before anything changes."""

from __future__ import annotations

from pathlib import Path

import pytest

from iam.batch import offboard_many, read_leavers
from iam.errors import InputError
from iam.plan import Plan
from iam.runtime import Runtime
from tests.conftest import Directory
from tests.support.slapd import BASE_DN


def locked(directory: Directory, uid: str) -> bool:
    conn = directory.slapd.admin()
    conn.search(BASE_DN, f"(uid={uid})", attributes=["userPassword"])
    values = [v.decode() if isinstance(v, bytes) else v for v in conn.entries[0]["userPassword"].values]
    conn.unbind()
    return all(v.startswith("{CRYPT}!") for v in values)


def listing(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "leavers.txt"
    path.write_text(text)
    return path


def test_each_person_is_terminated_and_a_name_not_found_does_not_stop_the_others(
    directory: Directory, rt: Runtime, tmp_path: Path
) -> None:
    leavers = read_leavers(listing(tmp_path, "alice\nnobody\n\nbob\n"), "layoff")
    asked: list[list[str]] = []

    def confirm(plans: list[Plan]) -> bool:
        asked.append([p.username for p in plans])
        return True

    progress: list[tuple[int, int]] = []
    result = offboard_many(
        rt,
        leavers,
        by="test",
        source="file",
        confirm=confirm,
        on_person=lambda d, t, _: progress.append((d, t)),
    )
    assert asked == [["alice", "nobody", "bob"]]  # one confirmation, every plan
    assert [(r.username, r.status) for r in result.reports] == [
        ("alice", "complete"),
        ("nobody", "not_found"),
        ("bob", "complete"),
    ]
    assert progress == [(1, 3), (2, 3), (3, 3)]
    assert locked(directory, "alice") and locked(directory, "bob")


def test_a_csv_gives_each_person_their_own_reason(directory: Directory, rt: Runtime, tmp_path: Path) -> None:
    path = listing(tmp_path, "username,reason\nalice,resigned\nbob,\n")
    leavers = read_leavers(path, "layoff")
    assert [(p.username, p.reason) for p in leavers] == [("alice", "resigned"), ("bob", "layoff")]
    result = offboard_many(rt, leavers, by="test", source="file")
    assert [r.reason for r in result.reports] == ["resigned", "layoff"]


def test_a_list_over_the_blast_radius_limit_changes_nothing(
    directory: Directory, rt: Runtime, tmp_path: Path
) -> None:
    leavers = read_leavers(listing(tmp_path, "alice\nbob\n"), "layoff")
    with pytest.raises(
        InputError,
        match=r"terminate 2 people, more than the limit of 1.*nothing was changed",
    ):
        offboard_many(rt, leavers, by="test", source="file", max_terminations=1)
    assert not locked(directory, "alice") and not locked(directory, "bob")


def test_declining_the_one_confirmation_changes_nothing(
    directory: Directory, rt: Runtime, tmp_path: Path
) -> None:
    leavers = read_leavers(listing(tmp_path, "alice\nbob\n"), "layoff")
    result = offboard_many(rt, leavers, by="test", source="file", confirm=lambda plans: False)
    assert result.cancelled and result.reports == []
    assert not locked(directory, "alice")


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("alice\nbad name\n", r"leavers\.txt:2: invalid username 'bad name'"),
        ("alice\nalice\n", r"leavers\.txt:2: alice is already on line 1"),
        ("username,team\nalice,x\n", r"leavers\.txt:1: the CSV header must be username,reason"),
        ("\n\n", r"no username in the file"),
    ],
)
def test_a_bad_file_is_refused_naming_the_line(
    directory: Directory, rt: Runtime, tmp_path: Path, text: str, where: str
) -> None:
    with pytest.raises(InputError, match=where):
        read_leavers(listing(tmp_path, text), "layoff")
    assert not locked(directory, "alice")


def test_a_list_without_reasons_needs_one(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"leavers\.txt:1: no reason for alice"):
        read_leavers(listing(tmp_path, "alice\n"), None)
    with pytest.raises(InputError, match="cannot read the list of leavers"):
        read_leavers(tmp_path / "missing.txt", "layoff")
