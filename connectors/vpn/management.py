"""A small client for OpenVPN's management interface.

The protocol (OpenVPN's ``doc/management-notes.txt``) is line based over a
unix socket or TCP: a command is one line; the answer is one line starting
``SUCCESS:`` or ``ERROR:``, or, for commands that print (``status``,
``version``), lines ending with ``END``. Real-time notifications (``>INFO:``,
``>CLIENT:``, ``>LOG:``...) start with ``>`` and may arrive at any moment,
also between the lines of a reply, so the reader sets them aside. With a
password file, OpenVPN first writes ``ENTER PASSWORD:`` with no line end and
prompts again after a wrong password. OpenVPN serves one management client
at a time, so connections are short: open, a few commands, ``quit``.

This module raises its own exceptions (plus `TimeoutError`); the connector
translates them into iam's error types at its boundary.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

from iam.secrets import Secret

PROMPT = b"ENTER PASSWORD:"
#: A unix socket path, or (host, port) for TCP.
Address = str | tuple[str, int]


class ManagementError(Exception):
    """Base of this client's errors."""


class ManagementUnavailable(ManagementError):
    """No connection could be made, or OpenVPN closed it."""


class ManagementAuthError(ManagementError):
    """The management password is missing or was rejected."""


class ManagementProtocolError(ManagementError):
    """OpenVPN answered something this client does not understand."""


@dataclass(frozen=True)
class Notification:
    """One real-time line: ``>SOURCE:text``."""

    source: str
    text: str


@dataclass(frozen=True)
class Reply:
    """A command's answer: ``ok`` False for ``ERROR:``; ``lines`` for multi-line replies."""

    ok: bool
    message: str = ""
    lines: tuple[str, ...] = ()


def describe(address: Address) -> str:
    return address if isinstance(address, str) else f"{address[0]}:{address[1]}"


class ManagementClient:
    """One management session; use as a context manager so ``quit`` is always sent."""

    def __init__(
        self,
        address: Address,
        *,
        password: Secret | None = None,
        timeout: float = 10.0,
        on_notification: Callable[[Notification], None] | None = None,
    ) -> None:
        self.address = address
        self.password = password
        self.timeout = timeout
        self.on_notification = on_notification
        #: The most recent notifications, for diagnostics and tests.
        self.notifications: deque[Notification] = deque(maxlen=200)
        self._sock: socket.socket | None = None
        self._buf = bytearray()

    def __enter__(self) -> ManagementClient:
        self.open()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # connection ---------------------------------------------------------------

    def open(self) -> None:
        """Connect, answer the password prompt if there is one, wait for the ``>INFO`` greeting."""
        if self._sock is not None:
            return
        where = describe(self.address)
        try:
            if isinstance(self.address, str):
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(self.timeout)
                try:
                    sock.connect(self.address)
                except BaseException:
                    sock.close()
                    raise
            else:
                sock = socket.create_connection(self.address, timeout=self.timeout)
        except (TimeoutError, PermissionError):
            raise
        except OSError as exc:
            raise ManagementUnavailable(f"cannot connect to {where}: {exc.strerror or exc}") from exc
        self._sock, self._buf = sock, bytearray()
        try:
            self._handshake(time.monotonic() + self.timeout)
        except BaseException:
            self._abort()
            raise

    def _handshake(self, deadline: float) -> None:
        first = self._prompt_or_line(deadline, "greeting")
        if first is None:
            self._authenticate(deadline)
            first = self._prompt_or_line(deadline, "greeting")
        while True:
            if first is None:
                raise ManagementProtocolError("OpenVPN asked for the password again after accepting it")
            if first.startswith(">"):
                note = self._notify(first)
                if note.source == "INFO":
                    return
            else:
                raise ManagementProtocolError(f"unexpected greeting from OpenVPN: {first[:60]!r}")
            first = self._prompt_or_line(deadline, "greeting")

    def _authenticate(self, deadline: float) -> None:
        if self.password is None:
            raise ManagementAuthError(
                "OpenVPN's management interface asks for a password; set management_password"
            )
        value = self.password.reveal()
        if any(c in value for c in "\r\n\0"):
            raise ManagementAuthError("the management password contains a line break; OpenVPN cannot take it")
        self._send_line(value)
        try:
            answer = self._prompt_or_line(deadline, "answer to the password")
        except ManagementUnavailable:
            raise ManagementAuthError(
                "OpenVPN closed the connection after the password: wrong password"
            ) from None
        if answer is None or answer.startswith("ERROR:"):
            raise ManagementAuthError("OpenVPN rejected the management password")
        if not answer.startswith("SUCCESS:"):
            raise ManagementProtocolError(f"unexpected answer to the password: {answer[:60]!r}")

    def close(self) -> None:
        """Say ``quit`` and close; safe to call twice and on a broken connection."""
        if self._sock is None:
            return
        with contextlib.suppress(OSError):  # already gone: closing is all that is left
            self._sock.sendall(b"quit\n")
        self._abort()

    def _abort(self) -> None:
        sock, self._sock = self._sock, None
        self._buf = bytearray()
        if sock is not None:
            sock.close()

    # commands -----------------------------------------------------------------

    def command(self, text: str, *, multiline: bool = False) -> Reply:
        """Send one command and return its reply; notifications in between are set aside.

        ``multiline`` is for commands that print lines ending in ``END``
        (``status``, ``version``, ``help``); an ``ERROR:`` line ends those too.
        """
        if any(c in text for c in "\r\n\0"):
            raise ValueError("a management command is a single line")
        self.open()
        verb = text.split(" ", 1)[0]
        deadline = time.monotonic() + self.timeout
        try:
            self._send_line(text)
            line = self._reply_line(deadline, verb)
            if line.startswith("ERROR:"):
                return Reply(False, line[6:].strip())
            if line.startswith("SUCCESS:"):
                return Reply(True, line[8:].strip())
            if not multiline:
                raise ManagementProtocolError(f"unexpected reply to {verb!r}: {line[:60]!r}")
            lines: list[str] = []
            while line != "END":
                lines.append(line)
                line = self._reply_line(deadline, verb)
            return Reply(True, "", tuple(lines))
        except BaseException:
            self._abort()  # the stream's position is unknown: never reuse it
            raise

    # reading ------------------------------------------------------------------

    def _send_line(self, text: str) -> None:
        assert self._sock is not None
        try:
            self._sock.sendall(text.encode("utf-8") + b"\n")
        except TimeoutError:
            raise
        except OSError as exc:
            raise ManagementUnavailable(
                f"connection to {describe(self.address)} lost: {exc.strerror}"
            ) from exc

    def _fill(self, deadline: float, waiting_for: str) -> None:
        assert self._sock is not None
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"{describe(self.address)} sent no {waiting_for} within {self.timeout:g}s")
        self._sock.settimeout(left)
        try:
            data = self._sock.recv(65536)
        except TimeoutError:
            raise TimeoutError(
                f"{describe(self.address)} sent no {waiting_for} within {self.timeout:g}s"
            ) from None
        except OSError as exc:
            raise ManagementUnavailable(
                f"connection to {describe(self.address)} lost: {exc.strerror}"
            ) from exc
        if not data:
            raise ManagementUnavailable(
                f"OpenVPN closed the management connection ({describe(self.address)})"
            )
        self._buf += data

    def _take_line(self) -> str | None:
        end = self._buf.find(b"\n")
        if end < 0:
            return None
        raw = bytes(self._buf[:end])
        del self._buf[: end + 1]
        return raw.decode("utf-8", "replace").rstrip("\r")

    def _prompt_or_line(self, deadline: float, waiting_for: str) -> str | None:
        """The next line, or None for the password prompt (which has no line end)."""
        while True:
            if self._buf.startswith(PROMPT):
                del self._buf[: len(PROMPT)]
                return None
            line = self._take_line()
            if line is not None:
                return line
            self._fill(deadline, waiting_for)

    def _reply_line(self, deadline: float, verb: str) -> str:
        """The next line that is not a notification."""
        while True:
            line = self._take_line()
            if line is None:
                self._fill(deadline, f"reply to {verb!r}")
                continue
            if line.startswith(">"):
                self._notify(line)
                continue
            return line

    def _notify(self, line: str) -> Notification:
        source, _, text = line[1:].partition(":")
        note = Notification(source, text)
        self.notifications.append(note)
        if self.on_notification is not None:
            self.on_notification(note)
        return note
