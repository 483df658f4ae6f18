"""TLS for desks and relays, from the keys sites already trust each other by.

A desk's certificate is made when it starts, self-signed with the site's own Ed25519 signing
key: the certificate's public key *is* the key in the site's card. No certificate authority
is asked or needed. A client does not check the certificate against any CA; it **pins** it:
the certificate's public key must be the signing key of the identity it expects at that
address (the channel's counterpart, or its intermediary), whose card was imported here with
the fingerprint its owner read out. TLS 1.3's handshake proves the far end holds that key.

The private key reaches OpenSSL through a file, since the standard library loads keys from
files only: encrypted under a random password that never leaves memory, written 0600 into a
private temporary directory (0700), and removed as soon as it is loaded.
"""

from __future__ import annotations

import datetime
import ipaddress
import secrets
import ssl
import tempfile
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.x509.oid import NameOID

from sitroom.domain.secure.identity import Identity, Secret

VALID_FOR = datetime.timedelta(days=365)
MISMATCH = "the certificate does not match the pinned card"


def certificate(secret: Secret, now: datetime.datetime | None = None) -> x509.Certificate:
    """A self-signed certificate for ``secret``'s site, signed with (and for) its Ed25519
    key; valid from an hour ago (clocks differ) for a year."""
    now = now or datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, secret.name)])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(secret.signing.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + VALID_FOR)
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.IPAddress(ipaddress.ip_address("::1")),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(secret.signing, None)  # Ed25519 signs with no separate hash
    )


def server_context(secret: Secret) -> ssl.SSLContext:
    """A TLS 1.3 server context presenting ``secret``'s certificate."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    password = secrets.token_bytes(32)
    key = secret.signing.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(password),
    )
    pem = certificate(secret).public_bytes(serialization.Encoding.PEM) + key
    with tempfile.TemporaryDirectory(prefix="sitroom-tls-") as folder:  # made 0700
        path = Path(folder) / "site.pem"
        path.touch(mode=0o600)
        path.write_bytes(pem)
        try:
            ctx.load_cert_chain(path, password=password)
        finally:
            path.unlink()
    return ctx


class PinnedContext(ssl.SSLContext):
    """A client context that accepts the far end only if its certificate's key is
    ``pin``'s signing key (checked right after the handshake, before a byte is sent)."""

    pin: Identity


class _PinnedSocket(ssl.SSLSocket):
    def do_handshake(self, block: bool = False) -> None:
        super().do_handshake(block)
        ctx = self.context
        assert isinstance(ctx, PinnedContext)
        if not presents(self.getpeercert(binary_form=True), ctx.pin):
            self.close()
            raise ssl.SSLCertVerificationError(
                f"{MISMATCH} of {ctx.pin.name} ({ctx.pin.fingerprint})"
            )


def presents(der: bytes | None, pin: Identity) -> bool:
    """Whether a certificate (DER) carries ``pin``'s signing key."""
    if not der:
        return False
    try:
        key: Any = x509.load_der_x509_certificate(der).public_key()
    except ValueError:
        return False
    return isinstance(key, Ed25519PublicKey) and key.public_bytes_raw() == pin.sign_pub


def pinned_context(pin: Identity) -> PinnedContext:
    """A TLS 1.3 client context pinned to ``pin``'s card (no CA, no host name: the key)."""
    ctx = PinnedContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.pin = pin
    ctx.sslsocket_class = _PinnedSocket
    return ctx
