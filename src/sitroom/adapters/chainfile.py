"""Sender chains at rest: one file per sender, outside the workspace, under its own key.

``<folder>/<name>.json`` (the folder is ``ratchet/`` in the workspace's key-files folder,
settings.key_files) holds, for each track and epoch the sender seals in, the number of
messages sealed and the chain key after the last (domain/secure/ratchet.py) — nothing else: no
epoch secret, no earlier chain key. It is written whole (atomically) and readable by its owner
only, and sealed with ChaCha20-Poly1305 under a key derived with HKDF-SHA256 from the sender's
private keys, the file's header (format, name, fingerprint, salt) as associated data: whoever
reads it without the sender's private key learns how many chains there are, not their keys; an
edited file is one clear error. Each change happens under a lock (two processes sealing as the
same sender never take the same number) and is on disk before the message key is handed out.

A file written under a key since replaced opens with nothing the sender now holds: its chains
are of epochs re-keyed at the replacement, which seal nothing more, so it is read as empty.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from sitroom.adapters.outputs import locked, write_private
from sitroom.application.ports import ChainStep
from sitroom.domain.secure.codec import b64, canonical, json_object, unb64
from sitroom.domain.secure.identity import Secret, check_name
from sitroom.domain.secure.ratchet import ChainState
from sitroom.errors import SecureError, UserInputError

FORMAT = "sitroom-chains/1"
RATCHET_DIR = "ratchet"  # in the workspace's key-files folder (settings.key_files)
SALT_BYTES, NONCE_BYTES, KEY_BYTES = 16, 12, 32
_TEXT = ("name", "fingerprint", "salt", "nonce", "sealed")
Chains = dict[tuple[str, int], ChainState]
Bad = Callable[[str], SecureError]  # what is wrong -> the error naming the file


class ChainFiles:
    """The ``SenderChains`` port on disk, one file per sender in ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.dir = Path(directory)

    def path(self, name: str) -> Path:
        return self.dir / f"{check_name(name)}.json"

    def get(self, me: Secret, track: str, epoch: int) -> ChainState | None:
        return self._read(me).get((track, epoch))

    def advance(
        self, me: Secret, track: str, epoch: int, step: ChainStep
    ) -> tuple[bytes, ChainState]:
        with locked(self.path(me.name)):
            chains = self._read(me)  # fresh, under the lock
            key, after = step(chains.get((track, epoch)))
            kept = {k: c for k, c in chains.items() if k[0] != track or k[1] > epoch}
            kept[(track, epoch)] = after
            self._write(me, kept)
        return key, after

    def _write(self, me: Secret, chains: Chains) -> None:
        salt, nonce = os.urandom(SALT_BYTES), os.urandom(NONCE_BYTES)
        header = {
            "format": FORMAT,
            "name": me.name,
            "fingerprint": me.identity.fingerprint,
            "salt": b64(salt),
        }
        plain = canonical(
            {
                "chains": [
                    {"track": t, "epoch": e, "n": c.n, "ck": b64(c.ck)}
                    for (t, e), c in sorted(chains.items())
                ]
            }
        )
        sealed = ChaCha20Poly1305(_key(me, salt)).encrypt(nonce, plain, canonical(header))
        body = {**header, "nonce": b64(nonce), "sealed": b64(sealed)}
        write_private(self.path(me.name), orjson.dumps(body, option=orjson.OPT_INDENT_2))

    def _read(self, me: Secret) -> Chains:
        path = self.path(me.name)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as e:
            raise SecureError(f"{path}: cannot be read ({e.strerror or e})") from None

        def bad(what: str) -> SecureError:
            return SecureError(f"{path}: {what}")

        body = _object(data, bad)
        if body.get("format") != FORMAT:
            raise bad(f"is not a sitroom sender-chains file (its format is not {FORMAT})")
        for field in _TEXT:
            if not isinstance(body.get(field), str):
                raise bad(f"has no {field}" if field not in body else f"its {field} is not text")
        if body["name"] != me.name:
            raise bad(f"holds {body['name']}'s chains, not {me.name}'s")
        if body["fingerprint"] != me.identity.fingerprint:
            return {}  # a replaced key's: its epochs were re-keyed (see the module's notes)
        header = {k: v for k, v in body.items() if k not in ("nonce", "sealed")}
        try:
            salt = unb64(body["salt"], what="its salt", size=SALT_BYTES)
            nonce = unb64(body["nonce"], what="its nonce", size=NONCE_BYTES)
            sealed = unb64(body["sealed"], what="its sealed chains")
            plain = ChaCha20Poly1305(_key(me, salt)).decrypt(nonce, sealed, canonical(header))
        except SecureError as e:
            raise bad(str(e)) from None
        except InvalidTag:
            raise bad(f"was altered or damaged: it does not open with {me.name}'s key") from None
        return _chains(_object(plain, bad), bad)


def _key(me: Secret, salt: bytes) -> bytes:
    return HKDF(hashes.SHA256(), KEY_BYTES, salt, b"sitroom sender chains v1").derive(
        me.private_bytes()
    )


def _object(data: bytes, bad: Bad) -> dict[str, Any]:
    try:
        return json_object(data, "")
    except UserInputError:
        raise bad("is not a JSON object (damaged or cut short)") from None


def _chains(body: dict[str, Any], bad: Bad) -> Chains:
    chains: Chains = {}
    entries = body.get("chains")
    if not isinstance(entries, list):
        raise bad("holds no list of chains")
    for entry in entries:
        try:
            track, epoch, n = str(entry["track"]), entry["epoch"], entry["n"]
            ck = unb64(str(entry["ck"]), what="a chain key", size=KEY_BYTES)
        except (KeyError, TypeError, SecureError):
            raise bad("holds a damaged chain") from None
        if type(epoch) is not int or type(n) is not int or n < 0:
            raise bad("holds a damaged chain")
        chains[(track, epoch)] = ChainState(n, ck)
    return chains
