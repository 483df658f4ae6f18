"""Risk use cases: ask a question, judge it, resolve it, read its forecasts, score them.

Each command is a record through the engine's one append path; the forecaster (a reactor on
the spine) answers it in the same append, so ``add_question`` returns the first forecast and
``judge`` the forecast the judgment moved. Reads are projections as of a time, with provenance.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from sitroom.application.engine import Engine
from sitroom.application.queries import _provenance, resolve_as_of
from sitroom.domain.provenance import Answer
from sitroom.domain.records import Record, content_id
from sitroom.domain.risk import scoring
from sitroom.domain.risk.ledger import resolution
from sitroom.domain.risk.questions import (
    COUNT,
    FORECAST,
    JUDGMENT,
    OUTCOMES,
    QUESTION,
    QUESTION_RESOLVED,
    Question,
    check_probability,
)
from sitroom.domain.risk.state import RISK, RiskState
from sitroom.domain.timeutil import iso
from sitroom.errors import UserInputError

RISK_RECORDS: tuple[str, ...] = (QUESTION, QUESTION_RESOLVED, JUDGMENT, FORECAST)


def _state(engine: Engine, seq: int | None = None) -> RiskState:
    state: RiskState = engine.view_many([RISK], seq)[RISK]
    return state


def _open(state: RiskState, qid: str) -> Question:
    status = state.status(qid)
    if status is None:
        known = ", ".join(sorted(state.questions)) or "none yet"
        raise UserInputError(f"no question {qid!r} (questions: {known})")
    if status != "open":
        raise UserInputError(f"question {qid} is already resolved {status}")
    return state.question(qid)


def add_question(engine: Engine, q: Question) -> dict[str, Any]:
    """Record a question (a changed definition is a new version beside the old) and return its
    first forecast."""
    state = _state(engine)
    for link in (q.given, q.of):
        if link and link not in state.questions:
            raise UserInputError(f"question {q.id} links to {link!r}, which does not exist")
    payload = q.as_payload()
    now = engine.clock.now_ms()
    outcome = engine.append(
        [
            QUESTION.record(
                id=f"question:{q.id}:{content_id(payload)}",
                source="analyst",
                valid_from=now,
                compartment=q.compartment,
                payload=payload,
            )
        ]
    )
    return _made(outcome.derived, outcome.alerts, q.id, duplicate=not outcome.appended)


def judge(engine: Engine, qid: str, p: float, *, analyst: str, rationale: str) -> dict[str, Any]:
    q = _open(_state(engine), qid)
    check_probability(p)
    if not analyst.strip():
        raise UserInputError("a judgment needs the analyst's name (--analyst)")
    now = engine.clock.now_ms()
    outcome = engine.append(
        [
            JUDGMENT.record(
                id=f"judgment:{qid}:{analyst}:{now}",
                source=f"analyst:{analyst}",
                valid_from=now,
                compartment=q.compartment,
                payload={"question": qid, "by": analyst, "p": p, "rationale": rationale},
            )
        ]
    )
    return _made(outcome.derived, outcome.alerts, qid)


def resolve(engine: Engine, qid: str, outcome: str, *, by: str, reason: str = "") -> dict[str, Any]:
    if outcome not in OUTCOMES:
        raise UserInputError(f"a question resolves yes, no or void, not {outcome!r}")
    q = _open(_state(engine), qid)
    now = engine.clock.now_ms()
    done = engine.append([resolution(q, outcome, now, by, reason or f"resolved by {by}")])
    state = _state(engine)
    return {
        "question": qid,
        "outcome": outcome,
        "voided": [r.payload["question"] for r in done.derived if r.kind == QUESTION_RESOLVED],
        "reforecast": [r.payload["question"] for r in done.derived if r.kind == FORECAST],
        "score": score_of(state, qid),
    }


def _made(
    derived: list[Record], alerts: list[Record], qid: str, *, duplicate: bool = False
) -> dict[str, Any]:
    forecasts = [r for r in derived if r.kind == FORECAST and r.payload["question"] == qid]
    return {
        "question": qid,
        "unchanged": duplicate,
        "forecast": _with_id(forecasts[-1]) if forecasts else None,
        "resolved": [r.payload for r in derived if r.kind == QUESTION_RESOLVED],
        "alerts": [a.payload["title"] for a in alerts],
    }


def _with_id(r: Record) -> dict[str, Any]:
    return {**r.payload, "id": r.id, "at": iso(r.valid_from)}


# -- reads ----------------------------------------------------------------------------------


def questions(
    engine: Engine, *, as_of_ms: int | None = None, status: str | None = None
) -> Answer[list[dict[str, Any]]]:
    at = resolve_as_of(engine, as_of_ms)
    state = _state(engine, at.seq)
    rows = []
    for qid, entry in sorted(state.questions.items()):
        if status and entry["status"] != status:
            continue
        f = state.forecasts.get(qid)
        q = entry["question"]
        rows.append(
            {
                "id": qid,
                "text": q["text"],
                "shape": q["shape"],
                "rule": q["rule"],
                "deadline": iso(q["deadline_ms"]),
                "track": q.get("track"),
                "status": entry["status"],
                "p": f["aggregate"]["p"] if f else None,
                "range": [f["spread"]["min"], f["spread"]["max"]] if f else None,
                "flags": f["flags"] if f else [],
                "forecasts": len(state.history.get(qid, [])),
                "resolution": entry.get("resolution"),
            }
        )
    return Answer(rows, _provenance(engine, at, None, RISK_RECORDS))


def forecasts(
    engine: Engine, qid: str | None = None, *, as_of_ms: int | None = None
) -> Answer[list[dict[str, Any]]]:
    """The latest forecast of one question, or of every open question, as of a time."""
    at = resolve_as_of(engine, as_of_ms)
    state = _state(engine, at.seq)
    if qid is not None and qid not in state.questions:
        known = ", ".join(sorted(state.questions)) or "none yet"
        raise UserInputError(f"no question {qid!r} as of then (questions: {known})")
    ids = [qid] if qid else [k for k, v in sorted(state.questions.items()) if v["status"] == "open"]
    out = []
    for k in ids:
        entry = state.questions[k]
        f = state.forecasts.get(k)
        out.append(
            {
                "question": entry["question"],
                "status": entry["status"],
                "forecast": {**f, "at": iso(f["at_ms"])} if f else None,
                "history": [
                    {"at": iso(t), "p": p, "id": i} for t, p, i in state.history.get(k, [])
                ],
            }
        )
    newest = max((f["at_ms"] for f in state.forecasts.values()), default=None)
    return Answer(out, _provenance(engine, at, newest, RISK_RECORDS))


# -- scores ---------------------------------------------------------------------------------


def score_of(state: RiskState, qid: str) -> dict[str, Any] | None:
    """Each member's and the aggregate's score on a resolved question, from the last forecast
    before it resolved: Brier and log for the probability; CRPS for a count's distribution."""
    entry = state.questions.get(qid)
    f = state.forecasts.get(qid)
    if entry is None or f is None or entry["status"] not in ("yes", "no"):
        return None
    y = 1 if entry["status"] == "yes" else 0
    names = [m["name"] for m in f["members"]] + ["aggregate"]
    p = np.array([m["p"] for m in f["members"]] + [f["aggregate"]["p"]])
    out: dict[str, Any] = {
        n: {"p": float(pi), "brier": float(b), "log": float(lg)}
        for n, pi, b, lg in zip(
            names,
            p,
            scoring.brier(p, [y] * len(p)),
            scoring.log_score(p, [y] * len(p)),
            strict=True,
        )
    }
    count = (entry.get("resolution") or {}).get("count")
    if entry["question"]["shape"] == COUNT and count is not None:
        for m in f["members"]:
            if m.get("dist"):
                out[m["name"]]["crps"] = crps_of(m["dist"], count)
    return {"outcome": entry["status"], "forecast": f["id"], "members": out}


def crps_of(dist: Mapping[str, Any], y: int) -> float:
    """CRPS of a member's count distribution: ``offset`` events already seen plus a negative
    binomial (Poisson when ``dispersion`` is None) for the rest."""
    mean, disp, offset = dist["mean"], dist["dispersion"], int(dist["offset"])
    k = scoring.support_for([mean], disp) + 1
    pmf = scoring.nb_pmf([mean], disp, k)[0]
    shifted = np.concatenate([np.zeros(offset), pmf])
    return float(scoring.crps_pmf(shifted, [y])[0])


def scores(engine: Engine, *, as_of_ms: int | None = None) -> Answer[dict[str, Any]]:
    """Mean scores per member kind and for the aggregate over the resolved questions."""
    at = resolve_as_of(engine, as_of_ms)
    state = _state(engine, at.seq)
    per_question = {k: s for k in sorted(state.questions) if (s := score_of(state, k))}
    totals: dict[str, dict[str, list[float]]] = {}
    for s in per_question.values():
        for name, v in s["members"].items():
            key = "analysts" if name.startswith("analyst ") else name
            for metric in ("brier", "log", "crps"):
                if metric in v:
                    totals.setdefault(key, {}).setdefault(metric, []).append(v[metric])
    summary = {
        name: {m: {"mean": float(np.mean(v)), "n": len(v)} for m, v in metrics.items()}
        for name, metrics in totals.items()
    }
    analysts = sorted({a for by in state.judgments.values() for a in by})
    return Answer(
        {
            "resolved": len(per_question),
            "void": sum(1 for v in state.questions.values() if v["status"] == "void"),
            "open": sum(1 for v in state.questions.values() if v["status"] == "open"),
            "summary": summary,
            "questions": per_question,
            "analysts": {
                a: {"briers": state.analyst_briers(a), "weight": state.analyst_weight(a)}
                for a in analysts
            },
        },
        _provenance(engine, at, None, RISK_RECORDS),
    )
