"""The risk detector: a forecast whose members split by more than the threshold, and linked
questions whose latest forecasts are incoherent (a conditional against its condition and the
unconditional question; count questions on one region whose thresholds and probabilities
disagree). It reads the forecasts the reactor (``ledger.py``) appended in the same call.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sitroom.domain.projection import AlertDraft
from sitroom.domain.records import RecordBatch
from sitroom.domain.risk.ensemble import incoherence, monotone
from sitroom.domain.risk.questions import COUNT, FORECAST, QUESTION, Question
from sitroom.domain.risk.state import RISK, RiskState


class RiskDetector:
    """A forecast whose members split by more than the threshold (once per episode: raised
    when a question starts disagreeing, again only after it agreed in between), and linked
    questions whose latest forecasts are incoherent, and a question edited (its forecasters
    judged another question)."""

    name = RISK
    reads: tuple[str, ...] = (RISK,)

    def on_records(
        self, views: Mapping[str, Any], batch: RecordBatch, now_ms: int
    ) -> list[AlertDraft]:
        state: RiskState = views[RISK]
        drafts = [d for r in batch.of_kinds([QUESTION]).rows() if (d := _edited(state, r.id))]
        forecasts = batch.of_kinds([FORECAST])
        if not len(forecasts):
            return drafts
        links = _Links(state)  # the state does not change while the batch is checked
        for r in forecasts.rows():
            p = r.payload
            q = state.questions.get(p["question"], {}).get("question", {})
            split = p.get("disagreement")
            if split and not p.get("was_disagreeing"):
                drafts.append(
                    AlertDraft(
                        detector=RISK,
                        key=f"disagreement:{r.id}",
                        title=(
                            f"Members disagree on {p['question']} by "
                            f"{100 * split['range']:.0f} points: {split['summary']}"
                        ),
                        severity="warning",
                        evidence=[r.id, *(e for m in p["members"] for e in m["evidence"][:5])],
                        triggered_by=[r.id],
                        detail={"question": p["question"], "text": q.get("text"), **split},
                        compartment=r.compartment,
                    )
                )
            drafts += links.check(p["question"], r.id)
        return drafts

    def on_tick(self, views: Mapping[str, Any], now_ms: int) -> list[AlertDraft]:
        return []

    def next_due(self, views: Mapping[str, Any], now_ms: int) -> int | None:
        return None


def _edited(state: RiskState, record: str) -> AlertDraft | None:
    """The alert for the question edit ``record`` names (None: a question asked)."""
    qid = record.split(":")[1]
    edit = next(
        (e for e in state.questions.get(qid, {}).get("edits", ()) if e["record"] == record), None
    )
    if edit is None:
        return None
    aside = edit["set_aside"]
    told = f"; judgments by {', '.join(aside)} set aside: judge again" if aside else ""
    return AlertDraft(
        detector=RISK,
        key=f"edited:{record}",
        title=f"Question {qid} edited by {edit['by']} ({', '.join(edit['changed'])}){told}",
        severity="warning" if aside else "info",
        evidence=[record],
        triggered_by=[record],
        detail={"question": qid, **{k: edit[k] for k in ("by", "reason", "changed", "set_aside")}},
        compartment=state.questions[qid]["question"].get("compartment") or "",
    )


def _pct(p: float) -> str:
    return f"{100 * p:.0f}%"


class _Links:
    """Linked questions and their latest forecasts, gathered once per batch of forecasts: a
    dozen forecasts each walked every open question twice."""

    def __init__(self, state: RiskState) -> None:
        self.state = state
        self.latest = {
            k: v["aggregate"]["p"] for k, v in state.forecasts.items() if state.status(k) == "open"
        }
        opened = list(state.open_questions())
        self.conditional = [q for q in opened if q.given and q.of]
        # Count questions on the same region and window, in open order, by what they share.
        self.counts: dict[tuple[Any, ...], list[Question]] = {}
        for o in opened:
            if o.shape == COUNT and o.id in self.latest:
                self.counts.setdefault(_region_key(o), []).append(o)

    def check(self, qid: str, record: str) -> list[AlertDraft]:
        """Check the question just forecast against the questions linked to it."""
        state, latest = self.state, self.latest
        drafts = []
        for q in self.conditional:
            assert q.given is not None and q.of is not None
            if qid not in (q.id, q.given, q.of):
                continue
            if not {q.id, q.given, q.of} <= set(latest):
                continue
            bad = incoherence(latest[q.id], latest[q.given], latest[q.of])
            if bad:
                drafts.append(
                    AlertDraft(
                        detector=RISK,
                        key=f"incoherent:{q.id}:{record}",
                        title=(
                            f"{q.of} at {_pct(bad['p'])} is incoherent with {q.id} "
                            f"({_pct(latest[q.id])} given {q.given} at {_pct(latest[q.given])}): "
                            f"it must lie within {_pct(bad['bounds'][0])}–{_pct(bad['bounds'][1])}"
                        ),
                        severity="warning",
                        evidence=[state.forecasts[x]["id"] for x in (q.id, q.given, q.of)],
                        triggered_by=[record],
                        detail={"question": q.id, "given": q.given, "of": q.of, **bad},
                        compartment=q.compartment,
                    )
                )
        if qid in latest and state.status(qid) == "open":
            me = state.question(qid)
            if me.shape == COUNT:
                same = {
                    o.id: (o.threshold or 0, latest[o.id])
                    for o in self.counts.get(_region_key(me), ())
                }
                for a, b in monotone(same):
                    if qid not in (a, b):
                        continue
                    drafts.append(
                        AlertDraft(
                            detector=RISK,
                            key=f"incoherent:{a}:{b}:{record}",
                            title=(
                                f"{b} (at least {same[b][0]}) at {100 * same[b][1]:.0f}% is "
                                f"above {a} (at least {same[a][0]}) at {100 * same[a][1]:.0f}%"
                            ),
                            severity="warning",
                            evidence=[state.forecasts[a]["id"], state.forecasts[b]["id"]],
                            triggered_by=[record],
                            detail={"lower": a, "higher": b},
                            compartment=me.compartment,
                        )
                    )
        return drafts


def _region_key(q: Question) -> tuple[Any, ...]:
    return (q.places, q.radius_m, q.window_from_ms, q.deadline_ms, q.quad_classes)
