"""Bytes as text, and JSON as the bytes that get signed.

Keys, nonces, ciphertexts and signatures travel inside JSON payloads as unpadded base64url.
Whatever is signed or bound into an AEAD is first canonicalised with RFC 8785 (JSON
Canonicalization Scheme), so the signer and every verifier hash the very same bytes whatever
their JSON library, key order or number formatting.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

import orjson
import rfc8785

from sitroom.errors import SecureError, UserInputError

# base64url's alphabet as base64's, and back (bytes: str.translate with a table is 10x slower,
# and a sealed record's payload is decoded on every fold)
_STANDARD = bytes.maketrans(b"-_+/", b"+/-_")


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64(text: str, *, what: str = "value", size: int | None = None) -> bytes:
    """Decode unpadded base64url; a wrong alphabet or length is a :class:`SecureError`.
    Strictly: a character outside the alphabet is refused, not skipped (a lenient decoder
    lets the same bytes be written many ways, and a damaged field read as something else)."""
    try:
        raw = text.encode("ascii")
        padded = (raw + b"=" * (-len(raw) % 4)).translate(_STANDARD)
        data = binascii.a2b_base64(padded, strict_mode=True)
    except (binascii.Error, ValueError, TypeError, AttributeError, UnicodeEncodeError):
        raise SecureError(f"{what} is not base64url") from None
    if size is not None and len(data) != size:
        raise SecureError(f"{what} must be {size} bytes, got {len(data)}")
    return data


_SAFE_INT = 2**53  # RFC 8785 numbers are IEEE doubles: integers below this are exact


def canonical(value: Any) -> bytes:
    """RFC 8785 canonical JSON: the bytes to sign or to bind as associated data.

    A flat object of strings and exact integers (an envelope's header) that orjson writes with
    sorted keys in plain ASCII, escaping nothing, has that one spelling under RFC 8785 too:
    ASCII keys sort the same by UTF-16 code units as by bytes, and there was nothing to
    escape. That costs a twentieth of the general canonicaliser, which takes everything else.
    """
    if type(value) is dict and all(
        type(k) is str and (type(v) is str or (type(v) is int and -_SAFE_INT < v < _SAFE_INT))
        for k, v in value.items()
    ):
        out = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
        if out.isascii() and b"\\" not in out:
            return out
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as e:
        raise SecureError(f"cannot canonicalise: {e}") from None


def json_object(data: bytes | str | Mapping[str, Any], what: str) -> dict[str, Any]:
    """A statement handed over as a file — a card, a co-signed head, an agreed record — read
    as a JSON object (UserInputError saying it is not ``what``)."""
    if isinstance(data, Mapping):
        return dict(data)
    try:
        loaded = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise UserInputError(f"this is not {what} (not JSON)") from None
    if not isinstance(loaded, dict):
        raise UserInputError(f"this is not {what} (not a JSON object)")
    return loaded
