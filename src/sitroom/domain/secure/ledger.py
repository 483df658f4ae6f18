"""The ``secure`` projection: what the log knows of identities, users, clearances, track epoch
keys and their wear.

- identities: every published identity by name, its current card and fingerprint (a newer
  identity record for the same name is a key change, and every version stays listed; one a
  ``key.revoked`` record names is marked ``revoked``, with the key that ``replaced_by`` it);
- transitions: for each site, its key transitions in order (domain/secure/transition.py), as
  its own log or an importer's holds them; the key a transition replaces is marked
  ``replaced_by`` the new one (checked where they were recorded: folding trusts the log);
- users: local users and their role; the first user added is the workspace's first admin;
- grants: for each compartment, the principals (users or endpoints) cleared for it now;
- epochs: for each track, its epoch keys in order, with the members each was sealed to;
- inbox: for each name, its published inbox keys by id (inbox.py), each ``consumed`` once an
  epoch was sealed to it (general, as identities are: it names no track);
- usage: for each key (track, epoch, sender), how many messages it sealed (the highest counter
  seen in its envelopes, sent or received) and how many forged or damaged ones failed to open
  under it — the counts the wear detector judges;
- windows: for each key, the replay window of the envelopes *received* under it;
- rejections (by reason) and denials (by user), counted per compartment: ``rejected`` and
  ``denied`` are the totals, ``rejected_in`` and ``denied_in`` the same by compartment.

States are plain JSON-able dicts, snapshotted like every projection.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from sitroom.domain.kinds import (
    ACCESS_DENIED,
    CHANNEL_RECEIVE,
    CHANNEL_SEND,
    IDENTITY,
    INBOX_KEY,
    KEY_EPOCH,
    KEY_REVOKED,
    KEY_TRANSITION,
    SECURE_REJECTED,
    USER,
    USER_GRANT,
    USER_REVOKE,
)
from sitroom.domain.projection import Sees, keep
from sitroom.domain.records import RecordBatch
from sitroom.domain.secure.envelope import Window

SECURE = "secure"


def usage_key(track: str, epoch: int, sender: str) -> str:
    return f"{track}|{epoch}|{sender}"


class SecureProjection:
    name = SECURE
    version = 5
    kinds: tuple[str, ...] | None = (
        IDENTITY,
        KEY_REVOKED,
        KEY_TRANSITION,
        INBOX_KEY,
        USER,
        USER_GRANT,
        USER_REVOKE,
        KEY_EPOCH,
        SECURE_REJECTED,
        ACCESS_DENIED,
        CHANNEL_SEND,
        CHANNEL_RECEIVE,
    )

    def initial(self) -> dict[str, Any]:
        return {
            "identities": {},
            "transitions": {},
            "users": {},
            "grants": {},
            "epochs": {},
            "inbox": {},
            "usage": {},
            "windows": {},
            "rejected": {},
            "denied": {},
            "rejected_in": {},
            "denied_in": {},
        }

    def apply(self, state: dict[str, Any], batch: RecordBatch) -> dict[str, Any]:
        for r in batch.rows():
            p = dict(r.payload)
            if r.kind == IDENTITY:
                versions = state["identities"].setdefault(p["name"], [])
                if not any(v["record"] == r.id for v in versions):
                    versions.append({**p, "record": r.id, "since": r.valid_from})
            elif r.kind == KEY_REVOKED:
                for v in state["identities"].get(p["name"], []):
                    if v["fingerprint"] == p["fingerprint"]:
                        v["revoked"] = r.valid_from
                        v["replaced_by"] = p.get("replaced_by")
            elif r.kind == KEY_TRANSITION:
                old, new = p["old"]["fingerprint"], p["new"]["fingerprint"]
                state["transitions"].setdefault(p["site"], []).append(
                    {
                        "old": old,
                        "new": new,
                        "seq": p["head"]["seq"],
                        "old_key": p["old_key"],
                        "reason": p.get("reason", ""),
                        "record": r.id,
                        "since": r.valid_from,
                    }
                )
                for v in state["identities"].get(p["site"], []):
                    if v["fingerprint"] == old:
                        v.setdefault("revoked", r.valid_from)
                        v["replaced_by"] = new
            elif r.kind == USER:
                state["users"][p["name"]] = {**p, "record": r.id, "since": r.valid_from}
            elif r.kind == USER_GRANT:
                state["grants"].setdefault(p["compartment"], {})[p["principal"]] = {
                    "by": p.get("by"),
                    "since": r.valid_from,
                    "record": r.id,
                }
            elif r.kind == USER_REVOKE:
                state["grants"].get(p["compartment"], {}).pop(p["principal"], None)
            elif r.kind == KEY_EPOCH:
                epochs = state["epochs"].setdefault(p["track"], [])
                epochs.append({**p, "record": r.id, "since": r.valid_from})
                for name, copy in p["members"].items():
                    entry = state["inbox"].get(name, {}).get(str(copy.get("inbox")))
                    if entry is not None:
                        entry["consumed"] = True
            elif r.kind == INBOX_KEY:
                keys = state["inbox"].setdefault(p["name"], {})
                keys.setdefault(str(p["id"]), {**p, "consumed": False, "since": r.valid_from})
            elif r.kind == SECURE_REJECTED:
                _bump(state["rejected"], p["reason"])
                _bump(state["rejected_in"].setdefault(r.compartment, {}), p["reason"])
                key = p.get("key")
                if key and p["reason"] in ("forged", "damaged"):
                    use = state["usage"].setdefault(key, _blank_use())
                    use["failed"] += 1
            elif r.kind == ACCESS_DENIED:
                _bump(state["denied"], str(p["user"]))
                _bump(state["denied_in"].setdefault(r.compartment, {}), str(p["user"]))
            elif r.kind in (CHANNEL_SEND, CHANNEL_RECEIVE):
                header = sealed_header(p.get("body"))
                if header is None:
                    continue
                key = usage_key(header["track"], header["epoch"], header["sender"])
                note_use(state, key, int(header["n"]), int(header["ts"]))
                if r.kind == CHANNEL_RECEIVE:
                    w = Window.from_list(state["windows"].get(key)).accept(int(header["n"]))
                    state["windows"][key] = w.as_list()
        return state

    def restrict(self, state: dict[str, Any], sees: Sees) -> dict[str, Any]:
        """Identities and users are general; who is cleared for a compartment, its epochs,
        their wear and the messages refused in it belong to the compartment."""

        def on_track(key: str, _: Any) -> bool:
            return sees(key.split("|", 1)[0])

        rejected_in = keep(state["rejected_in"], lambda c, _: sees(c))
        denied_in = keep(state["denied_in"], lambda c, _: sees(c))
        return {
            **state,
            "grants": keep(state["grants"], lambda c, _: sees(c)),
            "epochs": keep(state["epochs"], lambda t, _: sees(t)),
            "usage": keep(state["usage"], on_track),
            "windows": keep(state["windows"], on_track),
            "rejected": _total(rejected_in.values()),
            "denied": _total(denied_in.values()),
            "rejected_in": rejected_in,
            "denied_in": denied_in,
        }

    def encode(self, state: dict[str, Any]) -> bytes:
        return orjson.dumps(state)

    def decode(self, data: bytes) -> dict[str, Any]:
        result: dict[str, Any] = orjson.loads(data)
        return result


def _total(parts: Iterable[Mapping[str, int]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for part in parts:
        for k, n in part.items():
            out[k] = out.get(k, 0) + n
    return out


def _bump(counts: dict[str, int], key: str) -> None:
    counts[key] = counts.get(key, 0) + 1


def _blank_use() -> dict[str, Any]:
    return {"sealed": 0, "failed": 0, "first_ms": None, "last_ms": None}


def sealed_header(body: Any) -> dict[str, Any] | None:
    """The header of a sealed envelope carried as a message body (None: not sealed)."""
    if not isinstance(body, str) or not body.startswith('{"header"'):
        return None
    try:
        env = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    header = env.get("header") if isinstance(env, dict) else None
    return header if isinstance(header, dict) else None


def note_use(state: dict[str, Any], key: str, n: int, at_ms: int | None) -> None:
    """A message numbered ``n`` was sealed under a key: its counter is the key's use."""
    use = state["usage"].setdefault(key, _blank_use())
    use["sealed"] = max(use["sealed"], n)
    if at_ms is not None:
        use["first_ms"] = at_ms if use["first_ms"] is None else min(use["first_ms"], at_ms)
        use["last_ms"] = at_ms if use["last_ms"] is None else max(use["last_ms"], at_ms)


def current_identity(state: Mapping[str, Any], name: str) -> dict[str, Any] | None:
    """``name``'s identity now: the newest published (a replaced key is not current)."""
    versions = state["identities"].get(name)
    return versions[-1] if versions else None


def identity_version(
    state: Mapping[str, Any], name: str, fingerprint: str
) -> dict[str, Any] | None:
    """The identity ``name`` published with ``fingerprint``, current or since replaced."""
    versions = state["identities"].get(name) or []
    return next((v for v in versions if v["fingerprint"] == fingerprint), None)


def cleared(state: dict[str, Any], compartment: str) -> list[str]:
    """Who is cleared for a compartment now, by name."""
    return sorted(state["grants"].get(compartment, {}))


def clearances(state: dict[str, Any], principal: str) -> list[str]:
    """The compartments a principal is cleared for now."""
    return sorted(c for c, who in state["grants"].items() if principal in who)
