"""A site's key transition, pure: the statement that the site's key ``old`` was replaced by
``new`` when its log stood at a tree head, and the checks everyone who pinned the old card
runs before trusting the new one.

A site's key signs what is kept outside its log (head.json, checkpoints, snapshots, epochs) and
is the card other sites and witnesses pinned. Replacing it is a statement signed twice (TUF's
root rotation): by the OLD key, which proves continuity to whoever pinned it, and by the NEW
key, which proves possession. Where the old key file is lost there is no old signature: the
statement says so (``old_key: lost``) and whoever pinned the old card re-pins the new one out
of band — nothing here accepts it as continuity.

Whoever checks a transition runs :func:`fault` (both signatures, each through
``Identity.signed``; the old against the card they pinned), and a witness also
:func:`head_fault` (its tree head extends the last one it co-signed). ``sitroom verify`` walks
the log's transitions back from the site's card (:func:`chain`): each old key then vouches for
the heads up to its transition's, and no further.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sitroom.domain.kinds import KEY_TRANSITION
from sitroom.domain.records import Record
from sitroom.domain.secure import merkle
from sitroom.domain.secure.audit import DIGEST, Checkpoint, LogHead, SignedHead
from sitroom.domain.secure.codec import b64, canonical, unb64
from sitroom.domain.secure.identity import SITE, Identity, Secret, identity_from_record
from sitroom.errors import SecureError

FORMAT = "sitroom-key-transition/1"
SIGNED, LOST = "signed", "lost"


@dataclass(frozen=True)
class Transition:
    """Site ``site``'s key ``old`` replaced by ``new`` at log head ``head``. ``new_card`` is
    the new key's self-signed identity payload (what an importer records); ``old_signature``
    is None where the old key was lost."""

    site: str
    old: Identity
    new: Identity
    new_card: Mapping[str, Any]
    head: LogHead
    at_ms: int
    reason: str
    old_signature: bytes | None
    new_signature: bytes

    @property
    def lost(self) -> bool:
        return self.old_signature is None

    def body(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "site": self.site,
            "old": {**self.old.card(), "fingerprint": self.old.fingerprint},
            "new": dict(self.new_card),
            "head": {
                "seq": self.head.seq,
                "head": b64(self.head.head),
                "size": self.head.size,
                "root": b64(self.head.root),
            },
            "at_ms": self.at_ms,
            "reason": self.reason,
            "old_key": LOST if self.lost else SIGNED,
        }

    def message(self) -> bytes:
        return canonical(self.body())

    def to_json(self) -> dict[str, Any]:
        sigs = {"new": b64(self.new_signature)}
        if self.old_signature is not None:
            sigs["old"] = b64(self.old_signature)
        return {**self.body(), "signatures": sigs}

    @classmethod
    def from_json(cls, body: Mapping[str, Any], *, what: str = "the key transition") -> Transition:
        """SecureError, in one line saying ``what`` it was, if ``body`` is not one."""
        try:
            if body.get("format") != FORMAT:
                raise ValueError(f"it is not a {FORMAT} statement")
            old = Identity.from_card(dict(body["old"]))
            if body["old"].get("fingerprint") != old.fingerprint:
                raise ValueError("the old key's fingerprint is not its keys'")
            new = identity_from_record(dict(body["new"]))
            if body["new"].get("fingerprint") != new.fingerprint:
                raise ValueError("the new key's fingerprint is not its keys'")
            h = body["head"]
            head = LogHead(
                _count(h["seq"], "seq"),
                unb64(str(h["head"]), what=f"{what}'s head", size=DIGEST),
                _count(h["size"], "size"),
                unb64(str(h["root"]), what=f"{what}'s root", size=DIGEST),
            )
            at_ms = body["at_ms"]
            if type(at_ms) is not int:
                raise ValueError(f"at_ms {at_ms!r} is no time")
            if body.get("old_key") not in (SIGNED, LOST):
                raise ValueError("old_key is neither signed nor lost")
            sigs = body["signatures"]
            old_sig = sigs.get("old")
            if (old_sig is None) != (body["old_key"] == LOST):
                raise ValueError("its old-key signature does not match what old_key says")
            t = cls(
                site=str(body["site"]),
                old=old,
                new=new,
                new_card={k: v for k, v in body["new"].items() if k not in ("record", "since")},
                head=head,
                at_ms=at_ms,
                reason=str(body.get("reason", "")),
                old_signature=None
                if old_sig is None
                else unb64(str(old_sig), what=f"{what}'s old-key signature", size=64),
                new_signature=unb64(str(sigs["new"]), what=f"{what}'s new-key signature", size=64),
            )
        except SecureError as e:
            raise SecureError(f"{what} is malformed ({e})") from None
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise SecureError(f"{what} is malformed ({e})") from None
        if t.body() != {k: v for k, v in body.items() if k != "signatures"}:
            raise SecureError(f"{what} is malformed (it holds fields {FORMAT} does not sign)")
        return t

    def record(self) -> Record:
        """The ``key.transition`` record that keeps it (in the site's log, and in the log of
        every site that imported it)."""
        short = self.new.fingerprint.replace(" ", "")[:16]
        return KEY_TRANSITION.record(
            id=f"{KEY_TRANSITION}:{self.site}:{short}",
            source="sitroom",
            valid_from=self.at_ms,
            valid_to=self.at_ms,
            payload=self.to_json(),
        )

    def checkpoint(self, record_seq: int, record_id: str) -> Checkpoint:
        """Its head, for the chain walk to hold against the log like a checkpoint's (the
        signatures are :func:`fault`'s to check)."""
        h = self.head
        return Checkpoint(
            self.site,
            h.seq,
            h.head,
            self.new.fingerprint,
            self.new_signature,
            record_seq,
            record_id,
            h.size,
            h.root,
        )


def _count(value: object, what: str) -> int:
    if type(value) is not int or value < 0:
        raise ValueError(f"{what} {value!r} is no log position")
    return value


def make(
    old: Identity,
    new: Secret,
    new_card: Mapping[str, Any],
    head: LogHead,
    *,
    at_ms: int,
    reason: str,
    old_secret: Secret | None,
) -> Transition:
    """The statement that ``old`` is replaced by ``new`` at ``head``, signed by the new key and
    by ``old_secret`` (None: the old key is lost, and it says so)."""
    if old_secret is not None and old_secret.identity != old:
        raise SecureError(f"the key given as {old.name}'s old key is not {old.fingerprint}")
    unsigned = Transition(
        site=old.name,
        old=old,
        new=new.identity,
        new_card=dict(new_card),
        head=head,
        at_ms=at_ms,
        reason=reason,
        old_signature=None if old_secret is None else b"",
        new_signature=b"",
    )
    message = unsigned.message()
    return replace(
        unsigned,
        old_signature=None if old_secret is None else old_secret.sign(message),
        new_signature=new.sign(message),
    )


def fault(t: Transition, pinned: Identity | None = None, *, continuity: bool = True) -> str | None:
    """Why ``t`` does not replace the key ``pinned`` for its site (None: it does), in words
    that follow "the key transition is refused: ". ``continuity``: the old key must have
    signed it (whoever pinned the old card accepts nothing less); without, a statement of a
    lost key is checked for the new key's signature alone."""
    if t.old.name != t.site or t.new.name != t.site:
        return f"it names keys of {t.old.name} and {t.new.name}, not of site {t.site}"
    if t.old.role != SITE or t.new.role != SITE:
        return f"it replaces a {t.old.role}'s key with a {t.new.role}'s, not a site's"
    if t.old.fingerprint == t.new.fingerprint:
        return "its old and new keys are the same key"
    if pinned is not None and pinned.fingerprint != t.old.fingerprint:
        if pinned.fingerprint == t.new.fingerprint:
            return f"site {t.site}'s key here is its new key {t.new.fingerprint} already"
        return (
            f"it replaces site {t.site}'s key {t.old.fingerprint}, but the key pinned here is "
            f"{pinned.fingerprint}"
        )
    message = t.message()
    wrong = t.new.signed(t.site, t.new.fingerprint, message, t.new_signature)
    if wrong is not None:
        return f"the new key's signature: {wrong}"
    if t.old_signature is None:
        if continuity:
            return (
                f"it is not signed by site {t.site}'s old key (lost, it says): re-pin the new "
                f"card {t.new.fingerprint} only after reading its fingerprint with the site "
                "out of band"
            )
        return None
    wrong = (pinned or t.old).signed(t.site, t.old.fingerprint, message, t.old_signature)
    return None if wrong is None else f"the old key's signature: {wrong}"


def head_fault(
    t: Transition, last: SignedHead | None, proof: Sequence[bytes], *, by: str
) -> str | None:
    """Why ``t``'s tree head does not extend ``last``, the newest head ``by`` co-signed for
    the site (None: it does, or there is none), given a consistency ``proof`` from it."""
    if last is None or last.size is None or last.root is None:
        return None
    h = t.head
    if h.size < last.size:
        return (
            f"its tree head ({h.size:,} segments, seq {h.seq:,}) is smaller than the one {by} "
            f"co-signed ({last.size:,} segments, seq {last.seq:,}): the log was cut short"
        )
    if not merkle.consistent(last.size, last.root, h.size, h.root, proof):
        return (
            f"its tree head (seq {h.seq:,}) does not extend the one {by} co-signed at seq "
            f"{last.seq:,} (given no valid consistency proof from its {last.size:,} segments): "
            "the log was rewritten or forked"
        )
    return None


@dataclass(frozen=True)
class Replaced:
    """A site key replaced in the log: it vouches for heads up to ``upto`` (its transition's
    head), and ``continuity`` says whether it signed the transition itself."""

    key: Identity
    upto: int
    record_seq: int
    record_id: str
    continuity: bool


@dataclass(frozen=True)
class SiteKeys:
    """The site's keys over its log: ``anchor``, the card from outside the log, and the keys
    it replaced, newest first."""

    anchor: Identity
    replaced: tuple[Replaced, ...] = ()

    def fault(self, cp: Checkpoint | SignedHead) -> str | None:
        """Why ``cp`` is not signed by the site's key in force at its position (None: it
        is): a replaced key signs for the heads up to its transition, and none after."""
        for r in self.replaced:
            if cp.fingerprint == r.key.fingerprint:
                if cp.seq > r.upto:
                    return (
                        f"it is signed by site {cp.site}'s key {r.key.fingerprint} for seq "
                        f"{cp.seq:,}, but that key was replaced at seq {r.upto:,}"
                    )
                return r.key.signed(cp.site, cp.fingerprint, cp.message(), cp.signature)
        return self.anchor.signed(cp.site, cp.fingerprint, cp.message(), cp.signature)

    def continued(self, fingerprint: str, seq: int) -> Replaced | None:
        """The replacement of key ``fingerprint`` that the old key signed, if it was the
        site's key at ``seq``."""
        return next(
            (
                r
                for r in self.replaced
                if r.key.fingerprint == fingerprint and r.continuity and seq <= r.upto
            ),
            None,
        )


def chain(
    anchor: Identity, found: Sequence[tuple[int, str, Mapping[str, Any]]]
) -> tuple[SiteKeys, list[tuple[int, str, str]]]:
    """The site's keys over its log, from its ``anchor`` back through the ``key.transition``
    records ``found`` (seq, id, payload; other sites' are skipped), and each transition that
    does not fit as (seq, id, why). Walked from the newest: each must name as its new key the
    key in force after it, and carry that key's signature."""
    current, replaced, bad = anchor, [], []
    for seq, rid, payload in sorted(found, key=lambda f: f[0], reverse=True):
        if payload.get("site") != anchor.name:
            continue
        try:
            t = Transition.from_json(payload, what=f"key transition {rid}")
        except SecureError as e:
            bad.append((seq, rid, str(e)))
            continue
        why = fault(t, continuity=False)
        if why is None and t.new.fingerprint != current.fingerprint:
            why = (
                f"it names {t.new.fingerprint} as the new key, but the site's key after it is "
                f"{current.fingerprint}"
            )
        if why is None and t.head.seq >= seq:
            why = f"its head (seq {t.head.seq:,}) is not before the record that carries it"
        if why is not None:
            bad.append((seq, rid, f"key transition {rid} is forged: {why}"))
            continue
        replaced.append(Replaced(t.old, t.head.seq, seq, rid, not t.lost))
        current = t.old
    return SiteKeys(anchor, tuple(replaced)), bad
