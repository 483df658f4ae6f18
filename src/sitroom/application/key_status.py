"""Read-side of the security layer: who is known, who is cleared, and how every track key
stands — its use against its limit, its expiry, when it will wear out at its recent rate, and
the alerts raised about it. Answers carry provenance like every other."""

from __future__ import annotations

from typing import Any

from sitroom.application.engine import Engine
from sitroom.application.queries import _provenance, resolve_as_of
from sitroom.domain.kinds import ALERT, SECURE_KINDS
from sitroom.domain.provenance import Answer
from sitroom.domain.secure.ledger import SECURE, clearances, current_identity
from sitroom.domain.secure.watch import KEYS, current_keys
from sitroom.domain.secure.wear import LIMITS, Policy
from sitroom.domain.timeutil import iso
from sitroom.errors import UserInputError


def status(
    engine: Engine, policy: Policy, as_of_ms: int | None = None, track: str | None = None
) -> Answer[dict[str, Any]]:
    at = resolve_as_of(engine, as_of_ms)
    views = engine.view_many([SECURE, "summary"], at.seq)
    state = views[SECURE]
    identities = [
        {
            "name": name,
            "role": v[-1]["role"],
            "fingerprint": v[-1]["fingerprint"],
            "since": iso(v[-1]["since"]),
            "key_changes": len(v) - 1,
        }
        for name, v in sorted(state["identities"].items())
    ]
    tracks = []
    for keys in current_keys(state, policy, at.wall):
        t = keys[0].track
        if track is not None and t != track:
            continue
        ep = state["epochs"][t][-1]
        tracks.append(
            {
                "track": t,
                "epoch": ep["epoch"],
                "aead": ep["aead"],
                "limits": LIMITS[ep["aead"]].source,
                "members": sorted(ep["members"]),
                "created": iso(ep["created_ms"]),
                "expires": iso(ep["expires_ms"]),
                "reason": ep.get("reason", ""),
                "epochs": len(state["epochs"][t]),
                "keys": [w.as_dict() for w in keys],
                "rotate_by": iso(min(w.ends_ms for w in keys)),
            }
        )
    if track is not None and not tracks:
        raise_unknown(track, state)
    alerts = views["summary"]["alerts"].get(KEYS, 0)
    newest = max((e[-1]["since"] for e in state["epochs"].values()), default=None)
    value = {
        "identities": identities,
        "tracks": tracks,
        "rejected": dict(state["rejected"]),
        "key_alerts": alerts,
    }
    return Answer(value, _provenance(engine, at, newest, [*SECURE_KINDS, ALERT]))


def raise_unknown(track: str, state: dict[str, Any]) -> None:
    known = ", ".join(sorted(state["epochs"])) or "none yet"
    raise UserInputError(f"track {track!r} has no keys (tracks with keys: {known})")


def users(engine: Engine, as_of_ms: int | None = None) -> Answer[list[dict[str, Any]]]:
    at = resolve_as_of(engine, as_of_ms)
    state = engine.view_many([SECURE], at.seq)[SECURE]
    items = []
    for name, u in sorted(state["users"].items()):
        ident = current_identity(state, name)
        items.append(
            {
                "name": name,
                "role": u["role"],
                "clearances": clearances(state, name),
                "fingerprint": ident["fingerprint"] if ident else None,
                "since": iso(u["since"]),
            }
        )
    endpoints = sorted(n for n in state["identities"] if n not in state["users"])
    for name in endpoints:
        ident = current_identity(state, name)
        assert ident is not None
        items.append(
            {
                "name": name,
                "role": f"endpoint ({ident['role']})",
                "clearances": clearances(state, name),
                "fingerprint": ident["fingerprint"],
                "since": iso(ident["since"]),
            }
        )
    return Answer(items, _provenance(engine, at, None, list(SECURE_KINDS)))
