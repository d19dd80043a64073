"""The collector held back during a sweep (`iam.gcquiet`) is always given back as it was."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest

from iam import gcquiet


@pytest.fixture(autouse=True)
def collector_as_found() -> Iterator[None]:
    """Whatever a test does, the next one starts with the collector as pytest left it."""
    thresholds, frozen = gc.get_threshold(), gc.get_freeze_count()
    yield
    gc.set_threshold(*thresholds)
    if frozen == 0:
        gc.unfreeze()


def test_quiet_freezes_what_lives_and_raises_the_young_threshold_then_restores_both() -> None:
    before = gc.get_threshold()
    assert gc.get_freeze_count() == 0
    with gcquiet.quiet():
        assert gc.get_threshold()[0] == gcquiet.YOUNG_THRESHOLD
        assert gc.get_threshold()[1:] == before[1:]
        assert gc.get_freeze_count() > 0
        assert gc.isenabled()  # held back, never turned off
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_quiet_restores_the_collector_when_its_body_raises() -> None:
    before = gc.get_threshold()
    with pytest.raises(RuntimeError, match="read failed"), gcquiet.quiet():
        raise RuntimeError("read failed")
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_nested_quiet_restores_only_when_the_outermost_leaves() -> None:
    before = gc.get_threshold()
    with gcquiet.quiet():
        with gcquiet.quiet():
            pass
        assert gc.get_threshold()[0] == gcquiet.YOUNG_THRESHOLD  # the outer one still holds it
        assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_two_threads_share_one_pause_and_the_last_to_leave_restores() -> None:
    before = gc.get_threshold()
    inside, leave = threading.Event(), threading.Event()

    def other() -> None:
        with gcquiet.quiet():
            inside.set()
            leave.wait(timeout=30)

    worker = threading.Thread(target=other)
    worker.start()
    assert inside.wait(timeout=30)
    with gcquiet.quiet():
        pass
    assert gc.get_threshold()[0] == gcquiet.YOUNG_THRESHOLD  # the other thread is still sweeping
    leave.set()
    worker.join(timeout=30)
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_a_process_that_froze_objects_itself_keeps_them_frozen() -> None:
    gc.freeze()
    frozen = gc.get_freeze_count()
    with gcquiet.quiet():
        pass
    assert gc.get_freeze_count() == frozen


def test_a_collector_turned_off_by_threshold_stays_off() -> None:
    gc.set_threshold(0)
    with gcquiet.quiet():
        assert gc.get_threshold()[0] == 0
    assert gc.get_threshold()[0] == 0
