"""`iam serve` under the attacks a held-out run found on the old `http.server` endpoint, over raw sockets.

Each attack hides a correctly signed request after a request the server must
refuse: a server that took the hidden bytes for a next request would execute
it. Each must be answered once, 4xx, with the connection closed, nothing
executed, and without the server reading (and keeping) what the client sends.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import Directory
from tests.e2e.conftest import HMAC
from tests.support.company import groups_of, person

MAX_BODY = 5 * 1024 * 1024
JOINER = json.dumps({"events": [{"type": "joiner", "person": person("E9", "hal", "Research")}]}).encode()

#: The request line and framing header of each attack, and the answer it must get.
ATTACKS = {
    "negative length": ("Content-Length: -1", 400),
    "length not a number": ("Content-Length: abc", 400),
    "length past the limit": (f"Content-Length: {MAX_BODY + 1}", 413),
}


def signed_request(timestamp: int, body: bytes = JOINER) -> bytes:
    from iam.server import sign

    head = (
        "POST /events HTTP/1.1\r\nHost: iam\r\nContent-Type: application/json\r\n"
        f"X-IAM-Timestamp: {timestamp}\r\nX-IAM-Signature: {sign(HMAC, timestamp, body)}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def connect(url: str) -> socket.socket:
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=30)
    return sock


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes; a connection it leaves open fails the test."""
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except TimeoutError:
        raise AssertionError(f"the server left the connection open after: {data[:300]!r}") from None
    return data


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def status_lines(data: bytes) -> list[bytes]:
    return [line for line in data.split(b"\r\n") if line.startswith(b"HTTP/1.")]


@pytest.mark.parametrize("framing,code", ATTACKS.values(), ids=ATTACKS.keys())
def test_an_attack_is_answered_once_and_the_request_hidden_behind_it_never_runs(
    event_server, directory: Directory, framing: str, code: int
) -> None:
    server, clock = event_server
    hidden = signed_request(int(clock["now"].timestamp()))
    attack = f"POST /events HTTP/1.1\r\nHost: iam\r\n{framing}\r\n\r\n".encode() + hidden

    with connect(server.url) as sock:
        sock.sendall(attack)
        answer = read_until_closed(sock)

    lines = status_lines(answer)
    assert len(lines) == 1 and lines[0].startswith(f"HTTP/1.1 {code} ".encode()), answer
    assert groups_of(directory, "hal") == set()
    assert server.rt.store.list_events() == []
    # the hidden request was a live one: sent on its own, it is applied
    with connect(server.url) as sock:
        sock.sendall(hidden)
        assert sock.recv(65536).startswith(b"HTTP/1.1 202 ")
    assert groups_of(directory, "hal") == {"staff", "research"}


@pytest.mark.parametrize("framing,code", ATTACKS.values(), ids=ATTACKS.keys())
def test_an_attack_body_is_not_read_into_memory(event_server, framing: str, code: int) -> None:
    """The old server read a 400 MB body with ``Content-Length: -1`` whole (61 MB -> 861 MB)."""
    server, _clock = event_server
    chunk = b"x" * (1024 * 1024)
    sent = 0
    before = rss_bytes()
    with connect(server.url) as sock:
        sock.sendall(f"POST /events HTTP/1.1\r\nHost: iam\r\n{framing}\r\n\r\n".encode())
        with pytest.raises(OSError):  # the server closed: the kernel refuses the rest
            for _ in range(256):
                sock.sendall(chunk)
                sent += len(chunk)
    grown = rss_bytes() - before

    assert sent < 128 * len(chunk), f"the server took {sent} bytes of a refused request"
    assert grown < 32 * 1024 * 1024, f"the server process grew by {grown} bytes"
    with connect(server.url) as sock:  # and it still serves
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: iam\r\n\r\n")
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")


def test_a_chunked_body_past_the_limit_is_refused_while_it_streams(
    event_server, directory: Directory
) -> None:
    import threading

    server, clock = event_server
    hidden = signed_request(int(clock["now"].timestamp()))
    piece = b"x" * 65536
    chunk = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    sent = 0
    answer: list[bytes] = []
    with connect(server.url) as sock:
        # read while we send: the answer comes while the body is still streaming
        reader = threading.Thread(target=lambda: answer.append(read_until_reset(sock)))
        reader.start()
        try:
            sock.sendall(b"POST /events HTTP/1.1\r\nHost: iam\r\nTransfer-Encoding: chunked\r\n\r\n")
            while sent <= 4 * MAX_BODY:
                sock.sendall(chunk)
                sent += len(piece)
            sock.sendall(b"0\r\n\r\n" + hidden)
        except OSError:
            pass  # closed while we were still sending: what we want
        reader.join()

    assert answer[0].startswith(b"HTTP/1.1 413 "), answer[0][:200]
    assert len(status_lines(answer[0])) == 1
    assert sent < 4 * MAX_BODY
    assert server.rt.store.list_events() == []
    assert groups_of(directory, "hal") == set()


def read_until_reset(sock: socket.socket) -> bytes:
    """What arrives until the server closes, by FIN or by reset (it closes with our data unread)."""
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    return data


def test_a_signature_that_is_not_ascii_is_refused_and_audited_like_any_bad_one(
    event_server, directory: Directory
) -> None:
    """The HMAC comparison raised on non-ASCII text: an unaudited 500 instead of a refusal."""
    server, clock = event_server
    timestamp = int(clock["now"].timestamp())
    head = (
        "POST /events HTTP/1.1\r\nHost: iam\r\nContent-Type: application/json\r\nConnection: close\r\n"
        f"X-IAM-Timestamp: {timestamp}\r\nX-IAM-Signature: sha256=\xe9\xe9\r\n"
        f"Content-Length: {len(JOINER)}\r\n\r\n"
    )

    with connect(server.url) as sock:
        sock.sendall(head.encode("latin-1") + JOINER)
        answer = read_until_closed(sock)

    assert answer.startswith(b"HTTP/1.1 401 "), answer[:300]
    assert b"bad signature" in answer
    server.rt.audit.flush()
    refused = [json.loads(line) for line in server.rt.audit.path.read_text().splitlines()]
    assert [r["reason"] for r in refused if r["event"] == "http.refused"] == ["bad signature"]
    assert server.rt.store.list_events() == [] and groups_of(directory, "hal") == set()
