"""The management-interface client against a tiny scripted server that fragments and interleaves.

The server is ours and speaks the protocol of OpenVPN's management-notes.txt
(the same client also runs against the real OpenVPN in the integration
tests); here it splits lines at awkward places, sends the password prompt
without a line end in pieces, and slips notifications between reply lines.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from iam.connectors.vpn.boundary import translate
from iam.connectors.vpn.management import (
    ManagementAuthError,
    ManagementClient,
    ManagementProtocolError,
    ManagementUnavailable,
    Notification,
)
from iam.connectors.vpn.status import parse_status3

from iam import errors
from iam.secrets import Secret

GREETING = [b">INFO:OpenVPN Management Interface Version 5 -- type 'help' for more info\r\n"]
PASSWORD = "fake-mgmt-pw-123"
#: A ``status 3`` reply cut mid-line, with notifications between its lines.
STATUS = [
    b"TITLE\tOpenVPN 2.6.14\r\nTIME\t2026-01-01 00:00:00\t1767225600\r\n"
    b"HEADER\tCLIENT_LIST\tCommon Name\tReal Add",
    b"ress\tVirtual Address\tVirtual IPv6 Address\tBytes Received\tBytes Sent\tConnected Since\t"
    b"Connected Since (time_t)\tUsername\tClient ID\tPeer ID\tData Channel Cipher\r\n"
    b">CLIENT:ESTABLISHED,7\r\n",
    b">CLIENT:ENV,common_name=carol\r\n>CLIENT:ENV,END\r\nCLIENT_LIST\talice\t127.0.0.1:5000\t10.8.0.2\t\t1\t2\t",
    b"2026-01-01 00:00:00\t1767225600\tUNDEF\t3\t3\tAES-256-GCM\r",
    b"\n>LOG:1767225600,I,something happened\r\nCLIENT_LIST\tbob\t127.0.0.1:5001\t\t\t1\t2\t"
    b"2026-01-01 00:00:00\t1767225600\tUNDEF\t4\t4\tAES-256-GCM\r\nGLOBAL_STATS\tdco_enabled\t0\r\nEN",
    b"D\r\n",
]


class FakeManagement:
    """Accepts one connection and plays a script of ("send", chunks) and ("expect", line) steps."""

    def __init__(self, listener: socket.socket, script: list[tuple[str, object]]) -> None:
        self.listener = listener
        self.script = script
        self.received: list[str] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.listener.accept()
        buf = b""
        with conn:
            for kind, arg in self.script:
                if kind == "send":
                    for chunk in arg:  # type: ignore[attr-defined]
                        conn.sendall(chunk)
                        time.sleep(0.01)  # let the client read each piece on its own
                elif kind == "expect":
                    while b"\n" not in buf:
                        data = conn.recv(4096)
                        if not data:
                            return
                        buf += data
                    line, _, buf = buf.partition(b"\n")
                    self.received.append(line.decode())
                elif kind == "wait":
                    time.sleep(float(arg))  # type: ignore[arg-type]
                elif kind == "close":
                    return


@pytest.fixture
def unix_listener(tmp_path: Path) -> Iterator[tuple[str, socket.socket]]:
    path = str(tmp_path / "m.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    sock.listen(1)
    yield path, sock
    sock.close()


def serve(
    listener: tuple[str, socket.socket], script: list[tuple[str, object]]
) -> tuple[str, FakeManagement]:
    return listener[0], FakeManagement(listener[1], script)


def test_fragmented_prompt_password_and_interleaved_status_are_parsed(unix_listener) -> None:
    address, server = serve(
        unix_listener,
        [
            ("send", [b"ENTER", b" PASS", b"WORD:"]),
            ("expect", PASSWORD),
            ("send", [b"SUCCESS: password is", b" correct\r\n", *GREETING]),
            ("expect", "status 3"),
            ("send", STATUS),
            ("expect", "kill alice"),
            ("send", [b">LOG:1,I,x\r\nSUCC", b"ESS: common name 'alice' found, 1 client(s) killed\r\n"]),
            ("expect", "quit"),
        ],
    )
    seen: list[Notification] = []
    with ManagementClient(
        address, password=Secret(PASSWORD), timeout=5, on_notification=seen.append
    ) as client:
        status = client.command("status 3", multiline=True)
        killed = client.command("kill alice")
    rows = parse_status3(status.lines)
    assert [(r.common_name, r.client_id, r.live) for r in rows] == [("alice", "3", True), ("bob", "4", False)]
    assert rows[0].virtual_address == "10.8.0.2" and status.lines[-1] == "GLOBAL_STATS\tdco_enabled\t0"
    assert killed.ok and killed.message.startswith("common name 'alice' found")
    assert [n.source for n in seen] == ["INFO", "CLIENT", "CLIENT", "CLIENT", "LOG", "LOG"]
    assert seen[1].text == "ESTABLISHED,7"
    server.thread.join(5)
    assert server.received == [PASSWORD, "status 3", "kill alice", "quit"]


def test_error_replies_are_answers_not_exceptions(unix_listener) -> None:
    address, _ = serve(
        unix_listener,
        [
            ("send", GREETING),
            ("expect", "kill nobody"),
            ("send", [b"ERROR: common name 'nobody' not found\r\n"]),
            ("expect", "status 9"),
            ("send", [b">LOG:1,I,x\r\n", b"ERROR: bad status format version number\r\n"]),
        ],
    )
    with ManagementClient(address, timeout=5) as client:
        assert not client.command("kill nobody").ok
        reply = client.command("status 9", multiline=True)
    assert not reply.ok and reply.message == "bad status format version number"


def test_a_wrong_password_is_an_authentication_failure_without_the_password(unix_listener) -> None:
    address, _ = serve(
        unix_listener,
        [("send", [b"ENTER PASSWORD:"]), ("expect", "the password"), ("send", [b"ENTER PASS", b"WORD:"])],
    )
    with pytest.raises(errors.AuthenticationFailed) as caught, translate("read alice", "vpn"):
        ManagementClient(address, password=Secret("wrong-password-here"), timeout=5).open()
    assert "wrong-password-here" not in str(caught.value) and str(caught.value).startswith("vpn: read alice")


def test_a_prompt_without_a_configured_password_says_what_to_set(unix_listener) -> None:
    address, _ = serve(unix_listener, [("send", [b"ENTER PASSWORD:"]), ("wait", 1)])
    with pytest.raises(ManagementAuthError, match="set management_password"):
        ManagementClient(address, timeout=5).open()


def test_closing_after_the_password_is_an_authentication_failure(unix_listener) -> None:
    address, _ = serve(unix_listener, [("send", [b"ENTER PASSWORD:"]), ("expect", PASSWORD), ("close", None)])
    with pytest.raises(ManagementAuthError, match="wrong password"):
        ManagementClient(address, password=Secret(PASSWORD), timeout=5).open()


def test_a_silent_server_is_a_connect_timeout(unix_listener) -> None:
    """OpenVPN serves one management client at a time; the next one is accepted but never greeted."""
    address, _ = serve(unix_listener, [("wait", 2)])
    with pytest.raises(errors.ConnectTimeout, match="sent no greeting within"), translate("check", "vpn"):
        ManagementClient(address, timeout=0.3).open()


def test_a_reply_cut_off_by_a_closed_connection_is_unreachable(unix_listener) -> None:
    address, _ = serve(
        unix_listener, [("send", GREETING), ("expect", "status 3"), ("send", [STATUS[0]]), ("close", None)]
    )
    client = ManagementClient(address, timeout=5)
    with pytest.raises(errors.Unreachable), translate("status", "vpn"):
        client.command("status 3", multiline=True)
    client.close()  # safe on a broken connection


def test_a_missing_socket_and_a_closed_port_are_unreachable(tmp_path: Path) -> None:
    with pytest.raises(ManagementUnavailable):
        ManagementClient(str(tmp_path / "none.sock"), timeout=1).open()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(errors.Unreachable), translate("check", "vpn"):
        ManagementClient(("127.0.0.1", port), timeout=1).open()


def test_tcp_on_loopback_works_too() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    try:
        FakeManagement(listener, [("send", GREETING), ("expect", "pid"), ("send", [b"SUCCESS: pid=42\r\n"])])
        with ManagementClient(listener.getsockname(), timeout=5) as client:
            assert client.command("pid").message == "pid=42"
    finally:
        listener.close()


def test_an_unexpected_reply_is_a_protocol_error(unix_listener) -> None:
    address, _ = serve(unix_listener, [("send", GREETING), ("expect", "pid"), ("send", [b"what?\r\n"])])
    with pytest.raises(errors.PermanentError, match="unexpected reply to 'pid'"), translate("pid", "vpn"):
        ManagementClient(address, timeout=5).command("pid")


def test_a_command_is_one_line(unix_listener) -> None:
    address, server = serve(unix_listener, [("send", GREETING), ("expect", "quit")])
    with ManagementClient(address, timeout=5) as client:
        for bad in ("kill alice\nkill bob", "kill a\rb", "kill \0"):
            with pytest.raises(ValueError):
                client.command(bad)
    server.thread.join(5)
    assert server.received == ["quit"]


def test_a_greeting_that_is_not_openvpn_is_refused(unix_listener) -> None:
    address, _ = serve(unix_listener, [("send", [b"220 smtp.example.com ESMTP\r\n"])])
    with pytest.raises(ManagementProtocolError, match="unexpected greeting"):
        ManagementClient(address, timeout=5).open()
