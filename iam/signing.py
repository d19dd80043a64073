"""Signed checkpoints: an Ed25519 signature over the audit chain's head.

Someone who can rewrite both the log and the store can recompute every hash
and the stored anchor; they cannot sign without the key. The key is a secret
like any other (``audit.signing_key: {file: ...}``: a PEM private key, or
the raw 32 bytes in base64); an auditor checks with the public key alone
(``iam audit verify --public-key FILE``).
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from iam.errors import ConfigError
from iam.secrets import Secret


def key_id(public: Ed25519PublicKey) -> str:
    """A short fingerprint naming a key in each checkpoint (SHA-256 of the raw public key)."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "ed25519:" + hashlib.sha256(raw).hexdigest()[:16]


class Signer:
    """Signs checkpoints with the configured private key."""

    def __init__(self, secret: Secret) -> None:
        self._key = _private_key(secret)
        self.public = self._key.public_key()
        self.key_id = key_id(self.public)

    def sign(self, message: bytes) -> str:
        return base64.b64encode(self._key.sign(message)).decode()

    def public_pem(self) -> str:
        return self.public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()


def _private_key(secret: Secret) -> Ed25519PrivateKey:
    text = secret.reveal().strip()
    try:
        if text.startswith("-----BEGIN"):
            key: Any = serialization.load_pem_private_key(text.encode(), password=None)
        else:
            key = Ed25519PrivateKey.from_private_bytes(base64.b64decode(text, validate=True))
    except (ValueError, TypeError):
        raise ConfigError(
            "audit.signing_key: not an Ed25519 private key (PEM, or 32 raw bytes in base64); "
            "make one with `openssl genpkey -algorithm ed25519`"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError("audit.signing_key: an Ed25519 key is needed (openssl genpkey -algorithm ed25519)")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    """An auditor's copy of the public key (PEM, as `iam audit public-key` prints it)."""
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the public key: {exc.strerror}") from None
    except ValueError:
        raise ConfigError(f"{path}: not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise ConfigError(f"{path}: not an Ed25519 public key")
    return key


def signature_valid(public: Ed25519PublicKey, message: bytes, signature: str) -> bool:
    try:
        public.verify(base64.b64decode(signature, validate=True), message)
    except (InvalidSignature, ValueError):
        return False
    return True
