"""The after-action report as one self-contained HTML page: its style inline (printable: the
``@media print`` rules drop the contents list and keep tables and plots whole on a page), its
plots inline SVG, no script and nothing fetched — it reads the same offline, from a USB stick,
years later.

Everything a person or a feed wrote (titles, names, reasons, ids) is escaped: a question titled
``<script>`` is that text on the page.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape

from sitroom.adapters.aar_text import (
    REPRODUCE,
    SECTIONS,
    TIMELINE_NOTE,
    TITLE,
    command_line,
    gap,
    header_rows,
    more,
    pct,
    plot,
    span,
    when,
)
from sitroom.application.report import AfterAction, AlertItem, Entry, QuestionHistory

STYLE = """
:root { color-scheme: light; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #111;
       margin: 0 auto; max-width: 72rem; padding: 1.5rem; }
h1 { font-size: 1.7rem; margin: 0 0 .5rem; }
h2 { font-size: 1.35rem; border-bottom: 2px solid #333; padding-bottom: .2rem; margin-top: 2.2rem; }
h3 { font-size: 1.1rem; margin: 1.4rem 0 .4rem; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: .15rem 1rem; }
dl.facts dt { font-weight: 600; }
dl.facts dd { margin: 0; }
table { border-collapse: collapse; width: 100%; margin: .4rem 0 .8rem; font-size: .9rem; }
th, td { border: 1px solid #bbb; padding: .25rem .45rem; text-align: left; vertical-align: top; }
th { background: #eee; }
td.id, code { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: .82rem;
              overflow-wrap: anywhere; }
.more, .note { color: #444; font-style: italic; }
.sev-critical { border-left: 6px solid #b00020; }
.sev-warning { border-left: 6px solid #b36b00; }
.sev-info { border-left: 6px solid #3558a8; }
article.alert { padding: .2rem .8rem; margin: 1rem 0; background: #fafafa; }
figure { margin: .5rem 0; }
figure svg { max-width: 100%; height: auto; }
pre { background: #f3f3f3; padding: .6rem; overflow-x: auto; white-space: pre-wrap; }
nav ol { columns: 2; }
@media print {
  body { max-width: none; padding: 0; font-size: 11pt; }
  nav { display: none; }
  h2 { break-after: avoid; }
  table, figure, article.alert { break-inside: avoid; }
  a { color: inherit; text-decoration: none; }
}
"""


def e(value: object) -> str:
    return escape(str(value), quote=True)


def _table(head: Sequence[str], rows: Iterable[Sequence[str]], *, raw: bool = False) -> str:
    """A table; cells are escaped here unless ``raw`` (already markup)."""
    cell = (lambda c: c) if raw else e
    body = "".join("<tr>" + "".join(f"<td>{cell(c)}</td>" for c in r) + "</tr>" for r in rows)
    heads = "".join(f"<th>{e(h)}</th>" for h in head)
    return f"<table><thead><tr>{heads}</tr></thead><tbody>{body}</tbody></table>"


def _more(total: int, shown: int, noun: str) -> str:
    said = more(total, shown, noun)
    return "" if said is None else f'<p class="more">{e(said)}</p>'


def _id(text: str) -> str:
    return f'<span class="id">{e(text)}</span>'


def _entries(entries: Sequence[Entry]) -> str:
    return _table(
        ("Recorded", "Valid", "Known after", "What", "Record"),
        (
            (
                e(when(x.recorded_ms)),
                e(span(x.valid_from, x.valid_to)),
                e(gap(x.known_after_ms)),
                e(x.words),
                _id(x.id),
            )
            for x in entries
        ),
        raw=True,
    )


def _timeline(r: AfterAction) -> str:
    parts = [f'<p class="note">{e(TIMELINE_NOTE)}</p>']
    for g in r.timeline:
        if not g.total:
            continue
        parts.append(f'<section id="timeline-{e(g.name)}"><h3>{e(g.title)} ({g.total:,})</h3>')
        parts.append(_entries(g.entries) + _more(g.total, len(g.entries), "record"))
        parts.append("</section>")
    if not any(g.total for g in r.timeline):
        parts.append('<p class="note">Nothing was recorded in the window.</p>')
    if r.bookkeeping:
        counted = ", ".join(f"{k} {n:,}" for k, n in r.bookkeeping.items())
        parts.append(f'<p class="note">The room\'s own bookkeeping, counted: {e(counted)}.</p>')
    return "".join(parts)


def _alert(n: int, a: AlertItem) -> str:
    facts = [
        ("Detector", a.detector),
        ("Key", a.key),
        ("Recorded", when(a.entry.recorded_ms)),
        ("Fired after its newest evidence", gap(a.after_newest_ms)),
        ("... and after its oldest", gap(a.after_oldest_ms)),
        ("Detection took", "—" if a.detect_ms is None else f"{a.detect_ms:g} ms"),
    ]
    dl = "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in facts)
    evidence = _table(
        ("Evidence", "Recorded", "Valid from", "What it says"),
        (
            (
                _id(x.id),
                e(when(x.recorded_ms)),
                e(when(x.valid_from)),
                e(x.words),
            )
            for x in a.evidence
        ),
        raw=True,
    )
    if not a.evidence_total:
        evidence = '<p class="note">It names no evidence.</p>'
    return (
        f'<article class="alert sev-{e(a.severity)}" id="alert-{n}">'
        f'<h3>[{e(a.severity)}] {e(a.title)}</h3><dl class="facts">{dl}</dl>{evidence}'
        f"{_more(a.evidence_total, len(a.evidence), 'evidence record')}</article>"
    )


def _alerts(r: AfterAction) -> str:
    parts = [_alert(n, a) for n, a in enumerate(r.alerts, 1)]
    if not r.alerts:
        parts.append('<p class="note">No alert was raised in the window.</p>')
    parts.append(_more(r.alerts_total, len(r.alerts), "alert"))
    if r.alerts_withheld:
        parts.append(
            f'<p class="note">{r.alerts_withheld:,} more not shown: they name tracks or records '
            "outside your clearance.</p>"
        )
    return "".join(parts)


def _question(n: int, q: QuestionHistory) -> str:
    head = f'<section id="question-{n}"><h3>{e(q.id)}: {e(q.text)}</h3>'
    track = f"Track: {e(q.track)}. " if q.track else ""
    members = ", ".join(e(m) for m in q.members) or "none"
    lines = [head, f"<p>{track}Members: {members}.</p>"]
    lines.append(f'<figure aria-label="forecasts of {e(q.id)} over time">{plot(q, n)}</figure>')
    rows = [
        (
            when(pt.recorded_ms),
            pct(pt.aggregate),
            f"{pct(pt.low)}–{pct(pt.high)}",
            *tuple(
                pct(next((m.p for m in pt.members if m.name == name), None)) for name in q.members
            ),
            pt.disagreement or "",
        )
        for pt in q.points[:TABLE_ROWS]
    ]
    lines.append(_table(("Recorded", "Aggregate", "Range", *q.members, "Disagreement"), rows))
    lines.append(_more(len(q.points), min(len(q.points), TABLE_ROWS), "forecast"))
    lines.append(_more(q.total, len(q.points), "forecast (nor plotted)"))
    return "".join(lines) + "</section>"


TABLE_ROWS = 100


def _forecasts(r: AfterAction) -> str:
    if not r.questions:
        return '<p class="note">No forecast was made in the window.</p>'
    return "".join(_question(n, q) for n, q in enumerate(r.questions, 1))


def _decisions(r: AfterAction) -> str:
    parts = ['<section id="agreements"><h3>Agreements</h3>']
    parts.append(_entries(r.agreements) if r.agreements else '<p class="note">None.</p>')
    parts.append(_more(r.agreements_total, len(r.agreements), "record") + "</section>")
    parts.append('<section id="channel-events"><h3>Channel events</h3>')
    events = r.channel_events
    parts.append(_entries(events) if events else '<p class="note">None.</p>')
    parts.append(_more(r.channel_events_total, len(events), "record") + "</section>")
    parts.append('<section id="overdue"><h3>Overdue replies</h3>')
    if r.overdue:
        parts.append(
            _table(
                ("Message", "Counterpart", "Channel", "Sent", "Why overdue", "Answered"),
                (
                    (
                        o.message,
                        o.counterpart,
                        o.channel,
                        when(o.sent_ms),
                        o.explanation,
                        when(o.answered_ms) if o.answered_ms else "not by the window's end",
                    )
                    for o in r.overdue
                ),
            )
        )
    else:
        parts.append('<p class="note">None.</p>')
    return "".join(parts) + "</section>"


def _tracks(r: AfterAction) -> str:
    if not r.tracks:
        return '<p class="note">No track you are cleared for.</p>'
    parts = []
    for n, t in enumerate(r.tracks, 1):
        parts.append(f'<section id="track-{n}"><h3>{e(t.name)} ({e(t.id)})</h3>')
        if t.before is not None:
            parts.append(
                f"<p>When the window opened: <strong>{e(t.before.status)}</strong> (recorded "
                f"{e(when(t.before.recorded_ms))}).</p>"
            )
        rows = [(when(c.recorded_ms), when(c.valid_from), c.status, c.id) for c in t.changes]
        parts.append(
            _table(("Recorded", "Valid from", "Status", "Record"), rows)
            if rows
            else '<p class="note">No status change in the window.</p>'
        )
        if t.plans:
            parts.append("<h4>Holdings and meetings</h4>" + _entries(t.plans))
        parts.append("</section>")
    return "".join(parts)


def render(r: AfterAction) -> str:
    """The report as one HTML document."""
    facts = "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in header_rows(r))
    nav = "".join(f'<li><a href="#{i}">{e(h)}</a></li>' for i, h in (*SECTIONS, REPRODUCE))
    bodies = {
        "timeline": _timeline(r),
        "alerts": _alerts(r),
        "forecasts": _forecasts(r),
        "decisions": _decisions(r),
        "tracks": _tracks(r),
    }
    sections = "".join(
        f'<section id="{i}"><h2>{e(h)}</h2>{bodies[i]}</section>' for i, h in SECTIONS
    )
    rid, rheading = REPRODUCE
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{e(TITLE)}: {e(r.room)}</title><style>{STYLE}</style></head><body>"
        f'<header id="summary"><h1>{e(TITLE)}: {e(r.room)}</h1><dl class="facts">{facts}</dl>'
        f'<nav aria-label="contents"><ol>{nav}</ol></nav></header>'
        f"<main>{sections}</main>"
        f'<footer id="{rid}"><h2>{e(rheading)}</h2><p>The log is append-only: the same '
        "command, on this room, writes the same report (generated at another time).</p>"
        f"<pre><code>{e(command_line(r.command))}</code></pre></footer>"
        "</body></html>\n"
    )
