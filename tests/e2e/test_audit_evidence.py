"""The audit log an auditor can defend, attacked through the CLI on a real slapd's offboarding:
every tampering caught (exit 3, naming the record), nothing lost in a torn write, who acted named,
read-only commands without secrets, and the evidence pack of a termination."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from iam.lab.waiting import wait_for

from iam.actor import os_actor
from iam.chain import canonical, record_hash
from tests.conftest import PASSWORD_ENV, Directory, iam_env, run_iam
from tests.support import schemas
from tests.support.rsyslog import Rsyslog, rsyslog_available


def offboard(config: Path, username: str, *extra: str):
    return run_iam("--config", str(config), "offboard", username, "--reason", "resigned", "--yes", *extra)


def verify(config: Path, *extra: str):
    return run_iam("--config", str(config), "audit", "verify", *extra)


def lines(config: Path) -> list[dict]:
    return [json.loads(line) for line in log_of(config).read_text().splitlines()]


def log_of(config: Path) -> Path:
    return config.parent / "state/audit.jsonl"


def write(config: Path, records: list[dict]) -> None:
    log_of(config).write_text("".join(canonical(r) + "\n" for r in records))


def rechain(records: list[dict]) -> list[dict]:
    """What an attacker who can write the log does: recompute every link and hash."""
    prev = "0" * 64
    out = []
    for seq, record in enumerate(records, start=1):
        record = {k: v for k, v in record.items() if k != "hash"} | {"seq": seq, "prev": prev}
        record["hash"] = prev = record_hash(record)
        out.append(record)
    return out


@pytest.fixture
def audited(directory: Directory, config_file: Path) -> Path:
    """Two offboardings recorded: a log with history worth rewriting."""
    for name in ("alice", "bob"):
        assert offboard(config_file, name).returncode == 0
    assert verify(config_file).returncode == 0
    return config_file


@pytest.fixture
def signed(tmp_path: Path, directory: Directory, config_file: Path) -> Path:
    """The configuration with an Ed25519 signing key, and one offboarding sealed by it."""
    key = tmp_path / "audit-signing.key"
    key.write_bytes(
        Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    data = yaml.safe_load(config_file.read_text())
    data["audit"] = {"signing_key": {"file": str(key)}}
    config_file.write_text(yaml.safe_dump(data))
    assert offboard(config_file, "alice").returncode == 0
    public = run_iam("--config", str(config_file), "audit", "public-key")
    assert public.returncode == 0, public.stderr
    (tmp_path / "audit-public.pem").write_text(public.stdout)
    return config_file


# tampering: each attack caught, exit 3, the record named -------------------------------------------


def test_an_edited_record_is_named(audited: Path) -> None:
    records = lines(audited)
    records[3]["username"] = "mallory"
    write(audited, records)
    result = verify(audited)
    assert result.returncode == 3
    assert "line 4 (record 4" in result.stderr and "edited" in result.stderr


def test_a_forged_record_appended_with_a_correct_hash_is_caught(audited: Path) -> None:
    records = lines(audited)
    forged = {"event": "access.changed", "username": "bob", "outcome": "updated", "actor": "os:nobody"}
    forged |= {"seq": records[-1]["seq"] + 1, "prev": records[-1]["hash"]}
    forged["hash"] = record_hash(forged)
    write(audited, [*records, forged])
    result = verify(audited)
    assert result.returncode == 3
    assert (
        f"records {forged['seq']} to {forged['seq']} come after the last record the store saw"
        in result.stderr
    )


def test_history_rewritten_and_rechained_then_one_record_appended_is_caught(audited: Path) -> None:
    records = [r | {"username": "carol"} if r.get("username") == "bob" else r for r in lines(audited)]
    records.append({"event": "note", "at": "2026-12-02T10:00:00+00:00"})  # bob's offboarding is now carol's
    write(audited, rechain(records))
    result = verify(audited)
    assert result.returncode == 3
    assert (
        f"(record {len(records) - 1}, " in result.stderr
        and "is not the record the store anchored" in result.stderr
    )

    write(audited, rechain([*records, records[-1] | {"event": "more"}]))
    assert "come after the last record the store saw" in verify(audited).stderr


@pytest.mark.parametrize("cut", [1, 5])
def test_a_truncated_log_is_caught(audited: Path, cut: int) -> None:
    write(audited, lines(audited)[:-cut])
    result = verify(audited)
    assert result.returncode == 3 and "records were removed from the end" in result.stderr


def test_a_removed_or_reordered_record_is_named(audited: Path) -> None:
    records = lines(audited)
    write(audited, records[:2] + records[3:])
    assert "line 3 (record 4" in verify(audited).stderr
    write(audited, [records[0], records[2], records[1], *records[3:]])
    result = verify(audited)
    assert result.returncode == 3 and "line 2 (record 3" in result.stderr


def test_a_deleted_store_is_said_never_intact(audited: Path) -> None:
    (audited.parent / "state/iam.db").unlink()
    result = verify(audited)
    assert result.returncode == 3 and "the store holds no anchor for this log" in result.stderr


def test_a_store_rolled_back_is_caught(audited: Path, directory: Directory) -> None:
    store = audited.parent / "state/iam.db"
    before = store.with_suffix(".before")
    with sqlite3.connect(store) as db:  # a consistent copy, as a backup would take
        db.execute(f"VACUUM INTO '{before}'")
    assert (
        run_iam("--config", str(audited), "offboard", "nobody-else", "--reason", "x", "--yes").returncode == 2
    )
    for wal in store.parent.glob("iam.db*"):
        wal.unlink()
    shutil.copy(before, store)
    result = verify(audited)
    assert result.returncode == 3 and "the store was rolled back" in result.stderr


def test_a_torn_last_line_is_reported_and_offboarding_goes_on_after_the_last_whole_record(
    audited: Path,
) -> None:
    log = log_of(audited)
    whole = log.read_text()
    log.write_text(whole + '{"event":"access.changed","seq":')  # a crash mid-write, a full disk

    result = offboard(audited, "alice")  # already offboarded: reads, verifies, records

    assert result.returncode == 0, result.stderr
    torn_line = whole.count("\n") + 1
    check = verify(audited)
    assert check.returncode == 3
    assert [p for p in check.stderr.splitlines()[1:]] == [
        f"  line {torn_line}: not a whole record (a torn write or a foreign line); "
        "the records after it are checked against the last whole one"
    ]
    after = [json.loads(x) for x in log.read_text().splitlines()[torn_line:]]
    assert after and after[0]["prev"] == json.loads(whole.splitlines()[-1])["hash"]


# signed checkpoints ---------------------------------------------------------------------------------


def test_an_auditor_with_only_the_public_key_checks_the_log(signed: Path, tmp_path: Path) -> None:
    key = tmp_path / "audit-public.pem"
    alone = run_iam("audit", "verify", "--log", str(log_of(signed)), "--public-key", str(key), cwd=tmp_path)
    assert alone.returncode == 0, alone.stderr
    assert "chain intact" in alone.stdout and "sealed to record" in alone.stdout
    assert lines(signed)[-1]["event"] == "audit.checkpoint"


def test_a_log_and_store_rewritten_by_someone_without_the_key_are_caught(
    signed: Path, tmp_path: Path
) -> None:
    """They recompute every hash and set the store's anchor to match: only the signature is left."""
    records = [r for r in lines(signed) if r.get("event") != "access.changed"]
    forged = rechain(records)
    write(signed, forged)
    with sqlite3.connect(signed.parent / "state/iam.db") as db:
        db.execute("UPDATE audit_head SET seq = ?, hash = ?", (forged[-1]["seq"], forged[-1]["hash"]))

    result = verify(signed)
    assert result.returncode == 3 and "the checkpoint's signature is not valid" in result.stderr
    auditor = run_iam(
        "audit", "verify", "--log", str(log_of(signed)), "--public-key", str(tmp_path / "audit-public.pem")
    )
    assert auditor.returncode == 3 and "signature is not valid" in auditor.stderr


def test_records_after_the_last_checkpoint_are_not_sealed_for_an_auditor(
    signed: Path, tmp_path: Path
) -> None:
    records = lines(signed)
    extra = {"event": "note", "seq": records[-1]["seq"] + 1, "prev": records[-1]["hash"]}
    extra["hash"] = record_hash(extra)
    write(signed, [*records, extra])
    auditor = run_iam(
        "audit", "verify", "--log", str(log_of(signed)), "--public-key", str(tmp_path / "audit-public.pem")
    )
    assert auditor.returncode == 3 and "they are not sealed" in auditor.stderr


def test_a_checkpoint_of_another_key_is_not_accepted(signed: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.pem"
    other.write_bytes(
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    auditor = run_iam("audit", "verify", "--log", str(log_of(signed)), "--public-key", str(other))
    assert auditor.returncode == 3 and "not by the key given" in auditor.stderr


def test_a_log_never_signed_is_called_unsigned_not_tampered(audited: Path, tmp_path: Path) -> None:
    """No key ever sealed it: an auditor asking for a signature check gets none (exit 3), and is not told
    the log was tampered with."""
    key = tmp_path / "audit-public.pem"
    key.write_bytes(
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    for result in (
        verify(audited, "--public-key", str(key)),
        run_iam("audit", "verify", "--log", str(log_of(audited)), "--public-key", str(key)),
    ):
        assert result.returncode == 3
        assert "UNSIGNED" in result.stderr and "no signed checkpoint" in result.stderr
        assert "TAMPERED" not in result.stderr and "tamper" not in result.stderr.lower()


# who acted, and read-only commands without secrets -----------------------------------------------------


def test_every_record_names_who_acted_and_the_ticket(directory: Directory, config_file: Path) -> None:
    assert offboard(config_file, "alice", "--ticket", "CHG-4711").returncode == 0
    records = lines(config_file)
    assert records and all(r["actor"] == os_actor() for r in records)
    run = [r for r in records if r.get("run_id")]
    assert run and all(r["ticket"] == "CHG-4711" for r in run)


def test_read_only_commands_need_no_connector_secret(directory: Directory, config_file: Path) -> None:
    assert offboard(config_file, "alice").returncode == 0
    auditor = {k: v for k, v in iam_env().items() if k != PASSWORD_ENV}  # no bind password here
    for command in (
        ["audit", "verify"],
        ["audit", "show", "--format", "json"],
        ["runs", "--format", "json"],
        ["evidence", "--user", "alice", "--format", "json"],
    ):
        result = run_iam("--config", str(config_file), *command, env=auditor)
        assert result.returncode == 0, (command, result.stderr)
    needs = run_iam("--config", str(config_file), "status", "alice", env=auditor)
    assert needs.returncode == 2 and PASSWORD_ENV in needs.stderr


def test_read_only_commands_need_no_console_secret_and_serve_names_where_it_is(
    directory: Directory, config_file: Path
) -> None:
    assert offboard(config_file, "alice").returncode == 0
    key = config_file.parent / "session.key"  # on the console's machine, not the auditor's
    with config_file.open("a") as f:
        f.write(
            "web:\n"
            "  ldap: {url: 'ldaps://ldap.example.org', user_dn: 'uid={username},dc=example,dc=org'}\n"
            f"  session_secret: {{file: {key}}}\n"
        )
    line = len(config_file.read_text().splitlines())
    for command in (
        ["audit", "verify"],
        ["audit", "show", "--format", "json"],
        ["runs", "--format", "json"],
        ["evidence", "--user", "alice", "--format", "json"],
    ):
        result = run_iam("--config", str(config_file), *command)
        assert result.returncode == 0, (command, result.stderr)

    serve = run_iam("--config", str(config_file), "serve", "--port", "0")
    assert serve.returncode == 2
    assert f"{config_file}:{line}: web.session_secret: cannot read secret file" in serve.stderr

    key.write_text("too short")
    short = run_iam("--config", str(config_file), "runs")
    assert short.returncode == 2
    assert f"{config_file}:{line}: web.session_secret: must be at least 32 characters" in short.stderr


# the evidence pack ----------------------------------------------------------------------------------------


def test_the_evidence_pack_of_a_termination(signed: Path, tmp_path: Path) -> None:
    result = run_iam("--config", str(signed), "evidence", "--user", "alice", "--format", "json")
    assert result.returncode == 0, result.stderr
    pack = json.loads(result.stdout)
    schemas.validate(pack, "evidence-pack")
    assert pack["status"] == "complete" and pack["ordered_by"] == os_actor() and pack["reason"] == "resigned"
    (system,) = pack["systems"]
    assert len([e for e in system["held_before"]["entitlements"] if e.startswith("group:")]) == 4
    assert system["read_back"]["entitlements"] == [] and system["remaining"] == []
    assert all(step["started_at"] and step["finished_at"] for step in system["steps"])
    seal = pack["audit"]
    assert seal["records"] >= len(system["steps"]) and seal["checkpoint_seq"] > seal["last_seq"]
    check = seal["verify_with"].replace("PUBLIC-KEY.pem", str(tmp_path / "audit-public.pem")).split()[1:]
    assert run_iam(*check, cwd=signed.parent).returncode == 0

    page = run_iam("--config", str(signed), "evidence", "--user", "alice", "--out", str(tmp_path / "e.html"))
    assert page.returncode == 0, page.stderr
    html = (tmp_path / "e.html").read_text()
    assert "<script" not in html and "http" not in html.split("</style>")[0]  # offline, no asset fetched
    assert "@page{size:A4" in html and "COMPLETE" in html and "alice" in html
    for entitlement in pack["systems"][0]["held_before"]["entitlements"]:
        assert entitlement in html


# the off-box copy ----------------------------------------------------------------------------------------


@pytest.fixture
def rsyslog(tmp_path: Path, request: pytest.FixtureRequest):
    if not rsyslog_available():
        if os.environ.get("CI"):
            pytest.fail("rsyslogd is not installed; the test command installs it (scripts/test)")
        pytest.skip("rsyslogd is not installed (run scripts/test, which installs it)")
    server = Rsyslog(tmp_path / "rsyslog", tls=getattr(request, "param", False))
    server.start()
    yield server
    server.stop()


def _with_syslog(config: Path, server: Rsyslog) -> None:
    data = yaml.safe_load(config.read_text())
    data["audit"] = {
        "syslog": {"host": "127.0.0.1", "port": server.port, "tls": server.tls, "timeout": 2}
        | ({"ca_file": str(server.ca_file)} if server.ca_file else {})
    }
    config.write_text(yaml.safe_dump(data))


def _copy_matches_log(config: Path, server: Rsyslog) -> None:
    expected = [canonical(r) for r in lines(config)]
    wait_for(lambda: server.received() == expected or None, 15, "the syslog copy to hold every record")


@pytest.mark.parametrize("rsyslog", [False, True], indirect=True, ids=["tcp", "tls"])
def test_every_record_reaches_a_real_syslog_server_in_order(
    directory: Directory, config_file: Path, rsyslog: Rsyslog
) -> None:
    _with_syslog(config_file, rsyslog)
    assert offboard(config_file, "alice").returncode == 0
    _copy_matches_log(config_file, rsyslog)


def test_a_syslog_outage_never_stops_a_termination_and_the_copy_catches_up_in_order(
    directory: Directory, config_file: Path, rsyslog: Rsyslog
) -> None:
    _with_syslog(config_file, rsyslog)
    assert offboard(config_file, "alice").returncode == 0
    _copy_matches_log(config_file, rsyslog)
    rsyslog.stop()

    during = offboard(config_file, "bob")

    assert during.returncode == 0, during.stderr  # terminated all the same
    assert "the syslog copy is behind" in during.stderr
    assert len(rsyslog.received()) < len(lines(config_file))
    rsyslog.start()
    assert run_iam("--config", str(config_file), "runs").returncode == 0  # any later command catches up
    _copy_matches_log(config_file, rsyslog)


# rotation and retention ------------------------------------------------------------------------------------


def _with_rotation(config: Path, **audit: int) -> None:
    data = yaml.safe_load(config.read_text())
    data["audit"] = audit
    config.write_text(yaml.safe_dump(data))


def test_a_rotated_log_keeps_one_chain_across_its_files(directory: Directory, config_file: Path) -> None:
    _with_rotation(config_file, rotate_bytes=4096)
    for name in ("alice", "bob", "alice"):
        assert offboard(config_file, name).returncode == 0
    log = log_of(config_file)
    rotated = sorted(p for p in log.parent.glob("audit.jsonl.*") if p.suffix != ".lock")
    assert len(rotated) >= 2
    first_of_current = json.loads(log.read_text().splitlines()[0])
    assert first_of_current["event"] == "audit.rotated" and first_of_current["previous"] == rotated[-1].name
    assert verify(config_file).returncode == 0

    records = [json.loads(x) for x in rotated[0].read_text().splitlines()]
    records[1]["username"] = "mallory"
    rotated[0].write_text("".join(canonical(r) + "\n" for r in records))
    result = verify(config_file)
    assert result.returncode == 3 and f"{rotated[0].name} line 2 (record 2" in result.stderr


def test_retention_prunes_old_rotated_files_and_runs_and_says_so(
    directory: Directory, config_file: Path
) -> None:
    _with_rotation(config_file, rotate_bytes=4096, retention_days=30)
    for name in ("alice", "bob"):
        assert offboard(config_file, name).returncode == 0
    log = log_of(config_file)
    before = sorted(p.name for p in log.parent.glob("audit.jsonl.0*"))
    assert before

    later = run_iam(
        "--config", str(config_file), "run-due", "--now", "2027-06-01T00:00:00+00:00", "--format", "json"
    )

    assert later.returncode == 0, later.stderr
    upkeep = json.loads(later.stdout)["maintenance"]
    assert [u["system"] for u in upkeep] == ["audit"] and "finished run(s)" in upkeep[0]["detail"]
    assert not list(log.parent.glob("audit.jsonl.0*"))
    pruned = [r for r in lines(config_file) if r["event"] == "audit.pruned"]
    assert [r["files"] for r in pruned] == [before]
    assert verify(config_file).returncode == 0  # the chain starts where the prune record says
    runs = json.loads(run_iam("--config", str(config_file), "runs", "--format", "json").stdout)
    assert not [r for r in runs if r["kind"] == "offboard"]  # finished long before the retention
