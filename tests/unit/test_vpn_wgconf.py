"""Editing a saved WireGuard configuration: peers found by their comment, removed whole, others untouched."""

from __future__ import annotations

import pytest
from iam.connectors.vpn.wgconf import (
    KEY,
    UnreadablePeer,
    add_peer,
    interface_addresses,
    parse_peers,
    remove_peers,
    removed_peers,
)

A = "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk="
B = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg="
C = "TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0="
D = "gN65BkIKy1eCE9pP1wdc8ROUtkHLF2PfAqYdyYBz6EA="

CONFIG = f"""# managed by hand and by iam
[Interface]
Address = 10.66.0.1/24
ListenPort = 51820
PrivateKey = SERVER-PRIVATE-KEY-STAYS

# user = alice
[Peer]
PublicKey = {A}
AllowedIPs = 10.66.0.2/32

[Peer]
# user: bob
PublicKey = {B}
AllowedIPs = 10.66.0.3/32, fd00::3/128
AllowedIPs = 10.66.1.0/24

# a printer, nobody's
[Peer]
PublicKey = {C}
AllowedIPs = 10.66.0.9/32
"""


def test_peers_are_named_by_comment_above_or_inside_their_block() -> None:
    peers = {p.public_key: p for p in parse_peers(CONFIG)}
    assert peers[A].username == "alice" and peers[B].username == "bob" and peers[C].username is None
    assert peers[B].allowed_ips == ("10.66.0.3/32", "fd00::3/128", "10.66.1.0/24")
    assert interface_addresses(CONFIG) == ["10.66.0.1/24"]


def test_the_comment_word_is_configurable() -> None:
    text = CONFIG.replace("# user = alice", "# owner = alice")
    assert {p.username for p in parse_peers(text, "owner")} == {"alice", None}


def test_removing_a_peer_takes_its_block_and_comment_and_nothing_else() -> None:
    text, removed = remove_peers(CONFIG, {A})
    assert removed == 1
    assert A not in text and "user = alice" not in text
    assert "PrivateKey = SERVER-PRIVATE-KEY-STAYS" in text and B in text and C in text
    assert "# a printer, nobody's\n[Peer]" in text
    assert text == CONFIG.replace(
        f"# user = alice\n[Peer]\nPublicKey = {A}\nAllowedIPs = 10.66.0.2/32\n\n", ""
    )


def test_a_removed_peer_can_leave_a_tombstone_for_history() -> None:
    text, removed = remove_peers(CONFIG, {B}, tombstone=("bob", "2026-01-01T00:00:00Z"))
    assert removed == 1 and f"PublicKey = {B}" not in text
    assert f"# user-removed = bob {B} 2026-01-01T00:00:00Z\n" in text
    assert removed_peers(text) == [("bob", B)] and B not in {p.public_key for p in parse_peers(text)}
    assert {p.username for p in parse_peers(text)} == {"alice", None}


def test_removing_the_last_peer_and_an_unknown_key() -> None:
    text, removed = remove_peers(CONFIG, {C, "unknown"})
    assert removed == 1 and C not in text and "printer" not in text and text.endswith("10.66.1.0/24\n\n")
    assert remove_peers(text, {C}) == (text, 0)


def test_added_peers_are_found_again() -> None:
    text = add_peer(CONFIG.rstrip("\n"), "carol", D, "10.66.0.4/32")
    carol = [p for p in parse_peers(text) if p.username == "carol"]
    assert len(carol) == 1 and carol[0].allowed_ips == ("10.66.0.4/32",)
    assert text.startswith(CONFIG.rstrip("\n") + "\n\n[Peer]\n# user = carol\n")


def test_keys_are_recognised() -> None:
    assert all(KEY.fullmatch(k) for k in (A, B, C, D))
    assert not KEY.fullmatch("not a key") and not KEY.fullmatch(A[:-2] + "B=")


@pytest.mark.parametrize(
    ("comment", "why"),
    [
        ("# user = alice (laptop)", r"line 7, '# user = alice \(laptop\)', does not name one person"),
        ("# user =", "line 7, '# user =', does not name one person"),
        ("# User: alice, bob", "line 7, '# User: alice, bob', does not name one person"),
        ("# user = alice\n# user = bob", "line 8: a second person, bob, for the peer of alice"),
    ],
)
def test_a_person_comment_that_cannot_be_read_is_an_error_naming_its_line(comment: str, why: str) -> None:
    """Skipped, it would leave a live peer to nobody."""
    with pytest.raises(UnreadablePeer, match=why):
        parse_peers(CONFIG.replace("# user = alice", comment))


def test_other_comments_are_no_person_comments() -> None:
    text = CONFIG.replace("# a printer, nobody's", "# username = x y\n# user-removed = bob x\n# users: a, b")
    assert [p.username for p in parse_peers(text)] == ["alice", "bob", None]
    same = CONFIG.replace("# user = alice", "# user = Alice\n#user=alice")  # one person, two spellings
    assert parse_peers(same)[0].username == "Alice"
