"""The ``keys`` detector: alerts ahead of a track key's expiry or wear-out, and before a
scheduled meeting that would outlast it.

It judges each track's *current* epoch (an older one is out of use once rotated): the key of
every sender that has used it, and the issuing site's own key, used or not, so an idle track's
expiry is never missed. Alerts are raised once per finding (their key names the track, epoch,
sender and what was found); a rotation ends them, since the new epoch is judged instead. On
the clock, ``next_due`` is the next warning horizon or expiry, so nothing polls.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from sitroom.domain.kinds import CHANNEL_RECEIVE, CHANNEL_SEND, KEY_EPOCH, SCHEDULE, SECURE_REJECTED
from sitroom.domain.projection import AlertDraft
from sitroom.domain.records import RecordBatch
from sitroom.domain.secure.ledger import SECURE, usage_key
from sitroom.domain.secure.wear import KeyWear, Policy, findings, forecast, next_due

KEYS = "keys"
_WATCHED: tuple[str, ...] = (KEY_EPOCH, CHANNEL_SEND, CHANNEL_RECEIVE, SCHEDULE, SECURE_REJECTED)


def current_keys(state: Mapping[str, Any], policy: Policy, now_ms: int) -> Iterator[list[KeyWear]]:
    """For each track's current epoch, the wear of each of its senders' keys."""
    for track, epochs in sorted(state["epochs"].items()):
        ep = epochs[-1]
        prefix = usage_key(track, ep["epoch"], "")
        senders = {k[len(prefix) :] for k in state["usage"] if k.startswith(prefix)}
        senders.add(ep["issuer"])
        yield [
            forecast(ep, s, state["usage"].get(prefix + s, {}), policy, now_ms)
            for s in sorted(senders)
        ]


class KeyDetector:
    name = KEYS
    reads: tuple[str, ...] = (SECURE, "tracks")

    def __init__(self, policy: Policy | None = None) -> None:
        self.policy = policy or Policy()

    def on_records(
        self, views: Mapping[str, Any], batch: RecordBatch, now_ms: int
    ) -> list[AlertDraft]:
        if not len(batch.of_kinds(_WATCHED)):
            return []
        return self._drafts(views, now_ms)

    def on_tick(self, views: Mapping[str, Any], now_ms: int) -> list[AlertDraft]:
        return self._drafts(views, now_ms)

    def next_due(self, views: Mapping[str, Any], now_ms: int) -> int | None:
        dues = [
            d
            for keys in current_keys(views[SECURE], self.policy, now_ms)
            for w in keys
            if (d := next_due(w, self.policy, now_ms)) is not None
        ]
        return min(dues, default=None)

    def _drafts(self, views: Mapping[str, Any], now_ms: int) -> list[AlertDraft]:
        schedule = views["tracks"].get("schedule") or {}
        meetings = schedule.get("meetings", {})
        state = views[SECURE]
        out = []
        for keys in current_keys(state, self.policy, now_ms):
            epoch = state["epochs"][keys[0].track][-1]
            for f in findings(keys, self.policy, now_ms, meetings):
                out.append(
                    AlertDraft(
                        detector=self.name,
                        key=f.key,
                        title=f.title,
                        severity=f.severity,
                        evidence=[epoch["record"]],
                        detail=f.detail,
                        compartment=keys[0].track,
                    )
                )
        return out
