"""A name typed in another case than HR's is HR's person: runs, holds and suspensions follow HR.

The directory, SSO and SaaS find ``CAL`` as ``cal``. Kept under the typed
name, a hold did not hold the person HR's feed names.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from iam.errors import InputError
from iam.runs import known_username
from iam.store import Store


@pytest.fixture
def rt(tmp_path: Path) -> Any:
    store = Store(str(tmp_path / "iam.db"))
    for name in ("cal", "ann", "Bo", "BO"):
        store.upsert_identity(name, "active", {})
    yield SimpleNamespace(store=store)
    store.close()


def test_a_name_hr_knows_in_another_case_is_spelt_as_hr_spells_it(rt: Any) -> None:
    assert known_username(rt, "CAL") == "cal"
    assert known_username(rt, "Ann") == "ann"


def test_an_exact_name_and_one_hr_does_not_know_are_kept_as_given(rt: Any) -> None:
    assert known_username(rt, "BO") == "BO"  # exact, though "Bo" differs only by case
    assert known_username(rt, "Zed") == "Zed"


def test_a_name_that_could_be_two_people_is_refused_and_names_both(rt: Any) -> None:
    with pytest.raises(InputError, match="BO, Bo"):
        known_username(rt, "bo")


def test_a_hold_on_one_spelling_is_found_by_another(rt: Any) -> None:
    rt.store.place_hold("ZED", "for cause", "it", "cli", None)
    hold = rt.store.get_hold("zed")
    assert hold is not None and hold["username"] == "ZED"
    assert rt.store.get_hold("zee") is None
    lifted = rt.store.remove_hold("Zed")  # `iam reinstate` under HR's spelling
    assert lifted is not None and lifted["username"] == "ZED" and rt.store.get_hold("zed") is None


def test_a_list_naming_one_person_in_two_cases_is_refused(tmp_path: Path) -> None:
    from iam.batch import read_leavers

    names = tmp_path / "leavers.txt"
    names.write_text("alice\nbob\nALICE\n")
    with pytest.raises(InputError, match=r"leavers.txt:3: ALICE is already on line 1"):
        read_leavers(names, "layoff")


def test_a_name_in_another_case_is_found_by_an_index_also_in_a_store_made_before_it(tmp_path: Path) -> None:
    """A sweep's remediation asks for every account's person: not a scan of every identity each."""
    import sqlite3

    path = tmp_path / "old.db"
    Store(str(path)).close()
    with sqlite3.connect(path) as db:
        db.execute("DROP INDEX ix_identities_username_lower")  # as a store made before it
    store = Store(str(path))
    store.upsert_identity("Cal", "active", {})
    with sqlite3.connect(path) as db:
        plan = db.execute("EXPLAIN QUERY PLAN SELECT username FROM identities WHERE lower(username) = 'cal'")
        assert "ix_identities_username_lower" in str(plan.fetchall())
    assert store.usernames_like("CAL") == ["Cal"]
    store.close()
