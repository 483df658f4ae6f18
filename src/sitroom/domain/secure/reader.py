"""A member's reader state: what it keeps, instead of epoch secrets, to read a track's messages
with forward secrecy (Signal's receiving chains, made durable).

A member that opens an epoch through its inbox copy (inbox.py) derives at once what it needs
from the epoch secret — each other member's chain root ``ck_0`` (ratchet.py) and the epoch's
record key — and then keeps no epoch secret and deletes the inbox private key. Reading message
``n`` of a sender takes ``mk_n`` from the sender's chain and moves the chain past it: the keys
of the messages skipped on the way are kept (at most :data:`MAX_SKIP` per chain, the oldest
dropped first, as Signal's MAX_SKIP bounds them), and each key is deleted once it opened its
message. So after reading, the state holds no key of a message already read.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from sitroom.domain.secure.epochs import record_key
from sitroom.domain.secure.ratchet import chain_root, message_key, next_chain

MAX_SKIP = 1000


@dataclass(frozen=True)
class ReaderChain:
    """A sender's chain as read: ``ck`` is ``ck_n``; ``skipped`` the keys of messages up to
    ``n`` not read yet."""

    n: int
    ck: bytes
    skipped: Mapping[int, bytes] = field(default_factory=dict)

    def take(self, n: int) -> tuple[bytes, ReaderChain] | None:
        """``mk_n`` and the chain without it (None: its key is not held — read already)."""
        if n <= self.n:
            if n not in self.skipped:
                return None
            return self.skipped[n], replace(
                self, skipped={k: v for k, v in self.skipped.items() if k != n}
            )
        skipped, ck = dict(self.skipped), self.ck
        for k in range(self.n + 1, n):
            if n - k <= MAX_SKIP:  # older ones would be dropped below at once
                skipped[k] = message_key(ck)
            ck = next_chain(ck)
        keep = sorted(skipped)[-MAX_SKIP:]
        return message_key(ck), ReaderChain(n, next_chain(ck), {k: skipped[k] for k in keep})


@dataclass(frozen=True)
class ReaderEpoch:
    """What a member keeps of an epoch it opened: its record key and the other members'
    chains."""

    aead: str
    record_key: bytes
    chains: Mapping[str, ReaderChain]


@dataclass(frozen=True)
class ReaderState:
    """A member's inbox private keys (by id) and the epochs it opened through them."""

    inbox: Mapping[int, bytes] = field(default_factory=dict)
    epochs: Mapping[tuple[str, int], ReaderEpoch] = field(default_factory=dict)

    def with_inbox(self, keys: Mapping[int, bytes]) -> ReaderState:
        return replace(self, inbox={**self.inbox, **keys})

    def opened(self, track: str, epoch: int, kept: ReaderEpoch, inbox_id: int) -> ReaderState:
        """The epoch kept and the inbox key it was sealed to deleted, in one write."""
        return ReaderState(
            {k: v for k, v in self.inbox.items() if k != inbox_id},
            {**self.epochs, (track, epoch): kept},
        )

    def read(self, track: str, epoch: int, sender: str, n: int) -> ReaderState:
        """The state once message ``n`` of ``sender`` was read: its key deleted."""
        kept = self.epochs.get((track, epoch))
        chain = None if kept is None else kept.chains.get(sender)
        taken = None if chain is None else chain.take(n)
        if kept is None or taken is None:
            return self  # read meanwhile by another process: nothing left to delete
        chains = {**kept.chains, sender: taken[1]}
        return replace(self, epochs={**self.epochs, (track, epoch): replace(kept, chains=chains)})


def reader_epoch(
    secret: bytes, track: str, epoch: int, aead: str, senders: Iterable[str]
) -> ReaderEpoch:
    """What a member keeps of an epoch instead of its secret: the root of each sender's chain
    (the member's own is not among them: it keeps no key of what it sealed) and the record
    key."""
    return ReaderEpoch(
        aead,
        record_key(secret, track, epoch),
        {s: ReaderChain(0, chain_root(secret, track, epoch, s, aead)) for s in sorted(senders)},
    )
