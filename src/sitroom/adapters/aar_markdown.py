"""The after-action report as Markdown: the HTML page's sections and headings, with each plot
written as an SVG file beside the Markdown (``aar.md`` → ``aar-forecast-1.svg``) and linked by
its relative name, so the folder reads offline in any Markdown viewer.

User-written text is escaped: Markdown's own characters are backslashed and ``<``, ``>`` and
``&`` become entities, so a title holding HTML is shown, never run, by viewers that pass HTML
through.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

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
from sitroom.application.report import AfterAction, Entry

_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~])")
TABLE_ROWS = 100


def m(value: object) -> str:
    """``value`` as Markdown text, one line, nothing in it read as markup."""
    text = " ".join(str(value).split())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _SPECIAL.sub(r"\\\1", text)


def _table(head: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    out = ["| " + " | ".join(m(h) for h in head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(m(c) for c in r) + " |" for r in rows]
    return [*out, ""]


def _more(total: int, shown: int, noun: str) -> list[str]:
    said = more(total, shown, noun)
    return [] if said is None else [f"*{m(said)}*", ""]


def _entries(entries: Sequence[Entry]) -> list[str]:
    return _table(
        ("Recorded", "Valid", "Known after", "What", "Record"),
        (
            (
                when(x.recorded_ms),
                span(x.valid_from, x.valid_to),
                gap(x.known_after_ms),
                x.words,
                x.id,
            )
            for x in entries
        ),
    )


def plot_name(stem: str, n: int) -> str:
    return f"{stem}-forecast-{n}.svg"


def render(r: AfterAction, stem: str) -> tuple[str, dict[str, str]]:
    """The report as Markdown, and the SVG plots it links to (file name → SVG text), to be
    written beside it; ``stem`` is the Markdown file's name without its suffix."""
    out = [f"# {m(TITLE)}: {m(r.room)}", ""]
    out += [f"- **{m(k)}**: {m(v)}" for k, v in header_rows(r)] + [""]
    plots: dict[str, str] = {}
    for sid, heading in SECTIONS:
        out += [f'<a id="{sid}"></a>', "", f"## {m(heading)}", ""]
        if sid == "timeline":
            out += [m(TIMELINE_NOTE), ""]
            for g in r.timeline:
                if g.total:
                    out += [f"### {m(g.title)} ({g.total:,})", ""]
                    out += _entries(g.entries) + _more(g.total, len(g.entries), "record")
            if r.bookkeeping:
                counted = ", ".join(f"{k} {n:,}" for k, n in r.bookkeeping.items())
                out += [f"*The room's own bookkeeping, counted: {m(counted)}.*", ""]
        elif sid == "alerts":
            for a in r.alerts:
                out += [f"### \\[{m(a.severity)}\\] {m(a.title)}", ""]
                out += [
                    f"- **Detector**: {m(a.detector)}; **key**: {m(a.key)}",
                    f"- **Recorded**: {m(when(a.entry.recorded_ms))}",
                    f"- **Fired after its newest evidence**: {m(gap(a.after_newest_ms))} "
                    f"(after its oldest: {m(gap(a.after_oldest_ms))})",
                    "- **Detection took**: "
                    + ("—" if a.detect_ms is None else m(f"{a.detect_ms:g} ms")),
                    "",
                ]
                out += _table(
                    ("Evidence", "Recorded", "Valid from", "What it says"),
                    ((x.id, when(x.recorded_ms), when(x.valid_from), x.words) for x in a.evidence),
                )
                out += _more(a.evidence_total, len(a.evidence), "evidence record")
            if not r.alerts:
                out += ["*No alert was raised in the window.*", ""]
            out += _more(r.alerts_total, len(r.alerts), "alert")
            if r.alerts_withheld:
                out += [
                    f"*{r.alerts_withheld:,} more not shown: they name tracks or records "
                    "outside your clearance.*",
                    "",
                ]
        elif sid == "forecasts":
            for n, q in enumerate(r.questions, 1):
                name = plot_name(stem, n)
                plots[name] = plot(q, n)
                out += [f"### {m(q.id)}: {m(q.text)}", ""]
                if q.track:
                    out += [f"Track: {m(q.track)}.", ""]
                out += [f"Members: {', '.join(m(x) for x in q.members) or 'none'}.", ""]
                out += [f"![forecasts of {m(q.id)} over time]({name})", ""]
                rows = [
                    (
                        when(pt.recorded_ms),
                        pct(pt.aggregate),
                        f"{pct(pt.low)}–{pct(pt.high)}",
                        *tuple(
                            pct(next((x.p for x in pt.members if x.name == k), None))
                            for k in q.members
                        ),
                        pt.disagreement or "",
                    )
                    for pt in q.points[:TABLE_ROWS]
                ]
                out += _table(("Recorded", "Aggregate", "Range", *q.members, "Disagreement"), rows)
                out += _more(len(q.points), min(len(q.points), TABLE_ROWS), "forecast")
            if not r.questions:
                out += ["*No forecast was made in the window.*", ""]
        elif sid == "decisions":
            out += ["### Agreements", ""]
            out += _entries(r.agreements) if r.agreements else ["*None.*", ""]
            out += _more(r.agreements_total, len(r.agreements), "record")
            out += ["### Channel events", ""]
            out += _entries(r.channel_events) if r.channel_events else ["*None.*", ""]
            out += _more(r.channel_events_total, len(r.channel_events), "record")
            out += ["### Overdue replies", ""]
            out += (
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
                if r.overdue
                else ["*None.*", ""]
            )
        else:
            for t in r.tracks:
                out += [f"### {m(t.name)} ({m(t.id)})", ""]
                if t.before is not None:
                    out += [
                        f"When the window opened: **{m(t.before.status)}** (recorded "
                        f"{m(when(t.before.recorded_ms))}).",
                        "",
                    ]
                rows = [
                    (when(c.recorded_ms), when(c.valid_from), c.status, c.id) for c in t.changes
                ]
                out += (
                    _table(("Recorded", "Valid from", "Status", "Record"), rows)
                    if rows
                    else ["*No status change in the window.*", ""]
                )
                if t.plans:
                    out += ["#### Holdings and meetings", "", *_entries(t.plans)]
            if not r.tracks:
                out += ["*No track you are cleared for.*", ""]
    rid, rheading = REPRODUCE
    out += [f'<a id="{rid}"></a>', "", f"## {m(rheading)}", ""]
    out += ["```bash", command_line(r.command).replace("`", "\\`"), "```", ""]
    return "\n".join(out), plots
