"""A throwaway rsyslogd on a free loopback port, receiving RFC 5424 over TCP (or TLS) into a file."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
from pathlib import Path

from iam.lab.waiting import wait_for

from tests.support.slapd import free_port

PLAIN = """
global(workDirectory="{dir}")
module(load="imtcp")
input(type="imtcp" port="{port}" address="127.0.0.1" ruleset="iam")
template(name="raw" type="string" string="%msg%\\n")
ruleset(name="iam") {{ action(type="omfile" file="{dir}/received.log" template="raw") }}
"""

TLS = """
global(workDirectory="{dir}" defaultNetstreamDriver="gtls" defaultNetstreamDriverCAFile="{dir}/server.crt"
       defaultNetstreamDriverCertFile="{dir}/server.crt" defaultNetstreamDriverKeyFile="{dir}/server.key")
module(load="imtcp" streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon")
input(type="imtcp" port="{port}" address="127.0.0.1" ruleset="iam")
template(name="raw" type="string" string="%msg%\\n")
ruleset(name="iam") {{ action(type="omfile" file="{dir}/received.log" template="raw") }}
"""


def rsyslog_available() -> bool:
    return shutil.which("rsyslogd") is not None or Path("/usr/sbin/rsyslogd").exists()


class Rsyslog:
    """Start and stop one rsyslogd; ``received`` is every message body it wrote, in order."""

    def __init__(self, workdir: Path, tls: bool = False) -> None:
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.tls = tls
        self.ca_file = self.dir / "server.crt" if tls else None
        if tls:
            subprocess.run(
                [
                    "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", str(self.dir / "server.key"), "-out", str(self.dir / "server.crt"),
                    "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                ],
                check=True,
                capture_output=True,
            )  # fmt: skip
        (self.dir / "rsyslog.conf").write_text((TLS if tls else PLAIN).format(dir=self.dir, port=self.port))
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"
        self.proc = subprocess.Popen(
            [binary, "-n", "-f", str(self.dir / "rsyslog.conf"), "-i", str(self.dir / "rsyslogd.pid")],
            stdout=subprocess.DEVNULL,
            stderr=open(self.dir / "rsyslogd.log", "ab"),  # noqa: SIM115
        )
        wait_for(lambda: self._listening(), 15, "rsyslogd to listen")

    def _listening(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"rsyslogd exited: {(self.dir / 'rsyslogd.log').read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None

    def received(self) -> list[str]:
        path = self.dir / "received.log"
        return [line.strip() for line in path.read_text().splitlines()] if path.exists() else []
