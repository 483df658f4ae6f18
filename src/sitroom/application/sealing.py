"""Sealing and opening a track's messages with the keys the log holds.

A :class:`Keyring` is one identity's access to the track epochs sealed to it, read from the
``secure`` projection as a session shows it: it opens an
epoch's secret with that identity's private key the first time it is needed and keeps it in
memory only. It seals messages as that identity (a site's desk seals and signs as the site),
each under its own key from the identity's chain in the epoch (domain/secure/ratchet.py): the
chain is kept between messages in a ``SenderChains`` store as its number and current chain key
only, stepped and stored before the envelope is handed out, so what is kept after message n
opens nothing up to n. It opens what arrives against the identities, epochs and replay windows
in the ``secure`` projection, walking senders' chains from the epoch secret.

A member whose copy of an epoch is sealed to one of its inbox keys (domain/secure/inbox.py)
keeps no epoch secret: the first time it needs the epoch it opens the copy with the inbox
private key, keeps what it derives in its ``ReaderStates`` store (the other members' chain
roots and the epoch's record key, domain/secure/reader.py) and deletes the inbox key, in one
write; it starts its own sending chain then too. Reading a message takes the message's key from
that store and deletes it once the message opened: a message read already is refused, and the
site, whose archive copy is sealed to its identity key, reopens it.

A chain that is not kept for an epoch the log says this identity sealed under already (a
chain store lost, or another machine's) is never derived again from its root — that would seal
new messages under keys already used: the keyring rotates the track's key first, or refuses,
as for a key out of use.

A message for a track that has no epoch yet starts the track's first one, when this identity
is the site that may issue it, beginning at the message's own time (so the message is inside
its cryptoperiod for every reader). A key out of use — its epoch's cryptoperiod over, or its
message limit reached (RFC 9001 §6.6: stop using the key) — seals nothing more: the keyring
rotates the track's key first, or refuses the message, as the key policy says
(``key_wear_action``); a keyring that may not issue epochs always refuses.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from sitroom.application.at_rest import held_by
from sitroom.application.engine import SITROOM_SOURCE
from sitroom.application.ports import ReaderStates, SenderChains
from sitroom.domain.kinds import SECURE_REJECTED
from sitroom.domain.records import Record
from sitroom.domain.secure.envelope import Header, Opened, Window, open_envelope, parse, seal
from sitroom.domain.secure.epochs import Epoch, inbox_of, open_epoch
from sitroom.domain.secure.identity import Identity, Secret, identity_from_record
from sitroom.domain.secure.ledger import current_identity, identity_version, usage_key
from sitroom.domain.secure.ratchet import Chains, ChainState, chain_limit, chain_root
from sitroom.domain.secure.reader import MAX_SKIP, ReaderEpoch, ReaderState, reader_epoch
from sitroom.domain.secure.wear import ROTATE, Policy, out_of_use
from sitroom.errors import Rejected, SecureError

RandomBytes = Callable[[int], bytes]
# The ``secure`` projection's state as the reader may see it (``session.state("secure")``).
SecureState = Callable[[], Mapping[str, Any]]
# Issues a new epoch of a track (track, reason, its start in ms): a site that may issue.
IssueEpoch = Callable[[str, str, int], object]


class Keyring:
    def __init__(
        self,
        secure: SecureState,
        me: Secret,
        *,
        chains: SenderChains,
        walks: Chains | None = None,
        random_bytes: RandomBytes = os.urandom,
        issue: IssueEpoch | None = None,
        policy: Policy | None = None,
        readers: ReaderStates | None = None,
    ) -> None:
        self._secure = secure
        self._readers = readers
        self.me = me
        self.random_bytes = random_bytes
        self._issue = issue
        self.policy = policy or Policy()
        self._secrets: dict[tuple[str, int], bytes] = {}
        self._chains = chains
        self._walks = walks or Chains()  # where this reader got to along senders' chains

    @property
    def _state(self) -> Mapping[str, Any]:
        return self._secure()

    def current(self, track: str) -> Mapping[str, Any] | None:
        epochs = self._state["epochs"].get(track)
        return epochs[-1] if epochs else None

    def secret(self, track: str, epoch: int) -> tuple[Epoch, bytes] | None:
        """The epoch and its secret, if it was sealed to this identity."""
        found = self._epoch(track, epoch)
        if found is None:
            return None
        key = (track, epoch)
        if key not in self._secrets:
            inbox = self._inbox(found)
            if inbox is not None:
                raise SecureError(
                    f"epoch {epoch} of track {track} was sealed to {self.me.name}'s inbox key "
                    f"{inbox}: its secret is not kept (forward secrecy for readers)"
                )
            self._secrets[key] = open_epoch(found, self.me)
        return Epoch.from_payload(found), self._secrets[key]

    def record_key(self, track: str, epoch: int) -> bytes | None:
        """The key of ``track``'s records at rest in ``epoch`` (None: not sealed to this
        identity) — kept in the reader state for an epoch opened through an inbox key, so it
        outlives the inbox key and the epoch secret."""
        found = self._epoch(track, epoch)
        return None if found is None else self.record_key_of(found)

    def record_key_of(self, found: Mapping[str, Any]) -> bytes | None:
        """:meth:`record_key` of a ``key.epoch`` payload the caller read (at_rest.py reads
        them from the log, while the engine folds: this reads no projection)."""
        if self._inbox(found) is not None:
            return self._kept(found).record_key
        return held_by(self.me)(found)

    def _inbox(self, found: Mapping[str, Any]) -> int | None:
        """The inbox key this identity's copy of the epoch is sealed to (None: its identity
        key, or a key of its since replaced, or no store here to keep a reader's state in)."""
        mine = found["members"].get(self.me.name) or {}
        if self._readers is None or mine.get("fingerprint") != self.me.identity.fingerprint:
            return None
        return inbox_of(found, self.me.name)

    def _kept(self, found: Mapping[str, Any]) -> ReaderEpoch:
        """What this member keeps of an epoch sealed to its inbox key, opened now if it was
        not: the epoch secret used once, to derive, and the inbox key deleted in that write."""
        assert self._readers is not None
        ep, inbox = Epoch.from_payload(found), self._inbox(found)
        where = (ep.track, ep.epoch)
        have = self._readers.get(self.me).epochs.get(where)
        if have is not None:
            return have
        own: list[bytes] = []

        def open_(state: ReaderState) -> tuple[ReaderEpoch, ReaderState]:
            kept = state.epochs.get(where)
            if kept is None:
                secret = open_epoch(found, self.me, state.inbox.get(inbox or 0))
                own.append(chain_root(secret, ep.track, ep.epoch, self.me.name, ep.aead))
                others = [m for m in ep.members if m != self.me.name]
                kept = reader_epoch(secret, ep.track, ep.epoch, ep.aead, others)
            return kept, state.opened(ep.track, ep.epoch, kept, inbox or 0)

        kept = self._readers.change(self.me, open_)
        if own:
            # Its own chain starts now, while the root is at hand: the secret is gone after.
            # Whatever the log says this identity sealed under it already, sealing walks the
            # chain past that number first (_next_key), so no key is used twice. Nothing here
            # reads the `secure` state: the engine asks for record keys while it folds.
            root = own[0]
            self._chains.advance(
                self.me, ep.track, ep.epoch, lambda c: (b"", c or ChainState(0, root))
            )
        return kept

    def _reader_key(self, h: Header) -> tuple[bytes, Callable[[], None]] | None:
        """Message ``h``'s key from this member's reader state, and what deletes it (None:
        the epoch was sealed to its identity key)."""
        found = self._epoch(h.track, h.epoch)
        if found is None or self._inbox(found) is None:
            return None
        kept = self._kept(found)
        if not 1 <= h.n <= chain_limit(kept.aead):
            raise Rejected(
                "malformed",
                f"a message numbered {h.n:,} from {h.sender} in epoch {h.epoch} of track "
                f"{h.track} is past its key's limit: no sender seals it",
            )
        chain = kept.chains.get(h.sender)
        taken = None if chain is None else chain.take(h.n)
        if taken is None:
            what = (
                f"is {h.sender}'s own, and a sender keeps no key of what it sealed"
                if h.sender == self.me.name
                else f"was read already here (or skipped past more than {MAX_SKIP:,} ago) "
                "and its key deleted"
            )
            raise Rejected(
                "key-deleted",
                f"message {h.id} (number {h.n} from {h.sender} in epoch {h.epoch} of track "
                f"{h.track}) {what}, for forward secrecy: the site, which holds the archive "
                "copy, can reopen it",
            )

        def used() -> None:
            assert self._readers is not None
            self._readers.change(self.me, lambda s: (None, s.read(h.track, h.epoch, h.sender, h.n)))

        return taken[0], used

    def _opened(self, track: str, epoch: int) -> tuple[Epoch, bytes | None] | None:
        """The epoch and its secret; for one sealed to this member's inbox key, the epoch
        (opened into the reader state if it was not) and no secret."""
        found = self._epoch(track, epoch)
        if found is None or self._inbox(found) is None:
            return self.secret(track, epoch)
        self._kept(found)
        return Epoch.from_payload(found), None

    def identity(self, name: str) -> Identity | None:
        found = current_identity(dict(self._state), name)
        return None if found is None else identity_from_record(found)

    def seal(self, track: str, msg_id: str, plaintext: bytes, now_ms: int) -> str:
        """The envelope's JSON text: what a channel message's body becomes."""
        ep = self.current(track)
        if ep is None:
            ep = self._next_epoch(track, "first message", now_ms)
            if ep is None:
                raise SecureError(
                    f"track {track} has no key yet: nobody is cleared for it and this site may "
                    "not start one"
                )
        if self._inbox(ep) is not None:
            self._kept(ep)  # opened now if it was not: that starts this identity's chain
        kept = self._chains.get(self.me, track, ep["epoch"])
        n = max(self._used(track, ep), kept.n if kept else 0) + 1
        why = out_of_use(ep, self.me.name, n, self.policy, now_ms) or self._lost(track, ep, kept)
        if why is not None:
            if self.policy.on_wear != ROTATE:
                raise SecureError(
                    f"{why}: refused (key_wear_action = {self.policy.on_wear}); rotate it first"
                )
            ep = self._next_epoch(track, why, now_ms)
            if ep is None:
                raise SecureError(f"{why}, and this site may not rotate it: rotate it first")
        key, n = self._next_key(track, ep)
        header = Header(track, ep["epoch"], self.me.name, msg_id, now_ms, n, ep["aead"])
        env = seal(plaintext, header, key, self.me, self.random_bytes(12))
        return orjson.dumps(env).decode()

    def _used(self, track: str, ep: Mapping[str, Any]) -> int:
        """The highest number the log has seen under this identity's key in ``ep``."""
        key = usage_key(track, ep["epoch"], self.me.name)
        return int(self._state["usage"].get(key, {}).get("sealed", 0))

    def _lost(self, track: str, ep: Mapping[str, Any], kept: ChainState | None) -> str | None:
        """Why this identity's chain in ``ep`` may not be started again (None: it may)."""
        used = self._used(track, ep)
        if kept is None and not used and self._inbox(ep) is not None:
            return (
                f"{self.me.name}'s chain in track {track}'s epoch {ep['epoch']} was not started "
                "when its inbox copy was opened, and the epoch's secret is not kept"
            )
        if kept is not None or not used:
            return None
        return (
            f"{self.me.name}'s chain in track {track}'s epoch {ep['epoch']} is not kept here, and "
            f"{used:,} messages were sealed under it: starting it again would reuse their keys"
        )

    def _next_key(self, track: str, ep: Mapping[str, Any]) -> tuple[bytes, int]:
        """The next message's key from this identity's chain in ``ep`` and its number, the
        chain stepped past it and stored first."""
        epoch = Epoch.from_payload(ep)
        used = self._used(track, ep)

        def step(kept: ChainState | None) -> tuple[bytes, ChainState]:
            if kept is None:
                why = self._lost(track, ep, kept)
                if why is not None:  # lost since it was looked at: another process's doing
                    raise SecureError(f"{why}: refused")
                found = self.secret(track, epoch.epoch)
                assert found is not None
                kept = ChainState(
                    0, chain_root(found[1], track, epoch.epoch, self.me.name, epoch.aead)
                )
            # Past what the log has seen: a chain restored from an older copy skips ahead.
            return kept.walk(max(kept.n, used)).advance()

        key, after = self._chains.advance(self.me, track, epoch.epoch, step)
        return key, after.n

    def _next_epoch(self, track: str, reason: str, at_ms: int) -> Mapping[str, Any] | None:
        """A new epoch of ``track`` starting at ``at_ms``, issued by this site (None: this
        keyring may not issue one)."""
        if self._issue is None:
            return None
        self._issue(track, reason, at_ms)
        return self.current(track)

    def open(self, body: str | Mapping[str, Any], track: str) -> Opened:
        """Verify and decrypt; :class:`Rejected` with the reason when it must be refused."""
        windows = self._state["windows"]
        return open_envelope(
            parse(body),
            track=track,
            identities=self.identity,
            epoch=self._opened,
            window=lambda key: Window.from_list(windows.get(key)),
            chains=self._walks,
            reader=self._reader_key,
        )

    def read(self, body: str, track: str) -> Opened:
        """Open a message the log already holds (sent, or accepted on arrival): every check
        but the replay window, which it passed when it was recorded. Its sender's signature is
        checked against the key its epoch was sealed to them under — the one they held then,
        though it may have been replaced since — where :meth:`open`, for what arrives now,
        takes only the sender's current key."""
        env = parse(body)
        header = env.get("header")
        epoch = self._epoch(track, header.get("epoch")) if isinstance(header, Mapping) else None

        def then(name: str) -> Identity | None:
            member = (epoch or {}).get("members", {}).get(name)
            if member is None:
                return self.identity(name)
            found = identity_version(self._state, name, str(member.get("fingerprint")))
            return None if found is None else identity_from_record(found)

        return open_envelope(
            env,
            track=track,
            identities=then,
            epoch=self._opened,
            window=lambda key: Window(),
            chains=self._walks,
            reader=self._reader_key,
        )

    def _epoch(self, track: str, epoch: Any) -> Mapping[str, Any] | None:
        return next((e for e in self._state["epochs"].get(track, []) if e["epoch"] == epoch), None)


def rejection(
    error: Rejected,
    body: Any,
    *,
    track: str,
    channel: str | None,
    message: str | None,
    now_ms: int,
) -> Record:
    """A ``secure.rejected`` record: what was refused, why, and the header it claimed. It
    goes in the compartment of the track the message arrived for (the receiver's, not the
    one an unverified header claims)."""
    try:
        claimed = parse(body)["header"]
    except Rejected:
        claimed = None  # too malformed to name a header: recorded without one
    header: dict[str, Any] = dict(claimed) if isinstance(claimed, Mapping) else {}
    key = (
        usage_key(str(header["track"]), int(header["epoch"]), str(header["sender"]))
        if {"track", "epoch", "sender"} <= set(header)
        else None
    )
    ident = f"{message or header.get('id', 'unknown')}:{now_ms}:{error.reason}"
    return SECURE_REJECTED.record(
        id=f"{SECURE_REJECTED}:{ident}",
        source=SITROOM_SOURCE,
        valid_from=now_ms,
        compartment=track,
        payload={
            "reason": error.reason,
            "why": str(error),
            "channel": channel,
            "message": message,
            "header": header,
            "key": key,
        },
    )
