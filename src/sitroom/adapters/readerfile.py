"""A member's inbox private keys and reader state at rest: one file per member, outside the
workspace, sealed under its own key (sealedfile.py), beside the sender chains.

``<folder>/<name>.json`` (the folder is ``reader/`` in the workspace's key-files folder) holds
the private halves of the inbox keys the member published and not yet used, and for each epoch
it opened through one, the epoch's record key and each other member's chain as read so far
(domain/secure/reader.py) — never an epoch secret. Opening an epoch writes its state and
deletes the inbox key in one atomic write; reading a message deletes its key the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from sitroom.adapters.sealedfile import KEY_BYTES, SealedFiles
from sitroom.domain.secure.codec import b64, unb64
from sitroom.domain.secure.identity import Secret
from sitroom.domain.secure.reader import ReaderChain, ReaderEpoch, ReaderState
from sitroom.errors import SecureError

FORMAT = "sitroom-reader/1"
READER_DIR = "reader"  # in the workspace's key-files folder (settings.key_files)
_T = TypeVar("_T")


class ReaderFiles:
    """The ``ReaderStates`` port on disk, one file per member in ``directory``."""

    def __init__(self, directory: Path) -> None:
        self._files = SealedFiles(
            directory, format=FORMAT, info=b"sitroom reader state v1", noun="reader-state"
        )

    def path(self, name: str) -> Path:
        return self._files.path(name)

    def get(self, me: Secret) -> ReaderState:
        body = self._files.read(me)
        return ReaderState() if body is None else self._state(me.name, body)

    def change(self, me: Secret, change: Callable[[ReaderState], tuple[_T, ReaderState]]) -> _T:
        with self._files.lock(me.name):
            before = self.get(me)
            out, after = change(before)
            if after != before:
                self._files.write(me, _body(after))
        return out

    def _state(self, name: str, body: dict[str, Any]) -> ReaderState:
        try:
            inbox = {
                _int(e["id"]): unb64(str(e["private"]), what="a key", size=KEY_BYTES)
                for e in body["inbox"]
            }
            epochs = {
                (str(e["track"]), _int(e["epoch"])): ReaderEpoch(
                    str(e["aead"]),
                    unb64(str(e["record_key"]), what="a key", size=KEY_BYTES),
                    {str(c["sender"]): _chain(c) for c in e["chains"]},
                )
                for e in body["epochs"]
            }
        except (KeyError, TypeError, ValueError, SecureError):
            raise self._files.bad(name, "holds a damaged inbox key or epoch") from None
        return ReaderState(inbox, epochs)


def _int(v: Any) -> int:
    if type(v) is not int or v < 0:
        raise ValueError(v)
    return v


def _chain(c: dict[str, Any]) -> ReaderChain:
    skipped = {_int(n): unb64(str(mk), what="a key", size=KEY_BYTES) for n, mk in c["skipped"]}
    return ReaderChain(_int(c["n"]), unb64(str(c["ck"]), what="a key", size=KEY_BYTES), skipped)


def _body(s: ReaderState) -> dict[str, Any]:
    return {
        "inbox": [{"id": i, "private": b64(k)} for i, k in sorted(s.inbox.items())],
        "epochs": [
            {
                "track": t,
                "epoch": n,
                "aead": e.aead,
                "record_key": b64(e.record_key),
                "chains": [
                    {
                        "sender": sender,
                        "n": c.n,
                        "ck": b64(c.ck),
                        "skipped": [[k, b64(mk)] for k, mk in sorted(c.skipped.items())],
                    }
                    for sender, c in sorted(e.chains.items())
                ],
            }
            for (t, n), e in sorted(s.epochs.items())
        ],
    }
