"""Risk as people read it: every member beside the aggregate, never one number without its
range, and a disagreement named on both sides."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from sitroom.cli.render import plural, provenance_line, short

if TYPE_CHECKING:
    from sitroom.application import risk as rk
    from sitroom.application.backtest import Backtested
    from sitroom.application.ingest import AlertRaised


def pct(p: float | None) -> str:
    return "—" if p is None else f"{100 * p:.0f}%"


def _skill(v: float | None) -> str:
    return "—" if v is None else f"{100 * v:+.1f}%"


def _num(v: float | None, digits: int) -> str:
    return "—" if v is None else f"{v:.{digits}f}"


# questions --------------------------------------------------------------------------------
def questions(console: Console, q: rk.Questions) -> None:
    console.print(f"[bold]{plural(len(q.questions), 'question')}[/bold]")
    provenance_line(console, q.provenance)
    if not q.questions:
        console.print("Ask one with `sitroom questions add`.", style="dim")
        return
    t = Table(box=box.SIMPLE_HEAD)
    for col in ("id", "question", "status", "deadline", "forecast", "range", "flags"):
        t.add_column(col, overflow="fold")
    for x in q.questions:
        t.add_row(
            x.id,
            x.text,
            x.status,
            short(x.deadline),
            pct(x.p),
            f"{pct(x.range[0])}–{pct(x.range[1])}" if x.range else "—",
            ", ".join(x.flags),
        )
    console.print(t)


def question_lines(console: Console, q: rk.QuestionView) -> None:
    """What a question asks: its text, shape, deadline or window, places and links."""
    console.print(f"[bold]{q.id}[/bold] ({q.status})", highlight=False)
    console.print(q.text, markup=False, highlight=False)
    if q.shape == "count":
        what = (
            f"count: at least {plural(q.threshold or 0, 'event')} from {short(q.window_from)} "
            f"to {short(q.deadline)}"
        )
    else:
        what = f"binary: by {short(q.deadline)}"
    console.print(f"  {what}; resolved by {q.rule}", highlight=False)
    if q.places:
        where = ", ".join(p.name for p in q.places)
        console.print(f"  places: {where} (within {q.radius})", markup=False, highlight=False)
    links = [
        *([f"track {q.track}"] if q.track else []),
        *([f"channels {', '.join(q.channels)}"] if q.channels else []),
        *([f"given {q.given}"] if q.given else []),
        *([f"unconditional {q.unconditional}"] if q.unconditional else []),
    ]
    if q.reference:
        ref = q.reference
        links.append(f"reference class: {ref.name} ({ref.hits} of {ref.of})")
    if links:
        console.print("  " + "; ".join(links), markup=False, highlight=False)
    if q.resolution:
        r = q.resolution
        console.print(f"  resolved {r.outcome} by {r.by}: {r.reason}", markup=False)


def forecast_block(console: Console, f: rk.Forecast) -> None:
    agg, spread = f.aggregate, f.spread
    console.print(
        f"{agg.method} {pct(agg.p)}, range {pct(spread.low)}–{pct(spread.high)} "
        f"(mean {pct(agg.mean)}, extremised {pct(agg.extremised)}) at {short(f.at)}",
        highlight=False,
    )
    t = Table(box=box.SIMPLE_HEAD)
    for col in ("member", "p", "weight", "what drives it"):
        t.add_column(col, overflow="fold")
    for m in f.members:
        t.add_row(m.name, pct(m.p), f"{m.weight:.2g}", m.drivers)
    console.print(t)
    if f.disagreement:
        console.print("[bold yellow]disagreement[/bold yellow]: ", end="")
        console.print(f.disagreement.summary, markup=False, highlight=False)
    for c in f.changes:
        if c.moved_by:
            console.print(
                f"{c.member} moved {pct(c.was)} → {pct(c.now)} by {', '.join(c.moved_by[:5])}",
                markup=False,
                highlight=False,
            )
    other = [x for x in f.flags if x != "disagreement"]
    if other:
        console.print(f"flags: {', '.join(other)}", style="yellow")


def forecasts(console: Console, f: rk.Forecasts) -> None:
    provenance_line(console, f.provenance)
    if not f.forecasts:
        console.print("No open questions. Ask one with `sitroom questions add`.", style="dim")
    for item in f.forecasts:
        console.print()
        question_lines(console, item.question)
        if item.forecast is None:
            console.print("no forecast yet", style="dim")
            continue
        forecast_block(console, item.forecast)
        if len(item.history) > 1:
            trail = " → ".join(pct(h.p) for h in item.history[-8:])
            console.print(f"history: {trail}", style="dim", highlight=False)


# what a write did -------------------------------------------------------------------------
def _after(
    console: Console, resolved: tuple[rk.Resolution, ...], alerts: tuple[AlertRaised, ...]
) -> None:
    for r in resolved:
        console.print(f"{r.question} resolved {r.outcome}: {r.reason}", markup=False)
    for a in alerts:
        console.print("[bold yellow]alert[/bold yellow]: ", end="")
        console.print(a.title, markup=False, highlight=False)


def asked(console: Console, a: rk.Asked) -> None:
    head = "Question added" if a.new else "Question already recorded as it is; nothing changed"
    console.print(head, style="bold" if a.new else "dim")
    question_lines(console, a.question)
    if a.forecast is not None:
        forecast_block(console, a.forecast)
    others = tuple(r for r in a.resolved if r.question != a.question.id)  # its own: shown above
    _after(console, others, a.alerts)


def judged(console: Console, j: rk.Judged) -> None:
    console.print(f"{j.by} judges {j.question} at {pct(j.p)}", markup=False, highlight=False)
    if j.forecast is not None:
        forecast_block(console, j.forecast)
    _after(console, j.resolved, j.alerts)


def settled(console: Console, s: rk.Settled) -> None:
    console.print(f"{s.question} resolved {s.outcome} by {s.by}", markup=False, highlight=False)
    for v in s.voided:
        console.print(f"{v} is void: its condition resolved {s.outcome}", markup=False)
    if s.reforecast:
        console.print(f"re-forecast: {', '.join(s.reforecast)}", markup=False, highlight=False)
    if s.score:
        agg = s.score.member("aggregate")
        console.print(f"aggregate Brier {agg.brier:.3f}, log {agg.log_score:.3f}", highlight=False)
    _after(console, (), s.alerts)


# scores -----------------------------------------------------------------------------------
def scores(console: Console, s: rk.Scores) -> None:
    console.print(
        f"[bold]{plural(s.resolved, 'resolved question')} scored[/bold] "
        f"({s.void} void, {s.open} open: never scored)"
    )
    provenance_line(console, s.provenance)
    if s.means:
        t = Table(title="Mean scores (lower is better)", title_justify="left", box=box.SIMPLE_HEAD)
        for col in ("member", "Brier", "over its life", "log", "CRPS", "questions"):
            t.add_column(col)
        for m in s.means:
            t.add_row(
                m.member,
                f"{m.brier:.3f}",
                _num(m.brier_life, 3),
                f"{m.log_score:.3f}",
                _num(m.crps, 2),
                str(m.questions),
            )
        console.print(t)
    for a in s.analysts:
        record = plural(len(a.briers), "resolved question")
        against = (
            f", Brier {sum(a.relative) / len(a.relative):.2f}x the models'" if a.relative else ""
        )
        fifths = "; ".join(f"{n} at {p:.0%}: {o:.0%} happened" for n, p, o in a.calibration)
        console.print(
            f"analyst {a.by}: weight {a.weight:.2f} from {record}{against}"
            + (f" (calibration: {fifths})" if fifths else ""),
            markup=False,
            highlight=False,
        )


def backtested(console: Console, b: Backtested) -> None:
    c = b.covered
    console.print(
        f"[bold]Backtest[/bold]: {plural(b.forecasts, 'forecast')} at "
        f"{plural(b.forecast_times, 'time')}, {plural(len(c.places), 'place')} × thresholds "
        f"{', '.join(str(x) for x in c.thresholds)}, {c.window_days:g}-day windows within "
        f"{c.radius}, {(c.since or '')[:10]} → {(c.until or '')[:10]}; known = {c.known}",
        highlight=False,
    )
    console.print(
        f"{plural(b.events, 'conflict event')}; {b.seconds:.1f}s "
        f"({b.forecasts_per_second or 0:,} forecasts/s); evidence known too late: {b.leaks}; "
        f"base rate of yes {pct(b.base_rate)}",
        highlight=False,
    )
    for w in b.warnings:
        console.print(f"[yellow]warning[/yellow]: {escape(w)}", highlight=False)
    t = Table(
        title="Scores (lower is better; skill against climatology)",
        title_justify="left",
        box=box.SIMPLE_HEAD,
    )
    for col in ("forecaster", "Brier", "skill", "log", "CRPS", "skill", "sharpness"):
        t.add_column(col)
    for s in b.scores:
        t.add_row(
            s.forecaster,
            _num(s.brier, 4),
            _skill(s.brier_skill),
            _num(s.log_score, 4),
            _num(s.crps, 3),
            _skill(s.crps_skill),
            _num(s.sharpness.sharpness if s.sharpness else None, 2),
        )
    console.print(t)
    cal = Table(
        title="Counts: PIT histogram (10 bins; flat is calibrated, a U overconfident) and how "
        "often the count fell in the central 50% / 90% intervals",
        title_justify="left",
        box=box.SIMPLE_HEAD,
    )
    for col in ("forecaster", "PIT", "in 50%", "in 90%"):
        cal.add_column(col)
    for s in b.scores:
        if s.pit is not None:
            bars = "".join(" ▁▂▃▄▅▆▇█"[min(8, round(x * 40))] for x in s.pit)
            cal.add_row(s.forecaster, bars, _num(s.coverage_50, 2), _num(s.coverage_90, 2))
    console.print(cal)
    for path in b.plots:
        console.print(f"wrote {path}", markup=False, highlight=False)
