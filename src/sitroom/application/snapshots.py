"""How snapshots are sealed and opened (the engine's ``SnapshotSeal`` port).

A room's snapshots are :class:`SignedSnapshots`: each signed by the site's key and bound to the
chain head of the log it was folded from (domain/secure/snapshots.py), so a snapshot edited in
the database, copied from another place or from another log is rebuilt from the log instead of
used. Only a process that can read the site's key file signs; any other (an analyst's, with the
key file on the operator's media) saves no snapshots at all, and uses those the operator's
processes saved. Opening needs only the site's public card — but for a *private* snapshot, the
state of a projection that folded a compartment's sealed records (at_rest.py): it is encrypted
under a key derived from the site's, and only a process holding that key uses it; any other
folds those records from the log, opening what its own keys open.

:data:`UNSEALED` is for an engine over a log that no one else holds (tests, a scratch engine, a
simulation): its snapshots are stored and used as they are.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from sitroom.domain.secure.identity import Identity, Secret
from sitroom.domain.secure.snapshots import OpenedState, Unverified, open_snapshot, seal_snapshot
from sitroom.errors import SitroomError


class SignedSnapshots:
    """Snapshots signed by the site. ``head(seq)`` is the log's ``segment_head``; ``anchor()``
    the site's public card; ``can_sign()`` whether this process may unlock the site's key,
    which ``secret()`` does, once, when the first snapshot is sealed."""

    def __init__(
        self,
        head: Callable[[int], bytes | None],
        anchor: Callable[[], Identity],
        secret: Callable[[], Secret],
        can_sign: Callable[[], bool],
    ) -> None:
        self._head = head
        self._anchor = anchor
        self._secret = secret
        self._can_sign = can_sign
        self._unlocked: Secret | None = None
        self._card: Identity | None = None
        self.unsigned: str | None = None  # why this process could not sign after all

    def forget(self) -> None:
        """The site's key was replaced: sign and check with the new one from now on."""
        self._unlocked = None
        self._card = None
        self.unsigned = None

    @property
    def signs(self) -> bool:
        if self._unlocked is not None:
            return True
        return self.unsigned is None and self._can_sign()

    def seal(
        self, projection: str, version: int, seq: int, data: bytes, *, private: bool = False
    ) -> bytes | None:
        head = self._head(seq)
        secret = self._site() if head is not None else None
        if head is None or secret is None:
            return None
        nonce = os.urandom(12) if private else None
        return seal_snapshot(secret, projection, version, seq, head, data, private_nonce=nonce)

    def _site(self) -> Secret | None:
        """The site's key, unlocked once (None: this process may not, or could not)."""
        if self._unlocked is None and self.signs:
            try:
                self._unlocked = self._secret()
            except SitroomError as e:  # a damaged key file: snapshots are a cache
                self.unsigned = str(e)
        return self._unlocked

    def open(
        self, projection: str, version: int, seq: int, blob: bytes
    ) -> OpenedState | Unverified:
        if self._card is None:
            try:
                self._card = self._anchor()
            except SitroomError as e:
                return Unverified(f"there is no site key to check it against ({e})")
        return open_snapshot(
            blob,
            projection=projection,
            version=version,
            seq=seq,
            head=self._head(seq),
            anchor=self._card,
            secret=self._site,
        )


class _Unsealed:
    signs = True

    def seal(
        self, projection: str, version: int, seq: int, data: bytes, *, private: bool = False
    ) -> bytes | None:
        return data

    def open(
        self, projection: str, version: int, seq: int, blob: bytes
    ) -> OpenedState | Unverified:
        return OpenedState(blob)


UNSEALED = _Unsealed()
