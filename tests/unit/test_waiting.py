"""Waiting on a condition with a deadline (tenacity underneath): what comes back, what is raised.

No test here waits for time to pass: a deadline of zero gives up after the
first look, and a condition that holds answers at the first look.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest
from iam.connectors.vpn.boundary import translate
from iam.connectors.vpn.pki import EasyRsa
from iam.lab.waiting import wait_for

from iam import errors


def test_waiting_returns_what_the_condition_found() -> None:
    looks = iter([None, "", "up"])
    assert wait_for(lambda: next(looks), 60, "the tunnel", interval=0) == "up"


def test_a_condition_that_never_holds_times_out_naming_what_was_awaited() -> None:
    with pytest.raises(TimeoutError, match=r"timed out after 0s waiting for the management socket"):
        wait_for(lambda: False, 0, "the management socket")


def test_a_condition_that_fails_stops_the_wait_at_once() -> None:
    looks: list[int] = []

    def exited() -> bool:
        looks.append(1)
        raise RuntimeError("openvpn exited")

    with pytest.raises(RuntimeError, match="openvpn exited"):
        wait_for(exited, 60, "the tunnel", interval=0)
    assert len(looks) == 1


def test_a_pki_lock_held_elsewhere_is_a_transient_error_once_the_timeout_passes(tmp_path: Path) -> None:
    holder = os.open(tmp_path / ".iam.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
        pki = EasyRsa(tmp_path, timeout=0)
        locked = pytest.raises(errors.TransientError, match=r"stayed locked for 0s")
        with locked, translate("revoke", "vpn"), pki.locked():
            pytest.fail("the lock was taken twice")
        fcntl.flock(holder, fcntl.LOCK_UN)
        with pki.locked():
            pass
    finally:
        os.close(holder)
