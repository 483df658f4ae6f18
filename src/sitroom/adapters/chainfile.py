"""Sender chains at rest: one file per sender, outside the workspace, under its own key.

``<folder>/<name>.json`` (the folder is ``ratchet/`` in the workspace's key-files folder,
settings.key_files) holds, for each track and epoch the sender seals in, the number of
messages sealed and the chain key after the last (domain/secure/ratchet.py) — nothing else: no
epoch secret, no earlier chain key. It is written whole (atomically) and readable by its owner
only, and sealed under the sender's private keys (sealedfile.py): whoever reads it without
them learns how many chains there are, not their keys; an edited file is one clear error.
Each change happens under a lock (two processes sealing as the same sender never take the
same number) and is on disk before the message key is handed out.

A file written under a key since replaced opens with nothing the sender now holds: its chains
are of epochs re-keyed at the replacement, which seal nothing more, so it is read as empty.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from sitroom.adapters.readerfile import READER_DIR, ReaderFiles
from sitroom.adapters.sealedfile import KEY_BYTES, SealedFiles
from sitroom.application.ports import ChainStep
from sitroom.domain.secure.codec import b64, unb64
from sitroom.domain.secure.identity import Secret
from sitroom.domain.secure.ratchet import ChainState
from sitroom.errors import SecureError

FORMAT = "sitroom-chains/1"
RATCHET_DIR = "ratchet"  # in the workspace's key-files folder (settings.key_files)
Chains = dict[tuple[str, int], ChainState]


class ChainFiles:
    """The ``SenderChains`` port on disk, one file per sender in ``directory``."""

    def __init__(self, directory: Path) -> None:
        self._files = SealedFiles(
            directory, format=FORMAT, info=b"sitroom sender chains v1", noun="sender-chains"
        )
        self.dir = self._files.dir

    def path(self, name: str) -> Path:
        return self._files.path(name)

    def readers(self) -> ReaderFiles:
        """The members' reader states, beside the chains (``reader/`` next to ``ratchet/``)."""
        return ReaderFiles(self.dir.parent / READER_DIR)

    def get(self, me: Secret, track: str, epoch: int) -> ChainState | None:
        return self._read(me).get((track, epoch))

    def advance(
        self, me: Secret, track: str, epoch: int, step: ChainStep
    ) -> tuple[bytes, ChainState]:
        with self._files.lock(me.name):
            chains = self._read(me)  # fresh, under the lock
            key, after = step(chains.get((track, epoch)))
            kept = {k: c for k, c in chains.items() if k[0] != track or k[1] > epoch}
            kept[(track, epoch)] = after
            self._write(me, kept)
        return key, after

    def _write(self, me: Secret, chains: Chains) -> None:
        entries = [
            {"track": t, "epoch": e, "n": c.n, "ck": b64(c.ck)}
            for (t, e), c in sorted(chains.items())
        ]
        self._files.write(me, {"chains": entries})

    def _read(self, me: Secret) -> Chains:
        body = self._files.read(me)
        return {} if body is None else _chains(body, lambda what: self._files.bad(me.name, what))


def _chains(body: dict[str, Any], bad: Callable[[str], SecureError]) -> Chains:
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
