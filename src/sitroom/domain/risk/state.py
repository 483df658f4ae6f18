"""The ``risk`` projection: questions with their states, analysts' judgments, the latest
forecast of each question, track statuses (meeting questions resolve on them), the parties of
each track, and the conflict events the members read.

A pure fold like every projection; its snapshot is the JSON of the small part followed by the
events as Arrow IPC, so an as-of rebuild does not re-parse millions of event payloads.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from sitroom.domain.events import EVENT_KINDS
from sitroom.domain.kinds import TRACK, TRACK_STATUS
from sitroom.domain.projection import Sees, keep
from sitroom.domain.records import RecordBatch
from sitroom.domain.risk.arrivals import Arrivals
from sitroom.domain.risk.evidence import ConflictEvents
from sitroom.domain.risk.members import Member, analyst_weight
from sitroom.domain.risk.questions import (
    FORECAST,
    JUDGMENT,
    QUESTION,
    QUESTION_RESOLVED,
    Question,
)

RISK = "risk"
RISK_KINDS = (QUESTION, QUESTION_RESOLVED, JUDGMENT, FORECAST, TRACK, TRACK_STATUS)


@dataclass
class RiskState:
    questions: dict[str, dict[str, Any]] = field(default_factory=dict)  # payload + status
    judgments: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    forecasts: dict[str, dict[str, Any]] = field(default_factory=dict)  # the latest, with id
    # [at, p, id, {member: p}] per forecast: the aggregate's and each member's, over time
    history: dict[str, list[list[Any]]] = field(default_factory=dict)
    track_status: dict[str, str] = field(default_factory=dict)
    parties: dict[str, list[str]] = field(default_factory=dict)
    events: ConflictEvents = field(default_factory=ConflictEvents)
    # Parsed questions, by id: a cache of ``questions`` (not encoded; rebuilt on demand).
    _parsed: dict[str, Question] = field(default_factory=dict, repr=False, compare=False)
    # The conflict events of the batch folded last, by its seq range: the forecaster reads the
    # same batch right after the fold and need not parse its payloads again.
    _fresh: tuple[tuple[int, int, int], Arrivals] | None = field(
        default=None, repr=False, compare=False
    )

    def conflict_events(self, events: RecordBatch) -> Arrivals:
        """The conflict events of a batch of appended event records, read once for the fold
        and the forecaster."""
        seq = events.column("seq")
        if seq.null_count:
            return Arrivals.of(events)
        key = (seq[0].as_py(), seq[len(seq) - 1].as_py(), len(seq))
        if self._fresh is None or self._fresh[0] != key:
            self._fresh = (key, Arrivals.of(events))
        return self._fresh[1]

    def question(self, qid: str) -> Question:
        q = self._parsed.get(qid)
        if q is None:
            q = self._parsed[qid] = Question.from_payload(self.questions[qid]["question"])
        return q

    def open_questions(self) -> Iterator[Question]:
        for qid, q in self.questions.items():
            if q["status"] == "open":
                yield self.question(qid)

    def status(self, qid: str) -> str | None:
        q = self.questions.get(qid)
        return q["status"] if q else None

    def analyst_briers(self, name: str) -> list[float]:
        """The Brier score of each of an analyst's last judgments on a resolved question."""
        out = []
        for qid, by in self.judgments.items():
            outcome = self.status(qid)
            if name in by and outcome in ("yes", "no"):
                # (p - y)²: the Brier score of one forecast, without loading scoringrules
                # (half a second) into every process that forecasts.
                out.append((float(by[name]["p"]) - (1.0 if outcome == "yes" else 0.0)) ** 2)
        return out

    def analyst_relative(self, name: str) -> list[float]:
        """An analyst's Brier on each resolved question they judged, against the models' on
        the same question (their mean Brier in its last forecast): 1 is as good as the models,
        below 1 better. Standardised so that hard questions do not count against whoever
        forecast them, as raw Brier across questions did."""
        out = []
        for qid, by in self.judgments.items():
            outcome = self.status(qid)
            f = self.forecasts.get(qid)
            if name not in by or outcome not in ("yes", "no") or f is None:
                continue
            y = 1.0 if outcome == "yes" else 0.0
            models = [m["p"] for m in f["members"] if not m["name"].startswith("analyst ")]
            yardstick = float(np.mean([(p - y) ** 2 for p in models])) if models else 0.25
            out.append(max((float(by[name]["p"]) - y) ** 2, 0.001) / max(yardstick, 0.01))
        return out

    def analyst_weight(self, name: str) -> float:
        return analyst_weight(self.analyst_relative(name))

    def newest_ms(self, members: Sequence[Member]) -> int | None:
        """When the newest piece of evidence behind these members happened."""
        times = [
            t
            for x in members
            for t in (
                x.detail.get("judged_ms"),
                *(c.get("last_ms") for c in x.detail.get("conflicts", ())),
            )
            if t is not None
        ]
        return max(times, default=None)


class RiskProjection:
    name = RISK
    version = 4  # 3: the events' row count leads their snapshot; 4: members in the history
    kinds: tuple[str, ...] | None = (*RISK_KINDS, *EVENT_KINDS)

    def initial(self) -> RiskState:
        return RiskState()

    def held(self, state: RiskState) -> int:
        """Rows a snapshot writes: every conflict event indexed (the rest is small)."""
        return len(state.events)

    def apply(self, state: RiskState, batch: RecordBatch) -> RiskState:
        events = batch.of_kinds(list(EVENT_KINDS))
        if len(events):
            state.events.add(state.conflict_events(events))
        if len(events) == len(batch):
            return state
        for r in batch.of_kinds(list(RISK_KINDS)).rows():
            p = r.payload
            if r.kind == QUESTION:
                was = state.questions.get(p["id"], {})
                entry = state.questions[p["id"]] = {
                    "question": p,
                    "status": was.get("status", "open"),
                    "record": r.id,
                    "added_ms": was.get("added_ms", r.valid_from),
                }
                edits = list(was.get("edits", ()))
                if was and p.get("edit"):
                    # Judgments made on the old definition answered another question.
                    aside = state.judgments.pop(p["id"], {})
                    edits.append(
                        {
                            **p["edit"],
                            "record": r.id,
                            "at_ms": r.valid_from,
                            "set_aside": sorted(aside),
                        }
                    )
                if edits:
                    entry["edits"] = edits
                state._parsed.pop(p["id"], None)
            elif r.kind == QUESTION_RESOLVED:
                q = state.questions.get(p["question"])
                if q is not None and q["status"] == "open":
                    q.update(
                        status=p["outcome"],
                        resolution={**p, "record": r.id, "at_ms": r.valid_from},
                    )
            elif r.kind == JUDGMENT:
                if state.status(p["question"]) == "open":
                    state.judgments.setdefault(p["question"], {})[p["by"]] = {
                        **p,
                        "id": r.id,
                        "at_ms": r.valid_from,
                    }
            elif r.kind == FORECAST:
                state.forecasts[p["question"]] = {**p, "id": r.id, "at_ms": r.valid_from}
                state.history.setdefault(p["question"], []).append(
                    [
                        r.valid_from,
                        p["aggregate"]["p"],
                        r.id,
                        {m["name"]: m["p"] for m in p["members"]},
                    ]
                )
            elif r.kind == TRACK:
                state.parties[p["id"]] = list(p.get("parties") or [])
                state.track_status.setdefault(p["id"], p.get("status", "planned"))
            elif r.kind == TRACK_STATUS:
                state.track_status[p["track"]] = p["status"]
        return state

    def restrict(self, state: RiskState, sees: Sees) -> RiskState:
        """A question is in its compartment, with its judgments and forecasts; a track's
        status and parties in the track's. Conflict events are general (shared, not copied)."""
        shown = {
            qid
            for qid, q in state.questions.items()
            if sees(q["question"].get("compartment") or "")
        }

        def mine(_: str, __: Any) -> bool:
            return _ in shown

        return RiskState(
            questions=keep(state.questions, mine),
            judgments=keep(state.judgments, mine),
            forecasts=keep(state.forecasts, mine),
            history=keep(state.history, mine),
            track_status=keep(state.track_status, lambda tid, _: sees(tid)),
            parties=keep(state.parties, lambda tid, _: sees(tid)),
            events=state.events,
        )

    def encode(self, state: RiskState) -> bytes:
        small = orjson.dumps(
            {
                "questions": state.questions,
                "judgments": state.judgments,
                "forecasts": state.forecasts,
                "history": state.history,
                "track_status": state.track_status,
                "parties": state.parties,
            }
        )
        return len(small).to_bytes(8, "big") + small + state.events.encode()

    def decode(self, data: bytes) -> RiskState:
        n = int.from_bytes(data[:8], "big")
        small = orjson.loads(data[8 : 8 + n])
        return RiskState(**small, events=ConflictEvents.decode(data[8 + n :]))
