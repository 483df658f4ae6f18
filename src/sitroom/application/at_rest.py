"""Compartments' records sealed at rest (the engine's ``RecordSeal`` port).

A record whose compartment is a track that has a key is stored sealed under the record key
of the track's newest epoch this site issued (domain/secure/at_rest.py): a copy of the log
without a member's key shows its envelope (id, kind, times, compartment) and not its payload.
Records written before a track had a key stay as written; bulk feeds have no compartment.

Not sealed: what the ``secure`` projection folds (identities, grants, epochs, the channel
records that carry envelopes already sealed), which access decisions and keys are read from,
and the audit's own records.

Opening uses whatever keys this process holds — the site's (every track: the site is a
member of each epoch it issues), a person's (the tracks whose epochs were sealed to them).
A record none of them opens is left out and counted (:attr:`SealedRecords.hidden`), as a
compartment a user is not cleared for is left out of what they see; one that does not open
under its key (altered or moved) is left out and named in :attr:`SealedRecords.notes`.

Sealing a record needs its track's key: a process holding none of its epoch's copies refuses
the append in one line, rather than store a compartment's text in the clear.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from sitroom.application.ports import Readable
from sitroom.domain.kinds import (
    AUDIT_CHECKPOINT,
    AUTH_REVOKED,
    AUTH_TOKEN,
    AUTHOR_SIGNATURE,
    WITNESS_COSIGNED,
)
from sitroom.domain.records import ENVELOPE, RecordBatch
from sitroom.domain.secure.at_rest import (
    NONCE_BYTES,
    PREFIX,
    envelope_of,
    open_payload,
    read_sealed,
    seal_payload,
)
from sitroom.domain.secure.epochs import check_epoch_signature, open_epoch, record_key
from sitroom.domain.secure.identity import Identity, Secret
from sitroom.domain.secure.ledger import SecureProjection
from sitroom.errors import Rejected, SecureError

# The key.epoch payloads the log holds after a position: (seq, payload).
EpochsAfter = Callable[[int], Iterable[tuple[int, Mapping[str, Any]]]]
# A track's record key in an epoch, from one holder of keys (None: it holds no copy).
RecordKeySource = Callable[[Mapping[str, Any]], bytes | None]

NEVER_SEALED = frozenset(
    [
        *(SecureProjection.kinds or ()),
        AUTHOR_SIGNATURE,
        AUDIT_CHECKPOINT,
        WITNESS_COSIGNED,
        AUTH_TOKEN,
        AUTH_REVOKED,
    ]
)


def held_by(secret: Secret) -> RecordKeySource:
    """The record keys of the epochs sealed to ``secret``'s identity key."""

    def source(epoch: Mapping[str, Any]) -> bytes | None:
        mine = epoch.get("members", {}).get(secret.name)
        if not isinstance(mine, Mapping):
            return None
        if mine.get("fingerprint") != secret.identity.fingerprint:
            return None
        try:
            opened = open_epoch(epoch, secret)
        except (Rejected, SecureError):
            return None
        return record_key(opened, str(epoch["track"]), int(epoch["epoch"]))

    return source


class SealedRecords:
    """Seals and opens one log's compartment records. ``epochs(after)``: the log's key.epoch
    records; ``site``/``anchor()``: this site and its public card (records are sealed only
    under epochs it issued and signed); ``holders()``: the key sources of this process, asked
    when a key is first needed (the site's key is unlocked only then)."""

    def __init__(
        self,
        epochs: EpochsAfter,
        *,
        site: str,
        anchor: Callable[[], Identity | None],
        holders: Callable[[], Sequence[RecordKeySource]],
        random_bytes: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self._epochs_after = epochs
        self._site = site
        self._anchor = anchor
        self._holders = holders
        self._random = random_bytes
        self._seen = 0  # the log position the epochs were read up to
        self._epochs: dict[str, dict[int, Mapping[str, Any]]] = {}
        self._own: dict[str, int] = {}  # track -> the epoch its records are sealed under
        self._keys: dict[tuple[str, int], bytes] = {}
        self.hidden: dict[str, set[int]] = {}  # records left out (their seq), by track
        self.notes: list[str] = []
        self._noted: set[str] = set()
        # What the last seal made, by its sealed text: the engine opens the records it has
        # just appended, and needs not decrypt what it encrypted a moment ago. Keyed by the
        # exact sealed text (its nonce is fresh), so no other record can take one for its own.
        self._fresh: dict[str, str] = {}

    # sealing --------------------------------------------------------------------------------
    def seal(self, batch: RecordBatch) -> RecordBatch:
        wanted = self._candidates(batch)
        if wanted is None:
            return batch
        self._refresh()
        rows = pc.indices_nonzero(wanted).to_pylist()
        tracks = batch.column("compartment").to_pylist()
        sealing = {t: self._sealing(t) for t in {tracks[i] for i in rows}}
        if not any(sealing.values()):
            return batch
        batch = batch.as_json()
        payloads = batch.column("payload").to_pylist()
        envelopes = batch.table.select(list(ENVELOPE)).take(rows).to_pylist()
        self._fresh = {}
        for i, row in zip(rows, envelopes, strict=True):
            track = tracks[i]
            epoch = sealing[track]
            if epoch is None:
                continue
            key = self._key(track, epoch)
            if key is None:
                raise SecureError(
                    f"records of track {track} are sealed under its key, and no key this "
                    f"process holds opens its epoch {epoch}: write them as a member of the "
                    "track, or where the site's key is"
                )
            plain = payloads[i]
            payloads[i] = seal_payload(
                key, plain, envelope_of(row), epoch=epoch, nonce=self._random(NONCE_BYTES)
            )
            self._fresh[payloads[i]] = plain
        return batch.with_column("payload", payloads)

    @staticmethod
    def _candidates(batch: RecordBatch) -> pa.ChunkedArray | None:
        if not len(batch):
            return None
        wanted = pc.and_(
            pc.not_equal(batch.column("compartment"), ""),
            pc.invert(pc.is_in(batch.column("kind"), pa.array(sorted(NEVER_SEALED)))),
        )
        return wanted if pc.any(wanted).as_py() else None

    # opening --------------------------------------------------------------------------------
    def open(self, batch: RecordBatch) -> Readable:
        if not len(batch) or batch.typed:
            return Readable(batch)  # sealed payloads are JSON text: a typed page holds none
        payload = batch.column("payload")
        sealed = pc.starts_with(payload, PREFIX)
        if not pc.any(sealed).as_py():
            return Readable(batch)
        self._refresh()
        rows = pc.indices_nonzero(sealed).to_pylist()
        payloads = payload.to_pylist()
        envelopes = batch.table.select(list(ENVELOPE)).take(rows).to_pylist()
        keep = [True] * len(batch)
        opened: set[str] = set()
        for i, row in zip(rows, envelopes, strict=True):
            envelope = envelope_of(row)
            plain = self._fresh.pop(payloads[i], None)
            if plain is not None:
                payloads[i] = plain
                opened.add(envelope.kind)
                continue
            try:
                body = read_sealed(payloads[i])
                key = self._key(body.track, body.epoch)
                if key is None:
                    keep[i] = False
                    self.hidden.setdefault(envelope.compartment, set()).add(int(row["seq"] or 0))
                    continue
                payloads[i] = open_payload(key, body, envelope)
                opened.add(envelope.kind)
            except Rejected as e:
                keep[i] = False
                self._note(f"record {envelope.id} is left out: {e}")
        out = batch.with_column("payload", payloads)
        if not all(keep):
            out = out.filter(pa.array(keep))
        return Readable(out, frozenset(opened))

    def _note(self, note: str) -> None:
        if note not in self._noted:
            self._noted.add(note)
            self.notes.append(note)

    # keys -------------------------------------------------------------------------------------
    def _refresh(self) -> None:
        for seq, payload in self._epochs_after(self._seen):
            self._seen = max(self._seen, seq)
            number = payload.get("epoch")
            if type(number) is int:
                self._epochs.setdefault(str(payload.get("track")), {})[number] = payload
                self._own.pop(str(payload.get("track")), None)  # chosen again

    def _sealing(self, track: str) -> int | None:
        """The epoch ``track``'s records are sealed under: the newest this site issued whose
        signature verifies against the site's card (None: the track has no key of this
        site's). One that does not verify is passed over and said once: a forged epoch would
        have records sealed under a key its forger knows."""
        if track in self._own:
            return self._own[track]
        mine = sorted(
            (n for n, p in self._epochs.get(track, {}).items() if p.get("issuer") == self._site),
            reverse=True,
        )
        for number in mine:
            try:
                anchor = self._anchor()
                if anchor is None:
                    raise Rejected("forged", "this site has no key to check it against")
                check_epoch_signature(self._epochs[track][number], anchor)
            except (Rejected, SecureError) as e:
                self._note(f"epoch {number} of track {track} is not used to seal: {e}")
                continue
            self._own[track] = number
            return number
        return None

    def _key(self, track: str, epoch: int) -> bytes | None:
        found = self._keys.get((track, epoch))
        if found is not None:
            return found
        payload = self._epochs.get(track, {}).get(epoch)
        if payload is None:
            return None
        for source in self._holders():
            key = source(payload)
            if key is not None:
                self._keys[(track, epoch)] = key
                return key
        return None  # not kept: a key proven later (a user's login) may open it


class _Clear:
    """Records stored as they are: an engine over a log no one else reads (tests, a scratch
    engine, a simulation)."""

    def seal(self, batch: RecordBatch) -> RecordBatch:
        return batch

    def open(self, batch: RecordBatch) -> Readable:
        return Readable(batch)


CLEAR = _Clear()
