"""Sealing and opening a track's messages with the keys the log holds.

A :class:`Keyring` is one identity's access to the track epochs sealed to it, read from the
``secure`` projection as a session shows it: it opens an
epoch's secret with that identity's private key the first time it is needed and keeps it in
memory only. It seals messages as that identity (a site's desk seals and signs as the site),
numbering them in each epoch from the highest counter the log has seen, and opens what arrives
against the identities, epochs and replay windows in the ``secure`` projection.

A message for a track that has no epoch yet starts the track's first one, when this identity
is the site that may issue it; a message sealed after its epoch's cryptoperiod is refused: the
track must be rotated first.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from sitroom.application.engine import SITROOM_SOURCE
from sitroom.domain.kinds import SECURE_REJECTED
from sitroom.domain.records import Record
from sitroom.domain.secure.envelope import Header, Opened, Window, open_envelope, parse, seal
from sitroom.domain.secure.epochs import Epoch, open_epoch
from sitroom.domain.secure.identity import Identity, Secret, identity_from_record
from sitroom.domain.secure.ledger import current_identity, usage_key
from sitroom.errors import Rejected, SecureError

RandomBytes = Callable[[int], bytes]
# The ``secure`` projection's state as the reader may see it (``session.state("secure")``).
SecureState = Callable[[], Mapping[str, Any]]


class Keyring:
    def __init__(
        self,
        secure: SecureState,
        me: Secret,
        *,
        random_bytes: RandomBytes = os.urandom,
        first_epoch: Callable[[str], object] | None = None,
    ) -> None:
        self._secure = secure
        self.me = me
        self.random_bytes = random_bytes
        self.first_epoch = first_epoch  # makes a track's first epoch (a site that may issue)
        self._secrets: dict[tuple[str, int], bytes] = {}
        self._issued: dict[str, int] = {}  # the last counter this keyring used, per key

    @property
    def _state(self) -> Mapping[str, Any]:
        return self._secure()

    def current(self, track: str) -> Mapping[str, Any] | None:
        epochs = self._state["epochs"].get(track)
        return epochs[-1] if epochs else None

    def secret(self, track: str, epoch: int) -> tuple[Epoch, bytes] | None:
        """The epoch and its secret, if it was sealed to this identity."""
        found = next((e for e in self._state["epochs"].get(track, []) if e["epoch"] == epoch), None)
        if found is None:
            return None
        key = (track, epoch)
        if key not in self._secrets:
            self._secrets[key] = open_epoch(found, self.me)
        return Epoch.from_payload(found), self._secrets[key]

    def identity(self, name: str) -> Identity | None:
        found = current_identity(dict(self._state), name)
        return None if found is None else identity_from_record(found)

    def seal(self, track: str, msg_id: str, plaintext: bytes, now_ms: int) -> str:
        """The envelope's JSON text: what a channel message's body becomes."""
        ep = self.current(track)
        if ep is None and self.first_epoch is not None:
            self.first_epoch(track)
            ep = self.current(track)
        if ep is None:
            raise SecureError(
                f"track {track} has no key yet: nobody is cleared for it and this site may not "
                "start one"
            )
        if now_ms >= ep["expires_ms"]:
            raise SecureError(f"track {track}'s epoch {ep['epoch']} key expired; rotate it first")
        found = self.secret(track, ep["epoch"])
        assert found is not None
        key = usage_key(track, ep["epoch"], self.me.name)
        used = self._state["usage"].get(key, {}).get("sealed", 0)
        n = max(used, self._issued.get(key, 0)) + 1
        self._issued[key] = n
        header = Header(track, ep["epoch"], self.me.name, msg_id, now_ms, n, ep["aead"])
        env = seal(plaintext, header, found[1], self.me, self.random_bytes(12))
        return orjson.dumps(env).decode()

    def open(self, body: str | Mapping[str, Any], track: str) -> Opened:
        """Verify and decrypt; :class:`Rejected` with the reason when it must be refused."""
        windows = self._state["windows"]
        return open_envelope(
            parse(body),
            track=track,
            identities=self.identity,
            epoch=self.secret,
            window=lambda key: Window.from_list(windows.get(key)),
        )

    def read(self, body: str, track: str) -> Opened:
        """Open a message the log already holds (sent, or accepted on arrival): every check
        but the replay window, which it passed when it was recorded."""
        return open_envelope(
            parse(body),
            track=track,
            identities=self.identity,
            epoch=self.secret,
            window=lambda key: Window(),
        )


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
