"""The after-action report's contents: what the room knew, and when, over a window of recorded
time, gathered from one user's session as plain dataclasses (the adapters render them: HTML,
Markdown, PDF).

The window is of *recorded* time — when this room learned something — because the question an
after-action review asks is "what did we know, and when?". Every entry keeps its valid time
beside it: the gap between the two is when it happened against when we knew.

Everything is read through the session, so the report shows what its reader's clearance shows
and nothing else. Records of other tracks never reach it; an alert that is general (a cross-track
deadlock, an over-booked envoy: detectors raise those outside any compartment) but names
evidence the reader may not see — a track, a resource or a record outside their clearance — is
withheld and counted, since its title names what it is about.

The window is read once, page by page, in log order; each section keeps at most a fixed number
of entries and counts the rest ("N more"), so a window of a million GDELT events costs a count,
not a million rows in memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sitroom.application.report_words import words
from sitroom.application.results import Progress, Result
from sitroom.application.session import Session
from sitroom.domain import hlc
from sitroom.domain.channels.ledger import CHANNELS, awaiting, overdue
from sitroom.domain.kinds import (
    ALERT,
    CHANNEL_KINDS,
    EVIDENCE_KINDS,
    FORECAST,
    QUESTION,
    RESOURCE,
    TRACK,
    TRACK_STATUS,
)
from sitroom.domain.records import Record, RecordBatch
from sitroom.domain.timeutil import iso
from sitroom.errors import UserInputError

# Each section keeps this many entries and counts the rest.
TIMELINE_CAP = 200  # per group
ALERTS_CAP = 500
EVIDENCE_CAP = 20  # per alert
EVENTS_CAP = 500  # channel events, agreements
POINTS_CAP = 2_000  # forecasts per question
MAX_DEPTH = 4  # alerts naming alerts: how far evidence is followed

# The timeline's groups, in the order the report lists them, and the kinds in each. Kinds in
# no group (identities, signatures, checkpoints, source declarations...) are the room's own
# bookkeeping: counted, not listed.
GROUPS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("alerts", "Alerts", (ALERT,)),
    ("status", "Status changes", (TRACK_STATUS,)),
    (
        "decisions",
        "Decisions and agreements",
        (
            "agreement.proposed",
            "agreement.signed",
            "agreement.withdrawn",
            "agreement.agreed",
            "question.resolved",
            "schedule",
        ),
    ),
    ("channels", "Channel events", tuple(CHANNEL_KINDS)),
    ("forecasts", "Forecasts and judgments", ("question", "judgment", "forecast")),
    (
        "tracks",
        "Tracks, holdings and meetings",
        ("track", "resource", "holding", "meeting", "tracks.withdrawn", "calendar.busy"),
    ),
    (
        "access",
        "Keys and access",
        (
            "user",
            "user.grant",
            "user.revoke",
            "key.epoch",
            "key.revoked",
            "access.denied",
            "secure.rejected",
        ),
    ),
    ("events", "Key events", (*EVIDENCE_KINDS, "redline", "actor", "relationship")),
)
GROUP_OF = {k: name for name, _, kinds in GROUPS for k in kinds}
DECISION_KINDS = (*GROUPS[2][2][:4],)
CHANNEL_EVENTS = (
    *("channel.send", "channel.ack", "channel.failover", "channel.state"),
    *("channel.retry", "channel.drop", "channel.reply"),
)
PLAN_KINDS = ("holding", "meeting", "tracks.withdrawn")


# what the report holds -------------------------------------------------------------------
@dataclass(frozen=True)
class Entry:
    """One record: when it was recorded here, when it was valid in the world, what it says."""

    seq: int
    id: str
    kind: str
    recorded_ms: int
    valid_from: int | None
    valid_to: int | None
    words: str
    compartment: str

    @property
    def known_after_ms(self) -> int | None:
        """How long after it happened (its valid time began) the room knew it."""
        return None if self.valid_from is None else self.recorded_ms - self.valid_from


@dataclass(frozen=True)
class Group:
    name: str
    title: str
    entries: tuple[Entry, ...]
    total: int  # in the window: ``total - len(entries)`` more are not listed


@dataclass(frozen=True)
class Evidence:
    """What an alert names as its evidence: a record (with what it says and when the room had
    it), or a track or resource by name (``kind`` None)."""

    id: str
    kind: str | None
    recorded_ms: int | None
    valid_from: int | None
    words: str


@dataclass(frozen=True)
class AlertItem:
    entry: Entry
    severity: str
    title: str
    detector: str
    key: str
    detect_ms: float | None
    evidence: tuple[Evidence, ...]
    evidence_total: int
    # Alert recorded time minus the newest (and the oldest) evidence record's recorded time.
    after_newest_ms: int | None
    after_oldest_ms: int | None


@dataclass(frozen=True)
class Member:
    name: str
    p: float | None


@dataclass(frozen=True)
class ForecastPoint:
    seq: int
    id: str
    recorded_ms: int
    aggregate: float | None
    low: float | None
    high: float | None
    members: tuple[Member, ...]
    disagreement: str | None


@dataclass(frozen=True)
class QuestionHistory:
    id: str
    text: str
    track: str | None
    members: tuple[str, ...]  # every member that took part, in the order first seen
    points: tuple[ForecastPoint, ...]
    total: int


@dataclass(frozen=True)
class Overdue:
    message: str
    counterpart: str
    channel: str
    sent_ms: int | None
    explanation: str
    answered_ms: int | None  # a reply recorded by the window's end


@dataclass(frozen=True)
class StatusChange:
    seq: int
    id: str
    status: str
    recorded_ms: int
    valid_from: int | None


@dataclass(frozen=True)
class TrackHistory:
    id: str
    name: str
    before: StatusChange | None  # its status when the window opened
    changes: tuple[StatusChange, ...]  # in the window, in the order recorded
    plans: tuple[Entry, ...]  # holdings, meetings and withdrawals recorded in the window


@dataclass(frozen=True)
class Window:
    from_ms: int | None
    to_ms: int
    after_seq: int  # the records of the window are those after this log position...
    upto_seq: int  # ... up to and including this one


@dataclass(frozen=True, kw_only=True)
class AfterAction(Result):
    """An after-action report's contents, for the renderers."""

    room: str
    site: str
    user: str | None
    generated_ms: int
    window: Window
    last_seq: int  # the log's position when it was generated
    records: int  # records of the window this reader sees
    hidden: int  # records up to the window's end outside their clearance
    timeline: tuple[Group, ...]
    bookkeeping: Mapping[str, int]  # kind -> records counted, not listed
    alerts: tuple[AlertItem, ...]
    alerts_total: int
    alerts_withheld: int
    questions: tuple[QuestionHistory, ...]
    agreements: tuple[Entry, ...]
    agreements_total: int
    channel_events: tuple[Entry, ...]
    channel_events_total: int
    overdue: tuple[Overdue, ...]
    tracks: tuple[TrackHistory, ...]
    command: tuple[str, ...] = field(default=())  # what regenerates it, as typed words


@dataclass(frozen=True)
class Written:
    path: str
    format: str
    bytes: int


@dataclass(frozen=True, kw_only=True)
class ReportWritten(Result):
    """What `sitroom report` wrote, and a summary of what the report holds."""

    files: tuple[Written, ...]
    user: str | None
    window: Mapping[str, str | None]
    seq: int
    sections: Mapping[str, int]  # section id -> entries in it

    @classmethod
    def of(cls, report: AfterAction, files: Sequence[Written]) -> ReportWritten:
        w = report.window
        return cls(
            files=tuple(files),
            user=report.user,
            window={"from": iso(w.from_ms), "to": iso(w.to_ms)},
            seq=report.last_seq,
            sections={
                "timeline": sum(g.total for g in report.timeline),
                "alerts": report.alerts_total,
                "forecasts": sum(q.total for q in report.questions),
                "decisions": report.agreements_total + report.channel_events_total,
                "tracks": len(report.tracks),
            },
        )


# gathering -------------------------------------------------------------------------------
def entry(r: Record) -> Entry:
    return Entry(
        seq=r.seq or 0,
        id=r.id,
        kind=r.kind,
        recorded_ms=hlc.wall_ms(r.recorded_time or 0),
        valid_from=r.valid_from,
        valid_to=r.valid_to,
        words=words(r.kind, r.payload),
        compartment=r.compartment,
    )


class _Capped:
    """A list that keeps its first ``cap`` items and counts every one offered."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.items: list[Any] = []
        self.total = 0

    def room(self) -> int:
        return max(self.cap - len(self.items), 0)

    def add(self, item: Any) -> None:
        self.total += 1
        if len(self.items) < self.cap:
            self.items.append(item)


class Reports:
    """After-action reports of a room, as one user's session sees it."""

    def __init__(self, session: Session, *, room: str) -> None:
        self._s = session
        self._room = room

    def window(self, from_ms: int | None, to_ms: int | None) -> Window:
        """The log positions of the records recorded from ``from_ms`` to ``to_ms`` (default:
        the whole log, up to now). UserInputError if it ends before it starts."""
        s = self._s
        end = s.now_ms() if to_ms is None else to_ms
        if from_ms is not None and from_ms > end:
            raise UserInputError(
                f"the window ends ({iso(end)}) before it starts ({iso(from_ms)}): give --from "
                "before --to"
            )
        after = 0 if from_ms is None else s.at(from_ms - 1).seq
        return Window(from_ms, end, after, s.at(end).seq)

    def build(
        self,
        from_ms: int | None = None,
        to_ms: int | None = None,
        *,
        progress: Progress | None = None,
    ) -> AfterAction:
        s = self._s
        w = self.window(from_ms, to_ms)
        at = s.at(w.to_ms)
        tracks_state = s.state("tracks", at)
        visible = _Visible(s, tracks_state, w.upto_seq)

        groups = {name: _Capped(TIMELINE_CAP) for name, _, _ in GROUPS}
        bookkeeping: dict[str, int] = {}
        alerts = _Capped(ALERTS_CAP)
        forecasts: dict[str, _Capped] = {}
        agreements = _Capped(EVENTS_CAP)
        channel_events = _Capped(EVENTS_CAP)
        plans: dict[str, list[Entry]] = {}
        replies: dict[str, int] = {}
        records = 0
        total = max(w.upto_seq - w.after_seq, 0)
        for page in s.read(after_seq=w.after_seq, upto_seq=w.upto_seq):
            records += len(page)
            for kind in page.column("kind").unique().to_pylist():
                rows = page.of_kinds([kind])
                group = GROUP_OF.get(kind)
                if group is None:
                    bookkeeping[kind] = bookkeeping.get(kind, 0) + len(rows)
                    continue
                if kind == ALERT:  # listed once their evidence is checked, below
                    _offer(alerts, rows)
                    continue
                if group == "events":  # a bulk feed's: only those listed are read as rows
                    _offer(groups[group], rows, entry)
                    continue
                for r in rows.rows():
                    e = entry(r)
                    if kind == "schedule":
                        e = replace(e, words=_schedule_words(r.payload, visible.tracks))
                    groups[group].add(e)
                    if kind == FORECAST:
                        q = str(r.payload.get("question"))
                        forecasts.setdefault(q, _Capped(POINTS_CAP)).add(_point(r))
                    elif kind in DECISION_KINDS:
                        agreements.add(e)
                    elif kind in CHANNEL_EVENTS:
                        channel_events.add(e)
                        if kind == "channel.reply":
                            replies[str(r.payload.get("message"))] = e.recorded_ms
                    elif kind in PLAN_KINDS:
                        plans.setdefault(_track_of(r), []).append(e)
            if progress is not None:
                progress(min(records, total), total)

        shown, withheld = self._alerts(alerts.items, visible)
        groups["alerts"] = _Capped(TIMELINE_CAP)
        for a in shown:
            groups["alerts"].add(a.entry)
        groups["alerts"].total += alerts.total - len(alerts.items)  # past the cap: unchecked
        return AfterAction(
            room=self._room,
            site=s.site_id,
            user=s.user,
            generated_ms=s.now_ms(),
            window=w,
            last_seq=s.last_seq(),
            records=records,
            hidden=s.hidden(at),
            timeline=tuple(
                Group(name, title, tuple(groups[name].items), groups[name].total)
                for name, title, _ in GROUPS
            ),
            bookkeeping=dict(sorted(bookkeeping.items())),
            alerts=tuple(shown),
            alerts_total=alerts.total - withheld,
            alerts_withheld=withheld,
            questions=self._questions(forecasts, w),
            agreements=tuple(agreements.items),
            agreements_total=agreements.total,
            channel_events=tuple(channel_events.items),
            channel_events_total=channel_events.total,
            overdue=self._overdue(shown, s.state(CHANNELS, at), w.to_ms, replies),
            tracks=self._tracks(w, plans),
        )

    # sections ---------------------------------------------------------------------------
    def _alerts(self, rows: Sequence[Record], visible: _Visible) -> tuple[list[AlertItem], int]:
        """The alerts whose evidence this reader may see, each with it; and how many were
        withheld."""
        wanted = {e for r in rows for e in r.payload.get("evidence") or ()}
        visible.fetch(wanted)
        shown: list[AlertItem] = []
        withheld = 0
        for r in rows:
            p = r.payload
            ids = [str(e) for e in p.get("evidence") or ()]
            if not all(visible.sees(e) for e in ids):
                withheld += 1
                continue
            evidence = [visible.evidence(e, r.seq or 0) for e in ids]
            stamps = [e.recorded_ms for e in evidence if e.recorded_ms is not None]
            mine = entry(r)
            detect = p.get("detect_ms")
            shown.append(
                AlertItem(
                    entry=mine,
                    severity=str(p.get("severity")),
                    title=str(p.get("title")),
                    detector=str(p.get("detector")),
                    key=str(p.get("key")),
                    detect_ms=float(detect) if isinstance(detect, int | float) else None,
                    evidence=tuple(evidence[:EVIDENCE_CAP]),
                    evidence_total=len(evidence),
                    after_newest_ms=mine.recorded_ms - max(stamps) if stamps else None,
                    after_oldest_ms=mine.recorded_ms - min(stamps) if stamps else None,
                )
            )
        return shown, withheld

    def _questions(
        self, forecasts: Mapping[str, _Capped], w: Window
    ) -> tuple[QuestionHistory, ...]:
        texts: dict[str, Mapping[str, Any]] = {}
        for r in self._s.records(upto_seq=w.upto_seq, kinds=[QUESTION]):
            texts[str(r.payload.get("id"))] = r.payload  # the newest version wins
        out = []
        for qid, kept in sorted(forecasts.items()):
            points: list[ForecastPoint] = kept.items
            members = list(dict.fromkeys(m.name for pt in points for m in pt.members))
            q = texts.get(qid, {})
            out.append(
                QuestionHistory(
                    id=qid,
                    text=str(q.get("text") or qid),
                    track=q.get("track"),
                    members=tuple(members),
                    points=tuple(points),
                    total=kept.total,
                )
            )
        return tuple(out)

    def _overdue(
        self,
        alerts: Sequence[AlertItem],
        state: Mapping[str, Any],
        end_ms: int,
        replies: Mapping[str, int],
    ) -> tuple[Overdue, ...]:
        """Replies that were overdue in the window (its overdue alerts) or still are at its
        end, each once, with the reply if one came by the end."""
        found: dict[str, Overdue] = {}
        for a in alerts:
            if a.detector == CHANNELS and a.key.startswith("overdue:"):
                d = a.entry
                msg = a.key.split(":", 1)[1]
                m = state["messages"].get(msg, {})
                found[msg] = Overdue(
                    message=msg,
                    counterpart=str(m.get("counterpart") or ""),
                    channel=str(m.get("channel") or ""),
                    sent_ms=m.get("sent_ms"),
                    explanation=a.title.split(": ", 1)[-1] if ": " in a.title else d.words,
                    answered_ms=replies.get(msg, m.get("replied_ms")),
                )
        for m in awaiting(state):
            late = overdue(state, m, end_ms)
            if late is None or m["message"] in found:
                continue
            found[m["message"]] = Overdue(
                message=str(m["message"]),
                counterpart=late.counterpart,
                channel=str(m["channel"]),
                sent_ms=m.get("sent_ms"),
                explanation=late.explanation,
                answered_ms=None,
            )
        return tuple(found[k] for k in sorted(found, key=lambda k: found[k].sent_ms or 0))

    def _tracks(self, w: Window, plans: Mapping[str, list[Entry]]) -> tuple[TrackHistory, ...]:
        """Each track this reader sees: its status when the window opened (from its file or
        the last change before), and every change recorded in the window."""
        names: dict[str, str] = {}
        before: dict[str, StatusChange] = {}
        changes: dict[str, list[StatusChange]] = {}
        for r in self._s.records(upto_seq=w.upto_seq, kinds=[TRACK, TRACK_STATUS]):
            p = r.payload
            tid = str(p.get("track") if r.kind == TRACK_STATUS else p.get("id"))
            if r.kind == TRACK:
                names[tid] = str(p.get("name") or tid)
                seen = changes.get(tid)
                last = seen[-1] if seen else before.get(tid)
                if last is not None and last.status == p.get("status"):
                    continue  # the file declared again, its status unchanged
            change = StatusChange(
                seq=r.seq or 0,
                id=r.id,
                status=str(p.get("status")),
                recorded_ms=hlc.wall_ms(r.recorded_time or 0),
                valid_from=r.valid_from,
            )
            if (r.seq or 0) <= w.after_seq:
                before[tid] = change
            else:
                changes.setdefault(tid, []).append(change)
        return tuple(
            TrackHistory(
                id=tid,
                name=names.get(tid, tid),
                before=before.get(tid),
                changes=tuple(changes.get(tid, ())),
                plans=tuple(plans.get(tid, ())),
            )
            for tid in sorted(set(names) | {t for t in plans if t})
        )


def _offer(kept: _Capped, rows: RecordBatch, as_item: Any = None) -> None:
    """Offer a page's rows of one kind to ``kept``: only as many as it has room for are read as
    rows (a bulk feed's million events are counted, not parsed)."""
    room = kept.room()
    for r in rows.slice(0, room).rows() if room else ():
        kept.add(r if as_item is None else as_item(r))
    kept.total += len(rows) - min(room, len(rows))


def _point(r: Record) -> ForecastPoint:
    p = r.payload
    spread = p.get("spread") or {}
    agg = p.get("aggregate") or {}
    dis = p.get("disagreement")
    return ForecastPoint(
        seq=r.seq or 0,
        id=r.id,
        recorded_ms=hlc.wall_ms(r.recorded_time or 0),
        aggregate=_prob(agg.get("p")),
        low=_prob(spread.get("min")),
        high=_prob(spread.get("max")),
        members=tuple(
            Member(str(m.get("name")), _prob(m.get("p"))) for m in p.get("members") or ()
        ),
        disagreement=str(dis.get("summary") or "members disagree")
        if isinstance(dis, Mapping)
        else None,
    )


def _prob(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _track_of(r: Record) -> str:
    """The track a holding, meeting or withdrawal is of (a withdrawal is in its compartment)."""
    track = r.payload.get("track")
    if track:
        return str(track)
    return r.compartment or str(r.payload.get("id") or "").split("|", 1)[0]


def _schedule_words(p: Mapping[str, Any], tracks: Iterable[str]) -> str:
    """A solved schedule, told for the tracks this reader sees: the schedule record is general
    but names every track's meetings."""
    seen = set(tracks)
    mine = [m for m in (p.get("meetings") or {}).values() if m.get("track") in seen]
    placed = "; ".join(
        f"{m.get('title')} ({m.get('track')}) at {iso(m.get('start'))}"
        for m in sorted(mine, key=lambda m: m.get("start") or 0)[:10]
    )
    return f"schedule solved ({p.get('status')}): {len(mine)} meetings placed" + (
        f": {placed}" if placed else ""
    )


class _Visible:
    """What an alert may name as evidence and this reader sees: tracks and resources of the
    tracks view (restricted to them), and records their session reads."""

    def __init__(self, session: Session, tracks_state: Mapping[str, Any], upto_seq: int) -> None:
        self._s = session
        self.tracks = set(tracks_state["tracks"])
        self.resources = set(tracks_state["resources"])
        self._upto = upto_seq
        self._records: dict[str, Record] = {}
        # A track or resource an alert names stands for the records that declared it (and the
        # track's status changes): the newest before the alert is when the room knew of it.
        self._named: dict[str, list[Record]] = {}
        for r in session.records(upto_seq=upto_seq, kinds=[TRACK, TRACK_STATUS, RESOURCE]):
            what = "resource" if r.kind == RESOURCE else "track"
            name = r.payload.get("track") if r.kind == TRACK_STATUS else r.payload.get("id")
            self._named.setdefault(f"{what}:{name}", []).append(r)

    def fetch(self, ids: Iterable[str]) -> None:
        """Read the records named, and those the alerts among them name in turn (an alert that
        a condition cleared names the alert it clears)."""
        wanted = set(ids)
        for _ in range(MAX_DEPTH):
            ids = sorted(
                i
                for i in wanted
                if not i.startswith(("track:", "resource:"))
                and i not in self.tracks
                and i not in self._records
            )
            wanted = set()
            for start in range(0, len(ids), 1000):
                for r in self._s.records(ids=ids[start : start + 1000], upto_seq=self._upto):
                    self._records[r.id] = r
                    if r.kind == ALERT:
                        wanted.update(str(e) for e in r.payload.get("evidence") or ())
            if not wanted:
                return

    def sees(self, ref: str, depth: int = 0) -> bool:
        what, _, name = ref.partition(":")
        if what == "track":
            return name in self.tracks
        if what == "resource":
            return name in self.resources
        r = self._records.get(ref)
        if r is None:
            return ref in self.tracks
        if r.kind != ALERT:
            return True
        named = [str(e) for e in r.payload.get("evidence") or ()]
        return depth < MAX_DEPTH and all(self.sees(e, depth + 1) for e in named)

    def evidence(self, ref: str, before_seq: int) -> Evidence:
        r = self._records.get(ref)
        if r is None:
            known = [x for x in self._named.get(ref, ()) if (x.seq or 0) < before_seq]
            if not known:
                return Evidence(ref, None, None, None, ref.replace(":", " ", 1))
            r = known[-1]
            return Evidence(
                ref,
                None,
                hlc.wall_ms(r.recorded_time or 0),
                r.valid_from,
                f"{ref.replace(':', ' ', 1)}: {words(r.kind, r.payload)}",
            )
        return Evidence(
            ref, r.kind, hlc.wall_ms(r.recorded_time or 0), r.valid_from, words(r.kind, r.payload)
        )
