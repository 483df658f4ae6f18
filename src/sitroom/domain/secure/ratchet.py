"""Sender chains: one message key per message, each derived from a chain key then forgotten.

Within an epoch every sender has a hash chain (Signal's sender keys, the MLS secret tree's
per-sender ratchet): its root ``ck_0`` is derived from the epoch secret with HKDF-SHA256 whose
``info`` binds the track, the epoch, the sender and the AEAD; each message ``n >= 1`` takes

    mk_n = HMAC-SHA256(ck_{n-1}, 0x01)      ck_n = HMAC-SHA256(ck_{n-1}, 0x02)

(Signal's KDF_CK). HMAC is one-way, so ``ck_n`` yields ``mk_{n+1}`` and later keys but no key
before: a sender that keeps only ``(n, ck_n)`` after message ``n`` holds nothing that opens
message ``n`` or any earlier one. A reader holding the epoch secret walks the chain from its
root to the message's number; :class:`Chains` remembers where it got to, so a stream of
messages costs one step each, and refuses a number past the key's limit before walking.
"""

from __future__ import annotations

import hmac
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from sitroom.domain.secure.codec import canonical
from sitroom.domain.secure.wear import Policy
from sitroom.errors import Rejected

MESSAGE, CHAIN = b"\x01", b"\x02"
MARK_EVERY = 256  # a reader remembers every 256th chain key of a chain it walked
CHAINS_KEPT = 256  # ... of this many chains at most


def chain_root(secret: bytes, track: str, epoch: int, sender: str, aead: str) -> bytes:
    """``ck_0``: the root of ``sender``'s chain in this epoch of ``track``."""
    info = canonical(
        {
            "use": "sitroom sender chain",
            "track": track,
            "epoch": epoch,
            "sender": sender,
            "aead": aead,
        }
    )
    return HKDF(hashes.SHA256(), 32, None, info).derive(secret)


def message_key(ck: bytes) -> bytes:
    """``mk_n`` from ``ck_{n-1}``."""
    return hmac.digest(ck, MESSAGE, "sha256")


def next_chain(ck: bytes) -> bytes:
    """``ck_n`` from ``ck_{n-1}``."""
    return hmac.digest(ck, CHAIN, "sha256")


@dataclass(frozen=True)
class ChainState:
    """A sender's chain after ``n`` messages: ``ck`` is ``ck_n`` (its next message is n + 1)."""

    n: int
    ck: bytes

    def walk(self, to: int) -> ChainState:
        """The chain after ``to`` messages (``to >= n``)."""
        n, ck = self.n, self.ck
        while n < to:
            ck, n = next_chain(ck), n + 1
        return ChainState(n, ck)

    def advance(self) -> tuple[bytes, ChainState]:
        """The next message's key, and the chain after it."""
        return message_key(self.ck), ChainState(self.n + 1, next_chain(self.ck))


def chain_limit(aead: str) -> int:
    """How far a reader walks a chain: the AEAD's published message limit, or the chain's own
    (the organisation's lower limit binds its senders, not other sites')."""
    return Policy().message_limit(aead)


Where = tuple[bytes, str, int, str, str]  # the epoch secret, track, epoch, sender, AEAD


class Chains:
    """A reader's walks along senders' chains, remembered in memory (as the epoch secrets they
    come from are): every :data:`MARK_EVERY`-th chain key and the last one reached."""

    def __init__(self, limit: Callable[[str], int] = chain_limit) -> None:
        self.limit = limit
        self._walked: OrderedDict[Where, tuple[list[bytes], ChainState]] = OrderedDict()

    def key(self, secret: bytes, track: str, epoch: int, sender: str, aead: str, n: int) -> bytes:
        """``mk_n`` of ``sender``'s chain; :class:`Rejected` for a number no sender reaches."""
        limit = self.limit(aead)
        if not 1 <= n <= limit:
            raise Rejected(
                "malformed",
                f"a message numbered {n:,} from {sender} in epoch {epoch} of track {track} is "
                f"past its key's limit of {limit:,}: no sender seals it",
            )
        where = (secret, track, epoch, sender, aead)
        if where in self._walked:
            marks, last = self._walked[where]
            self._walked.move_to_end(where)
        else:
            root = ChainState(0, chain_root(secret, track, epoch, sender, aead))
            marks, last = [root.ck], root
            while len(self._walked) >= CHAINS_KEPT:
                self._walked.popitem(last=False)
        at = min((n - 1) // MARK_EVERY, len(marks) - 1)
        start = ChainState(at * MARK_EVERY, marks[at])
        if start.n < last.n <= n - 1:
            start = last
        while start.n < n - 1:
            start = ChainState(start.n + 1, next_chain(start.ck))
            if start.n == len(marks) * MARK_EVERY:
                marks.append(start.ck)
        self._walked[where] = (marks, start)
        return message_key(start.ck)
