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

from sitroom.application.engine import SITROOM_SOURCE
from sitroom.application.ports import SenderChains
from sitroom.domain.kinds import SECURE_REJECTED
from sitroom.domain.records import Record
from sitroom.domain.secure.envelope import Header, Opened, Window, open_envelope, parse, seal
from sitroom.domain.secure.epochs import Epoch, open_epoch, record_key
from sitroom.domain.secure.identity import Identity, Secret, identity_from_record
from sitroom.domain.secure.ledger import current_identity, identity_version, usage_key
from sitroom.domain.secure.ratchet import Chains, ChainState, chain_root
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
    ) -> None:
        self._secure = secure
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
            self._secrets[key] = open_epoch(found, self.me)
        return Epoch.from_payload(found), self._secrets[key]

    def record_key(self, track: str, epoch: int) -> bytes | None:
        """The key of ``track``'s records at rest in ``epoch`` (None: not sealed to this
        identity)."""
        found = self.secret(track, epoch)
        return None if found is None else record_key(found[1], track, epoch)

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
        if kept is not None or not used:
            return None
        return (
            f"{self.me.name}'s chain in track {track}'s epoch {ep['epoch']} is not kept here, and "
            f"{used:,} messages were sealed under it: starting it again would reuse their keys"
        )

    def _next_key(self, track: str, ep: Mapping[str, Any]) -> tuple[bytes, int]:
        """The next message's key from this identity's chain in ``ep`` and its number, the
        chain stepped past it and stored first."""
        found = self.secret(track, ep["epoch"])
        assert found is not None
        epoch, secret = found
        used = self._used(track, ep)

        def step(kept: ChainState | None) -> tuple[bytes, ChainState]:
            if kept is None:
                why = self._lost(track, ep, kept)
                if why is not None:  # lost since it was looked at: another process's doing
                    raise SecureError(f"{why}: refused")
                kept = ChainState(
                    0, chain_root(secret, track, epoch.epoch, self.me.name, epoch.aead)
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
            epoch=self.secret,
            window=lambda key: Window.from_list(windows.get(key)),
            chains=self._walks,
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
            epoch=self.secret,
            window=lambda key: Window(),
            chains=self._walks,
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
