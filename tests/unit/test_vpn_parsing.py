"""Pure VPN pieces: names, the PKI index, status rows, settings, files; CRLs in test_vpn_crl."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from iam.connectors.vpn.boundary import CommandRefused, translate
from iam.connectors.vpn.commands import output_tail
from iam.connectors.vpn.files import replace_file
from iam.connectors.vpn.names import InvalidUsername, check_username
from iam.connectors.vpn.openvpn import OpenVpnConnector
from iam.connectors.vpn.pki import (
    EasyRsa,
    UnreadableIndex,
    normalize_serial,
    parse_asn1_time,
    parse_index,
)
from iam.connectors.vpn.profile import ProfileSettings, write_profile
from iam.connectors.vpn.settings import OpenVpnSettings, loopback
from iam.connectors.vpn.status import parse_status3

from iam import errors
from iam.secrets import Secret
from iam.settings import validate_settings

INDEX = (
    "V\t290224212533Z\t\tF1E0DEBE0A7FBE0C6683D2C434E79E58\tunknown\t/CN=server\n"
    "R\t290224212533Z\t261122212856Z,keyCompromise\t04F8AABE\tunknown\t/CN=alice\n"
    "V\t20600101000000Z\t\t00AB\tunknown\t/C=FR/O=Example/CN=bob\n"
    "E\t200101000000Z\t\tCD\tunknown\t/CN=carol\n"
    "\n"
)


@pytest.mark.parametrize("name", ["alice", "a", "j.doe", "j_doe-2", "ada@example.org", "A" * 64])
def test_plain_usernames_pass(name: str) -> None:
    assert check_username(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "alice\nkill all",
        "alice\n",
        "$(id)",
        "`id`",
        "a b",
        "'a'",
        '"a"',
        "a/b",
        "..",
        "-a",
        ".a",
        "a;b",
        "",
        "é",
        "A" * 65,
        "a\tb",
        "a\\b",
        "a\0b",
    ],
)
def test_names_that_could_inject_are_refused(name: str) -> None:
    with pytest.raises(InvalidUsername) as caught:
        check_username(name, "vpn")
    assert isinstance(caught.value, errors.InputError) and isinstance(caught.value, errors.PermanentError)
    assert str(caught.value).startswith("vpn: invalid VPN username")


def test_index_lines_become_records() -> None:
    records = {r.cn: r for r in parse_index(INDEX)}
    assert set(records) == {"server", "alice", "bob", "carol"}
    assert records["alice"].status == "R" and records["alice"].serial == "4F8AABE"
    assert records["alice"].revoked_at == datetime(2026, 11, 22, 21, 28, 56, tzinfo=UTC)
    assert records["bob"].serial == "AB" and records["bob"].expires.year == 2060
    now = datetime(2027, 1, 1, tzinfo=UTC)
    assert records["carol"].expired(now) and not records["bob"].expired(now)
    assert records["server"].expired(datetime(2030, 1, 1, tzinfo=UTC))


@pytest.mark.parametrize(
    "line",
    [
        "garbage line",
        "V\t290224212533Z\t\tNOT-HEX\tunknown\t/CN=dave",
        "V\tyesterday\t\t0A\tunknown\t/CN=dave",
        "X\t290224212533Z\t\t0A\tunknown\t/CN=dave",
    ],
)
def test_a_line_that_cannot_be_read_is_an_error_never_one_certificate_fewer(line: str) -> None:
    with pytest.raises(UnreadableIndex, match=r"pki/index\.txt line 6 is not an index line"):
        parse_index(INDEX + line + "\n", "pki/index.txt")


def test_asn1_times_of_both_centuries() -> None:
    assert parse_asn1_time("500101000000Z").year == 1950
    assert parse_asn1_time("491231235959Z").year == 2049


def test_serials_compare_without_zeros_case_or_colons() -> None:
    assert normalize_serial("00ab:CD") == normalize_serial("ABcd") == "ABCD"
    assert normalize_serial("000") == "0"
    assert normalize_serial("xyz") is None and normalize_serial("") is None


def test_status_rows_without_a_header_use_the_26_columns() -> None:
    rows = parse_status3(["CLIENT_LIST\talice\t1.2.3.4:5\t10.8.0.2\t\t1\t2\tsince\t0\tUNDEF\t9\t9", "END"])
    assert rows[0].common_name == "alice" and rows[0].client_id == "9" and rows[0].live


def test_status_columns_are_found_by_header_name() -> None:
    rows = parse_status3(
        ["HEADER\tCLIENT_LIST\tClient ID\tCommon Name\tVirtual Address", "CLIENT_LIST\t5\tbob\t", "END"]
    )
    assert (rows[0].common_name, rows[0].client_id, rows[0].live) == ("bob", "5", False)


def test_command_output_loses_pem_blocks_keys_and_secrets() -> None:
    secret = Secret("ca-passphrase-xyz")
    text = (
        "Using SSL: openssl\n-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMG\n-----END PRIVATE KEY-----\n"
        f"wrong passphrase {secret.reveal()}\nkey yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk= refused\n"
    )
    tail = output_tail(text)
    assert "MIGHAgEAMBMG" not in tail and "ca-passphrase-xyz" not in tail and "yAnz5TF" not in tail
    assert "wrong passphrase ***" in tail and "<key> refused" in tail


def test_settings_are_checked_and_secrets_wrapped() -> None:
    good = {"pki_dir": "/p", "crl_path": "/c", "management": "/s", "management_password": "pw-1234"}
    out = validate_settings("vpn", OpenVpnSettings, good)
    assert isinstance(out.management_password, Secret)
    with pytest.raises(errors.ConfigError, match=r"systems\.vpn") as caught:
        validate_settings("vpn", OpenVpnSettings, {**good, "profile_dir": "/x"})  # remote is missing
    assert "pw-1234" not in str(caught.value)
    with pytest.raises(errors.ConfigError, match=r"systems\.vpn\.profile_extra\.0"):
        validate_settings("vpn", OpenVpnSettings, {**good, "profile_extra": ["verb 3\nup /bin/sh"]})
    assert (
        validate_settings("vpn", OpenVpnSettings, {**good, "crl_days": 400, "crl_renew_days": 1}).crl_days
        == 400
    )
    for bad in ({"crl_days": 0}, {"crl_renew_days": 0}, {"crl_renew_days": "30"}):
        with pytest.raises(errors.ConfigError, match=r"systems\.vpn\.crl_"):
            validate_settings("vpn", OpenVpnSettings, {**good, **bad})


def test_a_crl_renewal_margin_as_long_as_the_crl_is_refused() -> None:
    """Otherwise every run-due would make a new CRL (nothing is read or run to find out)."""
    good = {"pki_dir": "/p", "crl_path": "/c", "management": "/s"}
    assert OpenVpnConnector("vpn", {**good, "crl_days": 31}).crl_renew.days == 30
    with pytest.raises(
        errors.ConfigError, match=r"systems\.vpn\.crl_renew_days: 30 is not less than crl_days"
    ):
        OpenVpnConnector("vpn", {**good, "crl_days": 30})


def test_management_over_tcp_must_stay_on_loopback() -> None:
    assert loopback("vpn", "127.0.0.1") == "127.0.0.1" and loopback("vpn", "::1") == "::1"
    with pytest.raises(errors.ConfigError, match="not a loopback address"):
        loopback("vpn", "10.0.0.1")


def test_profiles_are_private_from_the_first_byte(tmp_path: Path) -> None:
    pem = "-----BEGIN {0}-----\nQUJD\n-----END {0}-----\n"
    (tmp_path / "ca.crt").write_text(pem.format("CERTIFICATE"))
    (tmp_path / "a.crt").write_text("Certificate:\n  text dump\n" + pem.format("CERTIFICATE"))
    (tmp_path / "a.key").write_text(pem.format("PRIVATE KEY"))
    settings = ProfileSettings(tmp_path / "out", "vpn.example.org", 1194, extra=("cipher AES-256-GCM",))
    path = write_profile("alice", settings, tmp_path / "ca.crt", tmp_path / "a.crt", tmp_path / "a.key")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    text = path.read_text()
    assert "remote vpn.example.org 1194" in text and "cipher AES-256-GCM" in text
    assert "<key>\n-----BEGIN PRIVATE KEY-----" in text and "text dump" not in text


def test_replacing_a_file_keeps_its_mode_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "crl.pem"
    target.write_text("old")
    target.chmod(0o640)
    inode = target.stat().st_ino
    replace_file(target, b"new")
    assert target.read_text() == "new" and stat.S_IMODE(target.stat().st_mode) == 0o640
    assert target.stat().st_ino != inode  # renamed over, never rewritten in place
    fresh = tmp_path / "fresh.pem"
    replace_file(fresh, b"x")
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o644
    assert sorted(os.listdir(tmp_path)) == ["crl.pem", "fresh.pem"]


def test_a_certificate_easyrsa_cannot_find_by_name_is_refused_with_the_command_to_run(tmp_path: Path) -> None:
    """easy-rsa revokes by file name only; iam names the ``openssl ca`` command and easy-rsa's copy."""
    (tmp_path / "certs_by_serial").mkdir()
    copy = tmp_path / "certs_by_serial" / "0ABC12.pem"  # openssl's name keeps the leading zero
    copy.write_text("not read")
    pki = EasyRsa(tmp_path, openssl="/no/such/openssl")  # no tool runs: both files are missing
    with pytest.raises(CommandRefused, match="so iam left it valid") as caught, translate("revoke", "vpn"):
        pki.revoke("alice", "ABC12")
    assert f"`openssl ca -config {tmp_path}/safessl-easyrsa.cnf -revoke {copy}`" in str(caught.value)
    assert not caught.value.retryable and caught.value.system == "vpn"
