"""Tokens at rest: what lets a person act again without typing their passphrase.

A token is 32 random bytes, handed to its holder once as ``sitroom_<id>_<secret>`` and never
stored. What the workspace keeps (``keys/tokens.json``, owner-only) is, per token: its id,
user, kind, name and expiry, a SHA-256 of the secret to recognise it, and the user's private
keys **wrapped** with ChaCha20-Poly1305 under a key derived from the secret (HKDF-SHA256). So
the file opens nothing by itself: whoever reads it learns who holds tokens and until when, not
a key. Revoking a token deletes its entry, and with it the only wrapped copy of the key.

This is how ``sitroom login`` works like ssh-agent — the passphrase once per working session,
then the token cached for the terminal — and how a server holds no one's key but for the
length of a request (API tokens for scripts work alike).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from sitroom.adapters.outputs import locked, write_private
from sitroom.application.ports import Token
from sitroom.domain.secure.codec import b64, canonical, unb64
from sitroom.domain.secure.identity import Secret
from sitroom.errors import AuthError, SecureError

FORMAT = "sitroom-tokens/1"
PREFIX = "sitroom_"
_SECRET_BYTES = 32


class TokenFile:
    """The tokens of a workspace, in ``keys/tokens.json``: a lock file serialises changes."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        # The entries as last read, by the file's identity: a server checks a token per
        # request, and a change — by this process or another — replaces the file (a new inode).
        self._seen: tuple[tuple[int, int, int], dict[str, dict[str, Any]]] | None = None

    # issuing ------------------------------------------------------------------------------
    def issue(self, secret: Secret, token: Token) -> str:
        """Keep ``token`` for ``secret``'s holder; the bearer string, shown this once."""
        raw = secrets.token_bytes(_SECRET_BYTES)
        header = _header(token)
        salt, nonce = os.urandom(16), os.urandom(12)
        wrapped = ChaCha20Poly1305(_key(raw, salt, token.id)).encrypt(
            nonce, secret.private_bytes(), canonical(header)
        )
        entry = {
            **header,
            "verifier": b64(hashlib.sha256(raw).digest()),
            "salt": b64(salt),
            "nonce": b64(nonce),
            "wrapped": b64(wrapped),
        }
        with self._changing() as entries:
            entries[token.id] = entry
        return f"{PREFIX}{token.id}_{base64.urlsafe_b64encode(raw).decode().rstrip('=')}"

    def revoke(self, token_id: str) -> Token | None:
        """Forget a token (None: no such token)."""
        with self._changing() as entries:
            entry = entries.pop(token_id, None)
        return None if entry is None else _token(entry)

    def revoke_expired(self, now_ms: int) -> int:
        with self._changing() as entries:
            gone = [k for k, e in entries.items() if int(e["expires_ms"]) <= now_ms]
            for k in gone:
                del entries[k]
        return len(gone)

    # using --------------------------------------------------------------------------------
    def open(self, bearer: str, now_ms: int) -> tuple[Token, Secret]:
        """The token ``bearer`` is and its holder's keys, unwrapped; AuthError if it is not a
        token kept here, has expired, or was revoked. The comparison is constant-time."""
        token_id, raw = _parse(bearer)
        entry = self._entries().get(token_id)
        expected = unb64(str(entry["verifier"]), what="verifier") if entry else bytes(32)
        if not hmac.compare_digest(hashlib.sha256(raw).digest(), expected) or entry is None:
            raise AuthError("the token is not valid here (unknown, revoked, or mistyped)")
        token = _token(entry)
        if token.expires_ms <= now_ms:
            raise AuthError(f"the token {token.id} expired; log in again")
        try:
            plain = ChaCha20Poly1305(
                _key(raw, unb64(str(entry["salt"]), what="salt"), token.id)
            ).decrypt(
                unb64(str(entry["nonce"]), what="nonce", size=12),
                unb64(str(entry["wrapped"]), what="wrapped key"),
                canonical(_header(token)),
            )
        except InvalidTag:
            raise AuthError(f"the token {token.id} was altered at rest") from None
        return token, Secret.from_private_bytes(token.user, token.role, plain)

    def tokens(self) -> list[Token]:
        return sorted((_token(e) for e in self._entries().values()), key=lambda t: t.created_ms)

    # the file -----------------------------------------------------------------------------
    def _entries(self) -> dict[str, dict[str, Any]]:
        """The entries, read again only if the file changed since (a read-only view)."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return {}
        except OSError as e:
            raise SecureError(f"cannot read {self.path}: {e}") from None
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        if self._seen is None or self._seen[0] != key:
            self._seen = (key, self._read())
        return self._seen[1]

    def _read(self) -> dict[str, dict[str, Any]]:
        try:
            body = orjson.loads(self.path.read_bytes())
        except FileNotFoundError:
            return {}
        except (OSError, orjson.JSONDecodeError) as e:
            raise SecureError(f"cannot read {self.path}: {e}") from None
        if not isinstance(body, dict) or body.get("format") != FORMAT:
            raise SecureError(f"{self.path} is not a sitroom token file")
        entries: dict[str, dict[str, Any]] = body.get("tokens", {})
        return entries

    @contextlib.contextmanager
    def _changing(self) -> Iterator[dict[str, dict[str, Any]]]:
        with locked(self.path):
            entries = self._read()  # fresh, under the lock: never a view others share
            yield entries
            data = orjson.dumps({"format": FORMAT, "tokens": entries}, option=orjson.OPT_INDENT_2)
            write_private(self.path, data)


def _header(token: Token) -> dict[str, Any]:
    return {
        "id": token.id,
        "user": token.user,
        "role": token.role,
        "kind": token.kind,
        "name": token.name,
        "created_ms": token.created_ms,
        "expires_ms": token.expires_ms,
    }


def _token(entry: dict[str, Any]) -> Token:
    return Token(
        id=str(entry["id"]),
        user=str(entry["user"]),
        role=str(entry["role"]),
        kind=str(entry["kind"]),
        name=str(entry["name"]),
        created_ms=int(entry["created_ms"]),
        expires_ms=int(entry["expires_ms"]),
    )


def _key(raw: bytes, salt: bytes, token_id: str) -> bytes:
    info = b"sitroom token v1 " + token_id.encode()
    return HKDF(hashes.SHA256(), 32, salt, info).derive(raw)


def _parse(bearer: str) -> tuple[str, bytes]:
    text = bearer.strip()
    if text.lower().startswith("bearer "):
        text = text[7:].strip()
    if not text.startswith(PREFIX) or text.count("_") < 2 or len(text) > 200:
        raise AuthError("that is not a sitroom token (they start with 'sitroom_')")
    token_id, _, secret = text[len(PREFIX) :].partition("_")
    try:
        raw = base64.urlsafe_b64decode(secret + "=" * (-len(secret) % 4))
    except ValueError:
        raise AuthError("that is not a sitroom token (its secret is not base64url)") from None
    if len(raw) != _SECRET_BYTES:
        raise AuthError("that is not a sitroom token (its secret has the wrong length)")
    return token_id, raw
