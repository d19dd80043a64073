"""Reading an installed CRL: what the OpenVPN server enforces, or an error naming the file.

The CRLs here are real ones, signed by a throwaway CA made with
``cryptography`` (no easy-rsa needed); the integration tests read easy-rsa's.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from iam.connectors.vpn.boundary import translate
from iam.connectors.vpn.pki import EasyRsa

from iam import errors

LAST_UPDATE = datetime(2026, 11, 22, 21, 28, 56, tzinfo=UTC)
NEXT_UPDATE = datetime(2027, 5, 21, 21, 28, 56, tzinfo=UTC)


class Ca:
    """A self-signed CA that can sign CRLs."""

    def __init__(self, name: str) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(self.name)
            .issuer_name(self.name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(LAST_UPDATE - timedelta(days=1))
            .not_valid_after(NEXT_UPDATE + timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )

    def write_cert(self, path: Path) -> Path:
        path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))
        return path

    def crl(self, path: Path, serials: list[int], issuer: x509.Name | None = None) -> Path:
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(issuer or self.name)
            .last_update(LAST_UPDATE)
            .next_update(NEXT_UPDATE)
        )
        for serial in serials:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(LAST_UPDATE).build()
            )
        path.write_bytes(builder.sign(self.key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
        return path


@pytest.fixture
def ca(tmp_path: Path) -> Ca:
    authority = Ca("Easy-RSA CA")
    authority.write_cert(tmp_path / "ca.crt")
    return authority


def read(tmp_path: Path, crl: Path) -> object:
    with translate("read the CRL", "vpn"):
        return EasyRsa(tmp_path).crl_info(crl)


def test_a_crl_gives_its_serials_and_next_update(tmp_path: Path, ca: Ca) -> None:
    """Moved from the ``openssl crl -text`` parser: the same CRL, now read by ``cryptography``."""
    info = EasyRsa(tmp_path).crl_info(ca.crl(tmp_path / "crl.pem", [0x04F8AABE, 0x0A1B]))
    assert info.serials == {0x4F8AABE, 0xA1B}
    assert info.next_update == NEXT_UPDATE and info.next_update.tzinfo is not None
    empty = EasyRsa(tmp_path).crl_info(ca.crl(tmp_path / "empty.pem", []))
    assert empty.serials == frozenset()
    missing = EasyRsa(tmp_path).crl_info(tmp_path / "not-installed.pem")
    assert missing.serials == frozenset() and missing.next_update is None


def test_serials_are_compared_as_numbers_whatever_their_spelling(tmp_path: Path, ca: Ca) -> None:
    info = EasyRsa(tmp_path).crl_info(ca.crl(tmp_path / "crl.pem", [0x04F8AABE]))
    assert info.lists("04F8AABE") and info.lists("4f8aabe") and info.lists("04:f8:aa:be")
    assert not info.lists("4F8AABF")


def test_a_crl_signed_by_another_ca_is_an_error_naming_the_file(tmp_path: Path, ca: Ca) -> None:
    """Even under this CA's name: only the signature says who made it."""
    other = Ca("Another CA")
    for name, issuer in (("foreign.pem", None), ("forged.pem", ca.name)):
        crl = other.crl(tmp_path / name, [0x0A1B], issuer=issuer)
        with pytest.raises(errors.IncompleteRead, match=rf"{crl}.*not signed by the CA {tmp_path}/ca\.crt"):
            read(tmp_path, crl)


@pytest.mark.parametrize(
    "content",
    [
        b"not a CRL\n",
        b"-----BEGIN X509 CRL-----\nMIIBrokenBase64==\n-----END X509 CRL-----\n",
        b"",
    ],
)
def test_a_corrupted_crl_is_an_error_naming_the_file(tmp_path: Path, ca: Ca, content: bytes) -> None:
    crl = tmp_path / "crl.pem"
    crl.write_bytes(content)
    with pytest.raises(errors.IncompleteRead, match=rf"the CRL {crl} cannot be read"):
        read(tmp_path, crl)


def test_a_truncated_crl_is_an_error_naming_the_file(tmp_path: Path, ca: Ca) -> None:
    crl = ca.crl(tmp_path / "crl.pem", [0x0A1B])
    lines = crl.read_bytes().splitlines(keepends=True)
    crl.write_bytes(b"".join(lines[:2] + lines[-1:]))
    with pytest.raises(errors.IncompleteRead, match=rf"the CRL {crl} cannot be read"):
        read(tmp_path, crl)


def test_a_ca_certificate_that_cannot_be_read_is_an_error_naming_it(tmp_path: Path, ca: Ca) -> None:
    crl = ca.crl(tmp_path / "crl.pem", [0x0A1B])
    (tmp_path / "ca.crt").write_bytes(b"garbage\n")
    with pytest.raises(errors.IncompleteRead, match=rf"the CA certificate {tmp_path}/ca\.crt cannot be read"):
        read(tmp_path, crl)
    (tmp_path / "ca.crt").unlink()
    with pytest.raises(errors.IncompleteRead, match=rf"the CA certificate {tmp_path}/ca\.crt cannot be read"):
        read(tmp_path, crl)
