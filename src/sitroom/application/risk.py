"""Risk as a room shows it: forecast questions asked, judged and resolved; their forecasts with
every member beside the aggregate; scores once they resolve; backtests on the past.

Each write is one record through the session's append path; the forecaster (a reactor on the
spine) answers it in the same append, so :meth:`Risk.add_question` returns the question's first
forecast and :meth:`Risk.judge` the forecast the judgment moved. Reads are the ``risk``
projection as of a moment, scoped to what the session's user may see, with provenance.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from sitroom.application import backtest as bt
from sitroom.application.ingest import AlertRaised, raised
from sitroom.application.results import Answer, Progress, Result
from sitroom.application.session import Session
from sitroom.domain.channels.ledger import CHANNELS
from sitroom.domain.geo import Radius
from sitroom.domain.kinds import QuestionPayload
from sitroom.domain.places import find_place
from sitroom.domain.records import Record, content_id
from sitroom.domain.risk import scoring
from sitroom.domain.risk.forecast import region
from sitroom.domain.risk.ledger import resolution
from sitroom.domain.risk.questions import (
    BINARY,
    COUNT,
    DEFAULT_PRIOR,
    DEFAULT_RADIUS,
    DEFAULT_RADIUS_M,
    FORECAST,
    JUDGMENT,
    OUTCOMES,
    QUESTION,
    QUESTION_RESOLVED,
    Place,
    Question,
    Reference,
    check_probability,
)
from sitroom.domain.risk.scoring import Reliability
from sitroom.domain.risk.state import RISK, RiskState
from sitroom.domain.timeutil import iso
from sitroom.errors import AlreadyExists, NotFound, UserInputError

RISK_RECORDS: tuple[str, ...] = (QUESTION, QUESTION_RESOLVED, JUDGMENT, FORECAST)
SOURCE = "analyst"  # the source of questions and of resolutions by no one in particular

# Draws a reliability diagram of the named curves into a file (its title given): the path
# written. The plotting adapter provides it.
PlotWriter = Callable[[Mapping[str, Reliability], Path, str], Path]


# results: a question ----------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class Resolution(Result):
    question: str
    outcome: str  # yes, no or void
    by: str  # who resolved it, or "rule"
    reason: str
    count: int | None  # a count question: the events in its window
    evidence: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class QuestionView(Result):
    """A question as asked, with its state: open, yes, no or void."""

    id: str
    text: str
    shape: str  # binary or count
    rule: str  # how it resolves: meeting, events or analyst
    status: str
    deadline: str | None  # binary: the deadline; count: the window's end
    window_from: str | None  # count: the window's start
    threshold: int | None  # count: at least this many events
    places: tuple[Place, ...]  # the venue first, then parties' places
    radius: str
    quad_classes: tuple[int, ...]
    track: str | None
    channels: tuple[str, ...]
    given: str | None  # conditional on this question
    unconditional: str | None  # the same event's unconditional question
    reference: Reference | None
    prior: tuple[float, float]
    disagreement: float | None  # None: the room's setting
    compartment: str
    asked: str | None
    resolution: Resolution | None


# results: a forecast ----------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class CountDistribution(Result):
    """A count member's predictive distribution of the window's count: ``offset`` events
    already seen plus a negative binomial (Poisson when ``dispersion`` is None)."""

    offset: int
    mean: float
    dispersion: float | None


@dataclass(frozen=True, kw_only=True)
class MemberForecast(Result):
    name: str
    kind: str  # base_rate, event_count, nearby, channels, analyst
    p: float
    weight: float
    drivers: str  # what drives it, in a sentence
    evidence: tuple[str, ...]
    detail: Mapping[str, Any]
    dist: CountDistribution | None


@dataclass(frozen=True, kw_only=True)
class Aggregate(Result):
    method: str  # which of the three is ``p``
    p: float
    median: float
    mean: float
    extremised: float
    extremise: float


@dataclass(frozen=True, kw_only=True)
class Spread(Result):
    """The members' range: never one number without it."""

    low: float
    high: float
    range: float
    lowest: str
    highest: str
    sd: float


@dataclass(frozen=True, kw_only=True)
class Side(Result):
    member: str
    p: float
    drivers: str


@dataclass(frozen=True, kw_only=True)
class Disagreement(Result):
    """Members further apart than the threshold, split where they are furthest apart: each
    side named with what drives it."""

    threshold: float
    range: float
    high: tuple[Side, ...]
    low: tuple[Side, ...]
    summary: str


@dataclass(frozen=True, kw_only=True)
class Change(Result):
    """A member that moved since the last forecast, and the records that moved it."""

    member: str
    was: float | None
    now: float
    moved_by: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class Forecast(Result):
    id: str
    question: str
    at: str | None
    shape: str
    members: tuple[MemberForecast, ...]
    aggregate: Aggregate
    spread: Spread
    disagreement: Disagreement | None
    flags: tuple[str, ...]  # disagreement, single member, thin data
    triggered_by: tuple[str, ...]
    changes: tuple[Change, ...]
    newest_evidence: str | None

    def member(self, name: str) -> MemberForecast:
        found = next((m for m in self.members if m.name == name), None)
        if found is None:
            raise NotFound("member", name, known=[m.name for m in self.members])
        return found


@dataclass(frozen=True, kw_only=True)
class HistoryPoint(Result):
    at: str | None
    p: float
    id: str


@dataclass(frozen=True, kw_only=True)
class QuestionForecast(Result):
    question: QuestionView
    forecast: Forecast | None
    history: tuple[HistoryPoint, ...]  # every forecast's aggregate, oldest first


@dataclass(frozen=True, kw_only=True)
class Forecasts(Answer):
    forecasts: tuple[QuestionForecast, ...]


@dataclass(frozen=True, kw_only=True)
class QuestionRow(Result):
    id: str
    text: str
    shape: str
    rule: str
    status: str
    deadline: str | None
    track: str | None
    p: float | None  # the latest aggregate
    range: tuple[float, float] | None  # the members' lowest and highest
    flags: tuple[str, ...]
    forecasts: int


@dataclass(frozen=True, kw_only=True)
class Questions(Answer):
    questions: tuple[QuestionRow, ...]


# results: what a write did ------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class Asked(Result):
    """A question recorded (``new`` False: the same question was there already) and what
    the forecaster made of it: its first forecast, or its resolution at once."""

    question: QuestionView
    new: bool
    forecast: Forecast | None
    resolved: tuple[Resolution, ...]
    alerts: tuple[AlertRaised, ...]


@dataclass(frozen=True, kw_only=True)
class Judged(Result):
    question: str
    by: str
    p: float
    rationale: str
    forecast: Forecast | None
    resolved: tuple[Resolution, ...]
    alerts: tuple[AlertRaised, ...]


@dataclass(frozen=True, kw_only=True)
class MemberScore(Result):
    member: str
    p: float
    brier: float  # of the last forecast before the question resolved
    log_score: float
    crps: float | None  # count questions: the member's distribution
    # The Brier score over the question's life: each forecast's, weighted by how long it stood
    # (as Good Judgment scores), so a forecaster right only at the end is not scored as right.
    brier_life: float | None = None


@dataclass(frozen=True, kw_only=True)
class QuestionScore(Result):
    """Each member's and the aggregate's score on a resolved question, from the last forecast
    before it resolved."""

    question: str
    outcome: str
    forecast: str
    members: tuple[MemberScore, ...]

    def member(self, name: str) -> MemberScore:
        found = next((m for m in self.members if m.member == name), None)
        if found is None:
            raise NotFound("member", name, known=[m.member for m in self.members])
        return found


@dataclass(frozen=True, kw_only=True)
class Settled(Result):
    """A question resolved by hand: the conditional questions voided with it, those
    re-forecast (an analyst's weight changed) and its scores."""

    question: str
    outcome: str
    by: str
    reason: str
    voided: tuple[str, ...]
    reforecast: tuple[str, ...]
    score: QuestionScore | None
    alerts: tuple[AlertRaised, ...]


@dataclass(frozen=True, kw_only=True)
class MeanScore(Result):
    member: str  # a member's name, "aggregate", or "analysts" (every analyst together)
    brier: float
    log_score: float
    crps: float | None
    questions: int
    crps_questions: int
    brier_life: float | None = None  # the mean over questions of the time-averaged Brier


@dataclass(frozen=True, kw_only=True)
class AnalystRecord(Result):
    """An analyst's track record on resolved questions: each question's Brier (last judgment),
    the same against the models' (``relative``: 1 as good, below better), which sets their
    weight, and their calibration: per fifth of probability, how many judgments, their mean,
    and how often the event happened."""

    by: str
    weight: float  # in the ensemble, from ``relative``
    briers: tuple[float, ...]
    relative: tuple[float, ...] = ()
    calibration: tuple[tuple[int, float, float], ...] = ()  # (n, mean p, observed) per fifth


@dataclass(frozen=True, kw_only=True)
class Scores(Answer):
    resolved: int
    void: int
    open: int
    means: tuple[MeanScore, ...]
    questions: tuple[QuestionScore, ...]
    analysts: tuple[AnalystRecord, ...]


# the service ------------------------------------------------------------------------------
class Risk:
    """Forecast questions: ask, judge, resolve, read, score and backtest."""

    def __init__(self, session: Session, *, plot: PlotWriter | None = None) -> None:
        self._s = session
        self._plot = plot

    # asking -------------------------------------------------------------------------------
    def add_question(
        self,
        text: str,
        *,
        id: str | None = None,
        until_ms: int | None = None,
        since_ms: int | None = None,
        window_ms: int | None = None,
        threshold: int | None = None,
        places: Sequence[Place] = (),
        radius: Radius | None = None,
        track: str | None = None,
        rule: str | None = None,
        reference: str | None = None,
        hits: int = 0,
        of: int = 0,
        prior: tuple[float, float] = DEFAULT_PRIOR,
        given: str | None = None,
        unconditional: str | None = None,
        channels: Sequence[str] = (),
        yes_status: Sequence[str] = ("met",),
        quad_classes: Sequence[int] = (4,),
        disagreement: float | None = None,
    ) -> Asked:
        """Ask a question. With ``threshold``, a count question: at least that many conflict
        events within ``radius`` of the venue (``places[0]``) from ``since_ms`` (default now)
        to ``until_ms`` (or for ``window_ms``). Otherwise binary, by the deadline
        ``until_ms``. With no places, a question about a track is asked at its venue. Its base
        rate: ``hits`` of ``of`` cases of the ``reference`` class, on a Beta ``prior``."""
        s = self._s
        if (hits or of) and not reference:
            raise UserInputError("base-rate counts (hits of cases) need their reference class")
        if track is not None:
            places = tuple(places) or self._venue(track)
        known_channels = s.state(CHANNELS)["channels"]
        for c in channels:
            if c not in known_channels:
                raise NotFound("channel", c, known=sorted(known_channels))
        shape = COUNT if threshold is not None else BINARY
        if shape == BINARY and since_ms is not None:
            raise UserInputError("a binary question has a deadline, not a window with a start")
        window_from = None
        deadline = until_ms
        if shape == COUNT:
            window_from = s.now_ms() if since_ms is None else since_ms
            if deadline is None and window_ms is not None:
                deadline = window_from + window_ms
        if shape == BINARY and deadline is not None and deadline <= s.now_ms():
            # It would resolve "no" at once, whatever happened. (A count over a past window is
            # answered from the events the log holds.)
            raise UserInputError(f"the deadline {iso(deadline)} has passed: ask about the future")
        q = Question(
            id=id or slug(text),
            text=text,
            shape=shape,
            rule=rule or ("events" if shape == COUNT else "meeting" if track else "analyst"),
            deadline_ms=deadline,
            track=track,
            places=tuple(places),
            radius_m=DEFAULT_RADIUS_M if radius is None else radius.meters,
            radius_text=DEFAULT_RADIUS if radius is None else radius.text,
            window_from_ms=window_from,
            threshold=threshold,
            quad_classes=tuple(quad_classes),
            prior=prior,
            reference=Reference(reference, hits, of) if reference else None,
            given=given,
            of=unconditional,
            channels=tuple(channels),
            yes_status=tuple(yes_status),
            disagreement=disagreement,
            compartment=track or "",
        )
        return self.ask(q)

    def ask(self, q: Question) -> Asked:
        """Record a question built elsewhere (an import, a benchmark): a changed definition is
        a new version beside the old. Its links must exist."""
        s = self._s
        state: RiskState = s.state(RISK)
        for link, role in ((q.given, "to be conditional on"), (q.of, "as its unconditional")):
            if link and link not in state.questions:
                raise NotFound(
                    "question", link, known=sorted(state.questions), detail=f" for {q.id} {role}"
                )
        payload = q.as_payload()
        current = state.questions.get(q.id)
        if current is not None and _definition(current["question"]) != _definition(payload):
            # Re-using an id rewrote the question, and judgments made on the old one were
            # scored against the new: a change is an explicit edit.
            raise AlreadyExists(
                "question",
                q.id,
                detail=" with another definition: change it with `sitroom questions edit`",
            )
        return self._record(q, payload, action=f"add question {q.id}")

    def edit(self, qid: str, *, reason: str, **changes: Any) -> Asked:
        """Change an open question's definition (``changes``: the :class:`Question` fields,
        such as ``deadline_ms``, ``threshold``, ``places``, ``text``), as the session's user,
        for a reason. The judgments made on the old definition are set aside: they answered
        another question. Their authors are told by an alert, and judge again."""
        by = self._s.user
        if not by:
            raise UserInputError("an edit is someone's: name who edits with -u NAME")
        if not reason.strip():
            raise UserInputError("say why the question changes: --reason TEXT")
        old = self._open(qid)
        editable = set(Question.__dataclass_fields__) - {"id", "compartment", "extra"}
        unknown = set(changes) - editable
        if unknown:
            raise UserInputError(f"cannot edit a question's {', '.join(sorted(unknown))}")
        new = replace(old, **changes)
        changed = sorted(k for k in changes if getattr(new, k) != getattr(old, k))
        if not changed:
            raise UserInputError(f"nothing to change: question {qid} already says that")
        payload = new.as_payload()
        payload["edit"] = {"by": by, "reason": reason, "changed": changed}
        return self._record(new, payload, action=f"edit question {qid}")

    def _record(self, q: Question, payload: QuestionPayload, *, action: str) -> Asked:
        s = self._s
        record = QUESTION.record(
            id=f"question:{q.id}:{content_id(payload)}",
            source=SOURCE,
            valid_from=s.now_ms(),
            compartment=q.compartment,
            payload=payload,
        )
        out = s.append([record], action=action)
        state = s.state(RISK)
        return Asked(
            question=_question(state, q.id),
            new=bool(out.appended),
            forecast=_latest(out.derived, q.id),
            resolved=_resolutions(out.derived),
            alerts=raised(out.alerts),
        )

    def _venue(self, track: str) -> tuple[Place, ...]:
        tracks = self._s.state("tracks")["tracks"]
        if track not in tracks:
            raise NotFound("track", track, known=sorted(tracks))
        v = tracks[track].get("venue") or {}
        if "lat" in v and "lon" in v:
            return (Place(v["name"], v["lat"], v["lon"]),)
        found = find_place(v.get("name") or "")
        return (Place(v["name"], found.lat, found.lon),) if found else ()

    # judging and resolving ----------------------------------------------------------------
    def judge(self, qid: str, p: float, *, rationale: str = "") -> Judged:
        """The session's user's probability for an open question: a member of its ensemble,
        weighted by their record once questions resolve."""
        by = self._s.user
        if not by:
            raise UserInputError("a judgment is someone's: name who judges with -u NAME")
        check_probability(p)
        q = self._open(qid)
        now = self._s.now_ms()
        record = JUDGMENT.record(
            id=f"judgment:{qid}:{by}:{now}",
            source=f"analyst:{by}",
            valid_from=now,
            compartment=q.compartment,
            payload={"question": qid, "by": by, "p": p, "rationale": rationale},
        )
        out = self._s.append([record], action=f"judge {qid}")
        return Judged(
            question=qid,
            by=by,
            p=p,
            rationale=rationale,
            forecast=_latest(out.derived, qid),
            resolved=_resolutions(out.derived),
            alerts=raised(out.alerts),
        )

    def resolve(self, qid: str, outcome: str, *, reason: str = "") -> Settled:
        """Resolve an open question by hand (yes, no or void), as the session's user."""
        if outcome not in OUTCOMES:
            raise UserInputError(f"a question resolves yes, no or void, not {outcome!r}")
        q = self._open(qid)
        by = self._s.user or SOURCE
        now = self._s.now_ms()
        inside: list[str] = []
        if q.shape == COUNT:  # the count it is scored on, as the log holds it now
            found = region(q, self._s.state(RISK), now).inside
            inside = found.newest_ids(len(found))
        record = resolution(
            q,
            outcome,
            now,
            by,
            reason or f"resolved by {by}",
            inside,
            len(inside) if q.shape == COUNT else None,
        )
        out = self._s.append([record], action=f"resolve {qid}")
        state: RiskState = self._s.state(RISK)
        return Settled(
            question=qid,
            outcome=outcome,
            by=by,
            reason=record.payload["reason"],
            voided=tuple(r.payload["question"] for r in out.derived if r.kind == QUESTION_RESOLVED),
            reforecast=tuple(r.payload["question"] for r in out.derived if r.kind == FORECAST),
            score=score_of(state, qid),
            alerts=raised(out.alerts),
        )

    def _open(self, qid: str) -> Question:
        state: RiskState = self._s.state(RISK)
        status = state.status(qid)
        if status is None:
            raise NotFound("question", qid, known=sorted(state.questions))
        if status != "open":
            raise UserInputError(f"question {qid} is already resolved {status}")
        return state.question(qid)

    # reading ------------------------------------------------------------------------------
    def _now(self, as_of_ms: int | None) -> Session:
        """The session, having let the clock resolve what is due when the answer is about now:
        a question whose deadline passed showed "open" until something else ticked."""
        if as_of_ms is None:
            self._s.tick()
        return self._s

    def questions(self, *, as_of_ms: int | None = None, status: str | None = None) -> Questions:
        """Every question (or those of ``status``) with its latest forecast and range."""
        if status is not None and status not in ("open", *OUTCOMES):
            raise UserInputError(f"a question is open, yes, no or void, not {status!r}")
        s = self._now(as_of_ms)
        at = s.at(as_of_ms)
        state: RiskState = s.state(RISK, at)
        rows = []
        for qid, entry in sorted(state.questions.items()):
            if status and entry["status"] != status:
                continue
            f = state.forecasts.get(qid)
            q = entry["question"]
            rows.append(
                QuestionRow(
                    id=qid,
                    text=q["text"],
                    shape=q["shape"],
                    rule=q["rule"],
                    status=entry["status"],
                    deadline=iso(q.get("deadline_ms")),
                    track=q.get("track"),
                    p=f["aggregate"]["p"] if f else None,
                    range=(f["spread"]["min"], f["spread"]["max"]) if f else None,
                    flags=tuple(f["flags"]) if f else (),
                    forecasts=len(state.history.get(qid, [])),
                )
            )
        return Questions(
            questions=tuple(rows), provenance=s.provenance(at, _newest(state), RISK_RECORDS)
        )

    def forecast(self, qid: str | None = None, *, as_of_ms: int | None = None) -> Forecasts:
        """The latest forecast of one question (any state), or of every open question, as of
        a moment: every member, the aggregate, the range, the disagreement, the history."""
        s = self._now(as_of_ms)
        at = s.at(as_of_ms)
        state: RiskState = s.state(RISK, at)
        if qid is not None and qid not in state.questions:
            raise NotFound("question", qid, known=sorted(state.questions))
        ids = (
            [qid]
            if qid is not None
            else [k for k, v in sorted(state.questions.items()) if v["status"] == "open"]
        )
        items = tuple(
            QuestionForecast(
                question=_question(state, k),
                forecast=_forecast(state.forecasts[k]) if k in state.forecasts else None,
                history=tuple(
                    HistoryPoint(at=iso(h[0]), p=h[1], id=h[2]) for h in state.history.get(k, [])
                ),
            )
            for k in ids
        )
        return Forecasts(forecasts=items, provenance=s.provenance(at, _newest(state), RISK_RECORDS))

    def scores(self, *, as_of_ms: int | None = None) -> Scores:
        """Mean scores per member (analysts together) and for the aggregate over the resolved
        questions; each question's; each analyst's record and weight."""
        s = self._now(as_of_ms)
        at = s.at(as_of_ms)
        state: RiskState = s.state(RISK, at)
        per_question = tuple(x for k in sorted(state.questions) if (x := score_of(state, k)))
        totals: dict[str, dict[str, list[float]]] = {}
        for qs in per_question:
            for m in qs.members:
                key = "analysts" if m.member.startswith("analyst ") else m.member
                t = totals.setdefault(key, {"brier": [], "log": [], "crps": [], "life": []})
                t["brier"].append(m.brier)
                t["log"].append(m.log_score)
                if m.crps is not None:
                    t["crps"].append(m.crps)
                if m.brier_life is not None:
                    t["life"].append(m.brier_life)
        means = tuple(
            MeanScore(
                member=name,
                brier=float(np.mean(t["brier"])),
                log_score=float(np.mean(t["log"])),
                crps=float(np.mean(t["crps"])) if t["crps"] else None,
                questions=len(t["brier"]),
                crps_questions=len(t["crps"]),
                brier_life=float(np.mean(t["life"])) if t["life"] else None,
            )
            for name, t in totals.items()
        )
        statuses = [v["status"] for v in state.questions.values()]
        analysts = sorted({a for by in state.judgments.values() for a in by})
        return Scores(
            resolved=len(per_question),
            void=statuses.count("void"),
            open=statuses.count("open"),
            means=means,
            questions=per_question,
            analysts=tuple(
                AnalystRecord(
                    by=a,
                    weight=state.analyst_weight(a),
                    briers=tuple(state.analyst_briers(a)),
                    relative=tuple(round(x, 4) for x in state.analyst_relative(a)),
                    calibration=_calibration(state, a),
                )
                for a in analysts
            ),
            provenance=s.provenance(at, _newest(state), RISK_RECORDS),
        )

    # backtests ----------------------------------------------------------------------------
    def backtest(
        self,
        spec: bt.Spec,
        *,
        plot_dir: Path | None = None,
        progress: Progress | None = None,
    ) -> bt.Backtested:
        """Replay the log's conflict events as they were known, forecast ``spec``'s count
        questions at every window, and score the members, the aggregate and the baselines.
        With ``plot_dir``, a reliability diagram is drawn there (reliability.png)."""
        result = bt.run(self._s, spec, progress)
        if plot_dir is None:
            return result
        if self._plot is None:
            raise UserInputError("this room has no plotting adapter: it cannot draw plots")
        path = self._plot(result.curves, plot_dir / "reliability.png", bt.title(result))
        return replace(result, plots=(str(path),))


# building results -------------------------------------------------------------------------
def slug(text: str) -> str:
    """A question's id from its text: its first words, lower case, joined by '-'."""
    words = re.findall(r"[a-z0-9]+", text.lower())
    return "-".join(words)[:40].strip("-") or "question"


def _newest(state: RiskState) -> int | None:
    return max((f["at_ms"] for f in state.forecasts.values()), default=None)


def _question(state: RiskState, qid: str) -> QuestionView:
    entry = state.questions[qid]
    q = state.question(qid)
    done = entry.get("resolution")
    return QuestionView(
        id=q.id,
        text=q.text,
        shape=q.shape,
        rule=q.rule,
        status=entry["status"],
        deadline=iso(q.deadline_ms),
        window_from=iso(q.window_from_ms),
        threshold=q.threshold,
        places=q.places,
        radius=q.radius_text,
        quad_classes=q.quad_classes,
        track=q.track,
        channels=q.channels,
        given=q.given,
        unconditional=q.of,
        reference=q.reference,
        prior=q.prior,
        disagreement=q.disagreement,
        compartment=q.compartment,
        asked=iso(entry.get("added_ms")),
        resolution=_resolution(done) if done else None,
    )


def _resolution(p: Mapping[str, Any]) -> Resolution:
    return Resolution(
        question=p["question"],
        outcome=p["outcome"],
        by=p["by"],
        reason=p["reason"],
        count=p.get("count"),
        evidence=tuple(p.get("evidence") or ()),
    )


def _resolutions(derived: Iterable[Record]) -> tuple[Resolution, ...]:
    return tuple(_resolution(r.payload) for r in derived if r.kind == QUESTION_RESOLVED)


def _latest(derived: Sequence[Record], qid: str) -> Forecast | None:
    made = [r for r in derived if r.kind == FORECAST and r.payload["question"] == qid]
    if not made:
        return None
    r = made[-1]
    return _forecast({**r.payload, "id": r.id, "at_ms": r.valid_from})


def _forecast(f: Mapping[str, Any]) -> Forecast:
    """A forecast record's payload (with its id and time, as the projection keeps it)."""
    agg, sp, split = f["aggregate"], f["spread"], f.get("disagreement")
    return Forecast(
        id=f["id"],
        question=f["question"],
        at=iso(f.get("at_ms")),
        shape=f["shape"],
        members=tuple(
            MemberForecast(
                name=m["name"],
                kind=m["kind"],
                p=m["p"],
                weight=m["weight"],
                drivers=m["drivers"],
                evidence=tuple(m["evidence"]),
                detail=m["detail"],
                dist=CountDistribution(
                    offset=int(m["dist"]["offset"]),
                    mean=m["dist"]["mean"],
                    dispersion=m["dist"]["dispersion"],
                )
                if m.get("dist")
                else None,
            )
            for m in f["members"]
        ),
        aggregate=Aggregate(
            method=agg["method"],
            p=agg["p"],
            median=agg["median"],
            mean=agg["mean"],
            extremised=agg["extremised"],
            extremise=agg["extremise"],
        ),
        spread=Spread(
            low=sp["min"],
            high=sp["max"],
            range=sp["range"],
            lowest=sp["lowest"],
            highest=sp["highest"],
            sd=sp["sd"],
        ),
        disagreement=Disagreement(
            threshold=split["threshold"],
            range=split["range"],
            high=tuple(Side(**x) for x in split["high"]),
            low=tuple(Side(**x) for x in split["low"]),
            summary=split["summary"],
        )
        if split
        else None,
        flags=tuple(f["flags"]),
        triggered_by=tuple(f.get("triggered_by") or ()),
        changes=tuple(
            Change(member=c["member"], was=c["from"], now=c["to"], moved_by=tuple(c["moved_by"]))
            for c in f.get("changes") or ()
        ),
        newest_evidence=iso(f.get("newest_evidence_ms")),
    )


# scores -----------------------------------------------------------------------------------
def score_of(state: RiskState, qid: str) -> QuestionScore | None:
    """Each member's and the aggregate's score on a resolved question, from the last forecast
    before it resolved: Brier and log for the probability; CRPS for a count's distribution."""
    entry = state.questions.get(qid)
    f = state.forecasts.get(qid)
    if entry is None or f is None or entry["status"] not in ("yes", "no"):
        return None
    y = 1 if entry["status"] == "yes" else 0
    names = [m["name"] for m in f["members"]] + ["aggregate"]
    p = np.array([m["p"] for m in f["members"]] + [f["aggregate"]["p"]])
    count = (entry.get("resolution") or {}).get("count")
    crps: dict[str, float] = {}
    if entry["question"]["shape"] == COUNT and count is not None:
        crps = {m["name"]: crps_of(m["dist"], count) for m in f["members"] if m.get("dist")}
        pooled = [m for m in f["members"] if m.get("dist")]
        if pooled:
            crps["aggregate"] = crps_of_pool(pooled, count)
    resolved_ms = int((entry.get("resolution") or {}).get("at_ms") or 0) or None
    life = _life_briers(state.history.get(qid, []), y, resolved_ms)
    return QuestionScore(
        question=qid,
        outcome=entry["status"],
        forecast=f["id"],
        members=tuple(
            MemberScore(
                member=n,
                p=float(pi),
                brier=float(b),
                log_score=float(lg),
                crps=crps.get(n),
                brier_life=life.get(n),
            )
            for n, pi, b, lg in zip(
                names,
                p,
                scoring.brier(p, [y] * len(p)),
                scoring.log_score(p, [y] * len(p)),
                strict=True,
            )
        ),
    )


def _calibration(state: RiskState, name: str) -> tuple[tuple[int, float, float], ...]:
    """An analyst's last judgments on resolved questions, by fifth of probability: how many,
    their mean, and the share that came true (empty fifths left out)."""
    judged = [
        (float(by[name]["p"]), 1.0 if state.status(qid) == "yes" else 0.0)
        for qid, by in state.judgments.items()
        if name in by and state.status(qid) in ("yes", "no")
    ]
    out = []
    for k in range(5):
        inside = [(p, y) for p, y in judged if k / 5 <= p < (k + 1) / 5 or (k == 4 and p == 1)]
        if inside:
            ps, ys = zip(*inside, strict=True)
            out.append((len(inside), round(float(np.mean(ps)), 4), round(float(np.mean(ys)), 4)))
    return tuple(out)


def _life_briers(
    history: Sequence[Sequence[Any]], y: int, resolved_ms: int | None
) -> dict[str, float]:
    """Each forecaster's Brier over a question's life: every forecast of it weighted by how
    long it stood, from the first forecast to the resolution (a forecaster's first appears
    with the forecast that first carries it)."""
    if not history:
        return {}
    end = resolved_ms if resolved_ms is not None else int(history[-1][0]) + 1
    spans = [
        (max(0, min(end, int(nxt[0])) - int(h[0])), h)
        for h, nxt in zip(history, [*history[1:], [end]], strict=True)
    ]
    total: dict[str, list[float]] = {}
    for span, h in spans:
        if span <= 0:
            continue
        members = h[3] if len(h) > 3 else {}
        for name, p in (("aggregate", h[1]), *members.items()):
            t = total.setdefault(name, [0.0, 0.0])
            t[0] += span * (float(p) - y) ** 2
            t[1] += span
    return {name: b / w for name, (b, w) in total.items() if w > 0}


def crps_of(dist: Mapping[str, Any], y: int) -> float:
    """CRPS of a member's count distribution: ``offset`` events already seen plus a negative
    binomial (Poisson when ``dispersion`` is None) for the rest."""
    return float(scoring.crps_pmf(_pmf(dist), [y])[0])


def crps_of_pool(members: Sequence[Mapping[str, Any]], y: int) -> float:
    """CRPS of the aggregate's count distribution: the members' distributions pooled with
    their weights (a linear pool: the aggregate's probability is a median, which has no
    distribution of its own to score)."""
    pmfs = [_pmf(m["dist"]) for m in members]
    w = np.array([float(m.get("weight", 1.0)) for m in members])
    k = max(len(x) for x in pmfs)
    pooled = sum(wi * np.pad(x, (0, k - len(x))) for wi, x in zip(w, pmfs, strict=True))
    return float(scoring.crps_pmf(np.asarray(pooled) / w.sum(), [y])[0])


def _pmf(dist: Mapping[str, Any]) -> npt.NDArray[np.float64]:
    mean, disp, offset = dist["mean"], dist["dispersion"], int(dist["offset"])
    k = scoring.support_for([mean], disp) + 1
    pmf = scoring.nb_pmf([mean], disp, k)[0]
    return np.concatenate([np.zeros(offset), pmf])


def _definition(payload: Mapping[str, Any]) -> str:
    """A question's definition, as the content id a record of it is named by (without the
    note of who edited it)."""
    return content_id({k: v for k, v in payload.items() if k != "edit"})
