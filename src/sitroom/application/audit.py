"""The tamper-evident log's use cases: the reactor that signs the chain's head every N records,
and the verification of a whole log (`sitroom verify`).

    append ─> SqliteLog seals each segment into the chain (same transaction)
          └─> Checkpointer (every N records) ─> audit.checkpoint record: the head, signed

    verify: every stored segment, in seq order ─> ChainWalk (digests, links, seq continuity)
            every checkpoint ─> its signature (site's public card, from outside the log)
                            └─> its head against the stored chain at its position
            the head kept outside the log (HeadKeeper) ─> its signature; the log still holds it
            the id index ─> as many ids as records (--deep: each id at its record's seq)

Every signed head is also kept outside the log (:func:`keep_head`), so that a log which is
lost, emptied, cut short or replaced — with its own checkpoints — is still found out.

The pure parts (digests, the walk, checkpoint signatures) are domain.secure.audit; this module
drives them over a log through small ports (AuditedLog, AuditScan, HeadKeeper).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from sitroom.application.ports import AuditedLog, AuditScan, HeadKeeper
from sitroom.application.results import INTERNAL, Progress, Result
from sitroom.domain.kinds import (
    AUDIT_CHECKPOINT,
    AUTHOR_SIGNATURE,
    KEY_TRANSITION,
    WITNESS_COSIGNED,
)
from sitroom.domain.records import Record, RecordBatch
from sitroom.domain.secure import audit, merkle, transition, witness
from sitroom.domain.secure.audit import Checkpoint, Finding, SignedHead, StoredSegment
from sitroom.domain.secure.authorship import AuthorCheck
from sitroom.domain.secure.codec import b64, unb64
from sitroom.domain.secure.identity import Identity, Secret
from sitroom.domain.secure.transition import SiteKeys
from sitroom.domain.secure.witness import Cosigned
from sitroom.errors import LogError, SecureError, WorkspaceError

if TYPE_CHECKING:
    from sitroom.application.session import Session


class Checkpointer:
    """A reactor: once the log has passed another multiple of ``every`` records, sign the
    chain's head. ``secret`` is asked for only when a checkpoint is due, so opening a workspace
    to read never unlocks the site's key. ``keep`` is given each head signed, to keep it
    outside the log too (:func:`keep_head`)."""

    name = "audit-checkpoint"
    reads: tuple[str, ...] = ()

    def __init__(
        self,
        head: Callable[[], audit.LogHead],
        secret: Callable[[], Secret],
        *,
        every: int = 10_000,
        keep: Callable[[SignedHead], object] | None = None,
    ) -> None:
        if every < 1:
            raise ValueError("checkpoint_every must be at least 1")
        self.head = head
        self.every = every
        self._keep = keep
        self._secret = secret
        self._unlocked: Secret | None = None
        self._mark: int | None = None  # the log position at the last checkpoint (or start)

    def forget(self) -> None:
        """The site's key was replaced: unlock the new one when the next checkpoint is due."""
        self._unlocked = None

    @property
    def secret(self) -> Secret:
        if self._unlocked is None:
            self._unlocked = self._secret()
        return self._unlocked

    def on_records(self, views: Mapping[str, Any], batch: RecordBatch, now_ms: int) -> list[Record]:
        seqs = batch.column("seq")
        first, last = int(seqs[0].as_py()), int(seqs[-1].as_py())
        if self._mark is None:
            self._mark = first - 1
        # The batch's last seq, not a count of batches: derived records and alerts advance the
        # log between the batches a reactor sees, and a multiple they cross still counts.
        if last // self.every == self._mark // self.every:
            return []
        head = self.head()
        self._mark = head.seq
        return [self.checkpoint(head, now_ms)]

    def checkpoint(self, head: audit.LogHead, now_ms: int) -> Record:
        signed = head.sign(self.secret)
        if self._keep is not None:
            self._keep(signed)  # the head is committed already: the record comes after it
        return audit.head_record(signed, now_ms)

    def on_tick(self, views: Mapping[str, Any], now_ms: int) -> list[Record]:
        return []

    def next_due(self, views: Mapping[str, Any], now_ms: int) -> int | None:
        return None


# verification -----------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class Report(Result):
    """What a verification found: the records and segments walked, the chain's head, each
    finding (the first bad record first), and what the signed checkpoints vouch for."""

    ok: bool
    site: str
    records: int
    segments: int
    seq: int  # the last seq verified
    head: str  # the chain's head recomputed from the stored bytes, at ``seq`` (base64url)
    size: int  # the Merkle tree's size (segments) ...
    root: str  # ... and head, recomputed from the stored bytes (base64url)
    checkpoints: int  # checkpoints found of this site
    checkpoints_verified: int  # ... whose signature and head verified
    checkpoints_foreign: int  # checkpoints of other sites, not verified here
    covered_to: int  # the newest position a verified checkpoint vouches for
    chain_only: tuple[int, int] | None  # records protected by the chain alone
    first_bad: Finding | None
    findings: tuple[Finding, ...]
    signer: str | None  # the fingerprint of the site key checkpoints were verified against
    deep: bool
    seconds: float
    notes: tuple[str, ...] = ()
    author_signatures: int = 0  # people's signatures over what they wrote, each checked
    checkpoint_written: str | None = None  # the checkpoint signed over the verified head
    kept_seq: int | None = None  # the seq of the head kept outside the log (None: none)
    kept_in: str | None = None  # ... and where it is kept
    witnessed: tuple[Mapping[str, Any], ...] = ()  # each witnessed head compared, and how
    verified: tuple[Checkpoint, ...] = field(default=(), metadata=INTERNAL)


def verify(
    log: AuditedLog,
    anchor: Identity | None,
    *,
    site: str,
    kept: HeadKeeper | None = None,
    deep: bool = False,
    progress: Progress | None = None,
    witnessed: Sequence[Cosigned] = (),
    witnesses: Sequence[Identity] = (),
) -> Report:
    """Check every stored segment, checkpoint and the id index of ``log``, and that it still
    holds the head ``kept`` outside it. ``anchor`` is the site's public card from outside the
    log (None: signatures cannot be verified, and the report says so).
    ``progress(records_done, records_total)`` is called as the walk goes.

    ``witnessed``: tree heads of this site co-signed by witnesses, whose cards ``witnesses``
    are pinned out of band — never read from the workspace, which whoever rewrote the log
    could rewrite too. The log must extend each, and each it holds itself (``witness
    .cosigned`` records) by a witness given."""
    started = time.perf_counter()
    notes: list[str] = []
    at_kept: bytes | None = None  # the stored head where the kept one was signed
    with log.audit_scan() as scan:
        keys, findings, heads = _site_keys(scan, anchor, site)
        notes += [_replaced_note(r, site) for r in reversed(keys.replaced)] if keys else []
        head, found_kept = _kept(kept, keys, site)
        findings += found_kept
        _, n_records = scan.totals()
        found_cps, signed, foreign, ours = _checkpoints(scan, keys, site)
        findings += found_cps
        if anchor is None and ours:
            notes.append(
                f"the keystore holds no public key for site {site}: its {ours} checkpoints "
                "cannot be verified"
            )
        walk = audit.ChainWalk([*signed, *heads])
        for seg in scan.segments():
            found = walk.step(seg)
            if head is not None and seg.header.last_seq == head.seq:
                at_kept = seg.head
            if deep and not found:
                found = _deep(scan, seg)
            findings += [_named(scan, seg, f) for f in found]
            if progress is not None:
                progress(walk.records, n_records)
        findings += walk.finish()
        held = _cosigned(scan, site, witnesses)
        authors = _authors(log)
        findings += authors.finish()
        if head is not None and kept is not None:
            findings += audit.against_kept(head, at_kept, walk.seq, kept.where)
        ids = scan.id_count()
        if ids != walk.records:
            findings.append(
                Finding(
                    audit.IDS,
                    f"the id index holds {ids:,} ids for {walk.records:,} records: ids were "
                    "added or removed (a deep verify names the first record out of place)",
                    None,
                )
            )
    compared, found = _witnessed([*witnessed, *held], witnesses, walk, keys)
    findings += found
    findings.sort(key=lambda f: (f.seq is None, f.seq or 0))
    return Report(
        ok=not findings,
        site=site,
        records=walk.records,
        segments=walk.segments,
        seq=walk.seq,
        head=b64(walk.head),
        size=walk.tree.size,
        root=b64(walk.tree.root()),
        checkpoints=ours,
        checkpoints_verified=len([c for c in walk.verified if c not in heads]),
        checkpoints_foreign=foreign,
        covered_to=walk.trusted_to,
        chain_only=(walk.trusted_to + 1, walk.seq) if walk.seq > walk.trusted_to else None,
        first_bad=audit.first_bad(findings),
        findings=tuple(findings),
        signer=None if anchor is None else anchor.fingerprint,
        deep=deep,
        seconds=round(time.perf_counter() - started, 3),
        notes=tuple(notes),
        author_signatures=authors.signatures,
        kept_seq=None if head is None else head.seq,
        kept_in=None if kept is None else kept.where,
        witnessed=compared,
        verified=tuple(walk.verified),
    )


def _cosigned(scan: AuditScan, site: str, witnesses: Sequence[Identity]) -> list[Cosigned]:
    """This site's heads co-signed by the witnesses given, as the log itself holds them (a
    statement that is malformed is the witnessed check's to report: kept as read)."""
    if not witnesses:
        return []
    names = {w.name for w in witnesses}
    held = []
    for seg in scan.segments(WITNESS_COSIGNED):
        try:
            rows = list(scan.decode(seg).rows())
        except LogError:
            continue
        for r in rows:
            try:
                c = Cosigned.from_json(r.payload, what=f"record {r.id}")
            except SecureError:
                continue
            if c.head.site == site and c.witness in names:
                held.append(c)
    return held


def _witnessed(
    cosigned: Sequence[Cosigned],
    witnesses: Sequence[Identity],
    walk: audit.ChainWalk,
    keys: SiteKeys | None,
) -> tuple[tuple[Mapping[str, Any], ...], list[Finding]]:
    """Each witnessed head checked against its witness's pinned card, then the log against
    it; one entry per distinct head."""
    cards = {w.name: w for w in witnesses}
    tree = merkle.Tree(walk.digests) if cosigned else None
    seen: set[tuple[str, int, bytes]] = set()
    compared: list[Mapping[str, Any]] = []
    findings: list[Finding] = []
    for c in cosigned:
        key = (c.witness, c.size, c.signature)
        if key in seen:
            continue
        seen.add(key)
        card = cards.get(c.witness)
        fault = (
            f"no card of witness {c.witness} was given to check it against"
            if card is None
            else witness.cosigned_fault(c, card)
        )
        if fault is not None:
            findings.append(
                Finding(
                    audit.FORGED, f"a head co-signed as by {c.witness} is forged: {fault}", None
                )
            )
            found: list[Finding] = []
        else:
            assert tree is not None
            found = witness.against_log(c, tree, walk.seq, keys)
            findings += found
        compared.append(
            {
                "witness": c.witness,
                "seq": c.head.seq,
                "size": c.size,
                "root": b64(c.root),
                "at_ms": c.at_ms,
                "ok": fault is None and not found,
            }
        )
    return tuple(compared), findings


def _authors(log: AuditedLog) -> AuthorCheck:
    """Every author's signature checked, and every record that names a person as its author
    held to one (domain/secure/authorship.py)."""

    def span(first: int, last: int) -> RecordBatch:
        return RecordBatch.concat(list(log.read(after_seq=first - 1, upto_seq=last)))

    check = AuthorCheck(span)
    first = next(log.read(kinds=[AUTHOR_SIGNATURE], page_size=1), None)
    if first is None:
        return check  # nothing is signed: a log from before signatures, or with no users
    start = int(first.rows().__next__().payload["first"])
    try:
        # Who had which key and role before the first signature; then every record after.
        for page in log.read(kinds=["identity", "key.revoked", "user"], upto_seq=start - 1):
            check.feed(page)
        for page in log.read(after_seq=start - 1):
            check.feed(page)
    except LogError:
        pass  # a damaged segment: the chain's walk names it
    return check


def lost(kept: HeadKeeper, *, site: str, log: str, how: str) -> Report | None:
    """The report on a log that is missing, empty or unreadable (``how``) when the head kept
    outside it says it held records; None when nothing was kept (a workspace that never signed
    a head is as it was before: nothing says records are gone)."""
    try:
        head = kept.last()
    except SecureError as e:
        had = f"{kept.where} says it held records, though it cannot be read ({e})"
        seq = None
    else:
        if head is None:
            return None
        had = (
            f"the last head signed by site {head.site}, kept in {kept.where}, is at seq "
            f"{head.seq:,} ({b64(head.head)}): every record up to it is gone"
        )
        seq = head.seq
    finding = Finding(audit.LOST, f"the log {log} is {how}, but {had}", 1, None, 1, seq)
    return Report(
        ok=False,
        site=site,
        records=0,
        segments=0,
        seq=0,
        head=b64(audit.GENESIS),
        size=0,
        root=b64(merkle.EMPTY_ROOT),
        checkpoints=0,
        checkpoints_verified=0,
        checkpoints_foreign=0,
        covered_to=0,
        chain_only=None,
        first_bad=finding,
        findings=(finding,),
        signer=None,
        deep=False,
        seconds=0.0,
        kept_seq=seq,
        kept_in=kept.where,
    )


def keep_head(kept: HeadKeeper, signed: SignedHead, head_at: Callable[[int], bytes | None]) -> bool:
    """Keep ``signed`` outside the log if it extends what is kept there: a later position of
    a log that still holds the kept head (``head_at(seq)``: the log's stored head after
    ``seq``). Never over a head the log no longer holds, nor over one that cannot be read:
    that is the evidence `sitroom verify` reports. Whether it was kept."""
    try:
        last = kept.last()
    except SecureError:
        return False
    if last is not None and (signed.seq <= last.seq or head_at(last.seq) != last.head):
        return False
    kept.keep(signed)
    return True


class Audit:
    """The audit chain of an open room: sign the head a verification found intact. (The
    verification itself reads the log alone, without opening the room:
    :func:`sitroom.room.verify`.)"""

    def __init__(
        self,
        session: Session,
        *,
        site_secret: Callable[[], Secret],
        keep: Callable[[SignedHead], object] | None = None,
    ) -> None:
        self._s = session
        self._secret = site_secret
        self._keep = keep

    def sign(self, report: Report) -> Report:
        """Sign the head just verified — not the log's head now: a writer may have appended
        since, and that is not verified. The report, with the checkpoint written, or a note
        saying why none was."""
        if not report.ok or report.seq == 0:
            return report
        try:
            secret = self._secret()
        except (SecureError, WorkspaceError) as e:
            return replace(report, notes=(*report.notes, f"no checkpoint signed: {e}"))
        signed = audit.LogHead(
            report.seq,
            unb64(report.head, what="chain head"),
            report.size,
            unb64(report.root, what="tree head"),
        ).sign(secret)
        if self._keep is not None:
            self._keep(signed)
        record = audit.head_record(signed, self._s.now_ms())
        if not self._s.append([record], action="sign the audit chain").appended:
            note = f"the head at {report.seq} was signed already ({record.id})"
            return replace(report, notes=(*report.notes, note))
        return replace(report, checkpoint_written=record.id)


def _site_keys(
    scan: AuditScan, anchor: Identity | None, site: str
) -> tuple[SiteKeys | None, list[Finding], list[Checkpoint]]:
    """The site's keys over the log — its card from outside it, and the keys its
    ``key.transition`` records replaced (domain/secure/transition.py) — the findings on
    transitions that do not chain back from the card, and the head each valid one names, for
    the walk to hold against the log like a checkpoint's."""
    if anchor is None:
        return None, [], []
    found: list[tuple[int, str, Mapping[str, Any]]] = []
    for seg in scan.segments(KEY_TRANSITION):
        try:
            found += [(int(r.seq or 0), r.id, r.payload) for r in scan.decode(seg).rows()]
        except LogError:  # a damaged segment: the walk names it
            continue
    keys, bad = transition.chain(anchor, found)
    findings = [Finding(audit.FORGED, why, seq, rid, seq, seq) for seq, rid, why in bad]
    by_id = {rid: payload for _, rid, payload in found}
    heads = [
        transition.Transition.from_json(by_id[r.record_id]).checkpoint(r.record_seq, r.record_id)
        for r in keys.replaced
    ]
    return keys, findings, heads


def _replaced_note(r: transition.Replaced, site: str) -> str:
    if r.continuity:
        how = "by a transition signed by the old key (and the new)"
    else:
        how = (
            "without the old key's signature (its key file was lost): the checkpoints before "
            "it are vouched for by the new key alone"
        )
    return (
        f"site {site}'s key {r.key.fingerprint} was replaced at seq {r.upto:,} "
        f"({r.record_id}) {how}"
    )


def _kept(
    kept: HeadKeeper | None, keys: SiteKeys | None, site: str
) -> tuple[SignedHead | None, list[Finding]]:
    """The head kept outside the log, if there is one to compare the log with, or the finding
    that it cannot be trusted (unreadable, another site's, not signed by this site's key)."""
    if kept is None:
        return None, []
    fix = f"if nothing else is wrong, remove {kept.where} and verify again to sign a new one"
    try:
        head = kept.last()
    except SecureError as e:
        return None, [Finding(audit.FORGED, f"{e}; {fix}", None)]
    if head is None:
        return None, []
    fault = None
    if head.site != site:
        fault = f"it is site {head.site}'s, not this site's ({site})"
    elif keys is not None:
        fault = keys.fault(head)
    if fault is not None:
        return None, [
            Finding(audit.FORGED, f"the head kept in {kept.where} is forged: {fault}", None)
        ]
    return head, []


def _checkpoints(
    scan: AuditScan, keys: SiteKeys | None, site: str
) -> tuple[list[Finding], list[Checkpoint], int, int]:
    """Findings, the checkpoints whose signatures verify, the number of other sites' and of
    this site's. Read before the walk, so that the walk meets each checkpoint's position
    (always before the checkpoint's own record) knowing what was signed there."""
    findings: list[Finding] = []
    signed: list[Checkpoint] = []
    foreign = ours = 0
    for seg in scan.segments(AUDIT_CHECKPOINT):
        try:
            rows = list(scan.decode(seg).rows())
        except LogError:  # a damaged segment: the walk names it
            continue
        for r in rows:
            assert r.seq is not None
            try:
                cp = audit.parse_checkpoint(r.payload, r.seq, r.id)
            except SecureError as e:
                findings.append(Finding(audit.FORGED, str(e), r.seq, r.id, r.seq, r.seq))
                continue
            if cp.site != site:
                foreign += 1
                continue
            ours += 1
            if keys is None:
                continue
            fault = keys.fault(cp)
            if fault is None:
                signed.append(cp)
            else:
                findings.append(
                    Finding(
                        audit.FORGED,
                        f"checkpoint {cp.record_id} is forged: {fault}",
                        cp.record_seq,
                        cp.record_id,
                        cp.record_seq,
                        cp.record_seq,
                    )
                )
    return findings, signed, foreign, ours


def _deep(scan: AuditScan, seg: StoredSegment) -> list[Finding]:
    """Decode the segment and check its records against its header and the id index."""
    h = seg.header

    def bad(message: str, at: int = 0, rid: str | None = None) -> list[Finding]:
        return [Finding(audit.DECODED, message, h.first_seq + at, rid, h.first_seq, h.last_seq)]

    try:
        batch = scan.decode(seg)
    except LogError as e:
        return bad(str(e))
    seqs = batch.column("seq").to_numpy(zero_copy_only=False)
    ids = batch.column("id").to_pylist()
    if len(batch) != h.records:
        return bad(
            f"segment {h.first_seq}–{h.last_seq} holds {len(batch)} records, not {h.records}"
        )
    off = np.flatnonzero(seqs != np.arange(h.first_seq, h.last_seq + 1))
    if len(off):
        i = int(off[0])
        return bad(f"record {h.first_seq + i} is stored as seq {seqs[i]}", i, ids[i])
    kinds = batch.column("kind").to_pylist()
    if any(k != h.kind for k in kinds):
        i = next(i for i, k in enumerate(kinds) if k != h.kind)
        return bad(f"record {h.first_seq + i} is a {kinds[i]}, in a {h.kind} segment", i, ids[i])
    rt = batch.column("recorded_time")
    if rt[0].as_py() != h.first_rt or rt[-1].as_py() != h.last_rt:
        return bad(f"segment {h.first_seq}–{h.last_seq}: recorded times differ from its header")
    i_bad = scan.misplaced_id(h.first_seq, ids)
    if i_bad is not None:
        return [
            Finding(
                audit.IDS,
                f"the id index does not map {ids[i_bad]} to record {h.first_seq + i_bad}",
                h.first_seq + i_bad,
                ids[i_bad],
                h.first_seq,
                h.last_seq,
            )
        ]
    return []


def _named(scan: AuditScan, seg: StoredSegment, f: Finding) -> Finding:
    """Give a finding the id of its record where the walk could not read one: from the
    segment itself if it still decodes (a compressed segment: its first record), or from the
    id index."""
    if f.id is not None or f.seq is None:
        return f
    if seg.leaves is None and f.reason == audit.CHANGED:
        try:
            first = scan.decode(seg).column("id")[0].as_py()
        except LogError:
            return replace(
                f,
                id=scan.id_at(f.seq),
                message=f"{f.message}; it no longer decodes",
            )
        return replace(
            f,
            id=first,
            message=f"{f.message}; it still decodes, but a change inside a compressed segment "
            "cannot be pinned to one record",
        )
    return replace(f, id=scan.id_at(f.seq))
