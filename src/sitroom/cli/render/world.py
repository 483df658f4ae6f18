"""The world picture for people: state, events, alerts, quarantine, claims, actors, red lines,
intensity and what changed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich import box
from rich.console import Console
from rich.table import Table

from sitroom.cli.render import pct, plural, provenance_line, short
from sitroom.domain.timeutil import human_age

if TYPE_CHECKING:
    from sitroom.application import world as w
    from sitroom.application.alert_acks import Acknowledged
    from sitroom.application.ingest import Ingested, IngestReport, ReportsAdded
    from sitroom.application.replay import Replayed


def state(console: Console, s: w.State) -> None:
    console.print(f"[bold]sitroom state[/bold] — {plural(s.records, 'record')}")
    provenance_line(console, s.provenance)
    kinds = " · ".join(f"{k} {n:,}" for k, n in s.by_kind.items()) or "none"
    console.print(f"Records by kind: {kinds}", highlight=False, markup=False)
    if s.sources:
        t = Table(title="Sources", title_justify="left")
        for col in ("source", "records", "cadence", "last arrival", "newest valid", "status"):
            t.add_column(col)
        for name, src in s.sources.items():
            t.add_row(
                name,
                f"{src.records:,}",
                human_age(src.cadence_ms) if src.cadence_ms else "—",
                short(src.last_arrival),
                short(src.newest_valid),
                f"[red]{src.status}[/red]" if src.status == "overdue" else src.status,
            )
        console.print(t)
    ev = s.events
    if ev.count:
        lo, hi = ev.valid_span
        sources = ", ".join(f"{k.split('.')[0].upper()} {n:,}" for k, n in ev.by_source.items())
        console.print(
            f"Events: {ev.count:,} ({sources}) dated {(lo or '')[:10]} to {(hi or '')[:10]}",
            highlight=False,
        )
        console.print(
            "  by QuadClass: "
            + " · ".join(f"{k} {pct(n, ev.count)}" for k, n in ev.quad_class.items()),
            highlight=False,
        )
        console.print(
            "  top countries (where they happened): "
            + " · ".join(f"{k} {n:,}" for k, n in ev.top_countries.items()),
            highlight=False,
        )
    q = sum(s.quarantined.values())
    console.print(f"Quarantined rows: {q:,}" + (" (see `sitroom quarantine`)" if q else ""))
    a = sum(s.alerts.values())
    console.print(f"Alerts: {a:,}" + (" (see `sitroom alerts`)" if a else ""))


def events(console: Console, e: w.Events) -> None:
    where = f" within {e.radius} of {e.near.lat:.2f},{e.near.lon:.2f}" if e.near is not None else ""
    shown = f", showing {e.shown:,}" if e.shown < e.matched else ""
    console.print(f"[bold]{plural(e.matched, 'event')}[/bold]{where}{shown}")
    provenance_line(console, e.provenance)
    if not e.items:
        return
    t = Table(box=box.SIMPLE_HEAD)
    t.add_column("date", no_wrap=True)
    t.add_column("source", no_wrap=True)
    for col, width in (("what", 30), ("actor 1", 16), ("actor 2", 16), ("where", 24)):
        t.add_column(col, max_width=width, no_wrap=True, overflow="ellipsis")
    t.add_column("miles" if e.near is not None else "id", justify="right", no_wrap=True)
    for ev in e.items:
        last = f"{ev.distance_m / 1609.344:,.0f}" if ev.distance_m is not None else ev.id
        t.add_row(
            ev.date or "",
            ev.source,
            ev.description or "",
            ev.actor1 or "",
            ev.actor2 or "",
            ev.place or ev.country or "",
            last,
        )
    console.print(t)


def alerts(console: Console, a: w.Alerts) -> None:
    console.print(f"[bold]{plural(len(a.alerts), 'alert')}[/bold]")
    provenance_line(console, a.provenance)
    for x in a.alerts:
        colour = {"critical": "red", "warning": "yellow"}.get(x.severity, "cyan")
        console.print(
            f"[{colour}]{x.severity.upper():8}[/{colour}] {x.recorded_at}  {x.title}",
            highlight=False,
        )
        console.print(
            f"          {x.detector} · evidence: {', '.join(x.evidence)}",
            style="dim",
            highlight=False,
            markup=False,
        )
        for ack in x.acknowledged:
            console.print(
                f"          acknowledged by {ack.by} at {ack.at}",
                style="dim",
                highlight=False,
                markup=False,
            )


def alert_acked(console: Console, a: Acknowledged) -> None:
    said = "acknowledged" if a.new else "already acknowledged"
    console.print(f"{a.by} {said} {a.alert} at {a.at}: {a.title}", highlight=False, markup=False)


def quarantine(console: Console, q: w.Quarantine) -> None:
    console.print(f"[bold]{plural(len(q.quarantined), 'quarantined row')}[/bold]")
    provenance_line(console, q.provenance)
    for row in q.quarantined:
        where = str(row.line)
        if row.count > 1:
            where += f"-{row.last_line} ({row.count:,} identical rows)"
        console.print(f"{row.file}:{where}: {row.reason}", highlight=False, markup=False)
        console.print(f"    {row.raw[:160]!r}", style="dim", highlight=False, markup=False)


def claims(console: Console, c: w.Claims) -> None:
    valid = f" valid at {short(c.valid_at)}" if c.valid_at else " (any valid time)"
    console.print(
        f"[bold]{c.subject}[/bold] — {plural(len(c.properties), 'property')}{valid}",
        highlight=False,
    )
    provenance_line(console, c.provenance)
    if not c.properties:
        console.print("No claims about it.", style="dim")
    for prop in c.properties:
        mark = "  [bold red]CONFLICT[/bold red]: credible sources disagree" if prop.conflict else ""
        console.print(f"\n[bold]{prop.property}[/bold]{mark}", highlight=False)
        t = Table(box=box.SIMPLE, show_edge=False, pad_edge=False)
        for col in ("value", "independent", "source", "rel/cred", "confidence", "valid", "age"):
            t.add_column(col)
        for v in prop.values:
            for i, claim in enumerate(v.claims):
                via = "" if claim.origin == claim.source else f" (via {claim.origin})"
                t.add_row(
                    str(v.value) if i == 0 else "",
                    str(v.independent_sources) if i == 0 else "",
                    claim.source + via,
                    f"{claim.reliability or '-'}{claim.credibility or '-'}",
                    "-" if claim.confidence is None else str(claim.confidence),
                    f"{short(claim.valid_from)} → {short(claim.valid_to)}"
                    if claim.valid_from
                    else "-",
                    "-" if claim.age_ms is None else human_age(claim.age_ms),
                )
        console.print(t)


def redlines(console: Console, r: w.RedLines) -> None:
    console.print(f"[bold]{plural(len(r.redlines), 'red line')}[/bold]")
    provenance_line(console, r.provenance)
    for x in r.redlines:
        console.print(
            f"{x.name} [{x.severity}]: {x.rule} ({plural(x.matched_events, 'matched event')})",
            highlight=False,
            markup=False,
        )


def redline_added(console: Console, r: w.RedLineAdded) -> None:
    console.print(
        f"Red line '{r.name}' added: {r.rule}" + ("" if r.new else " (already there)"),
        highlight=False,
        markup=False,
    )


def redline_test(console: Console, r: w.RedLineTest) -> None:
    console.print(r.rule, style="bold", highlight=False, markup=False)
    provenance_line(console, r.provenance)
    console.print(f"{plural(r.matched_events, 'event')} match the selection", highlight=False)
    if r.measure is not None:
        console.print(
            f"Peak in any window: {r.peak:g} {r.measure} (threshold {r.threshold:g}); "
            f"crossed {plural(len(r.crossings), 'time')}",
            highlight=False,
        )
        for c in r.crossings[:20]:
            console.print(f"  {short(c.at)}  {c.value:g}  ({c.event})", highlight=False)
    elif r.evidence:
        console.print(f"First: {', '.join(r.evidence[:10])}", style="dim", highlight=False)


def actors(console: Console, a: w.Actors) -> None:
    console.print(f"[bold]{plural(len(a.actors), 'actor')}[/bold]")
    provenance_line(console, a.provenance)
    t = Table(box=box.SIMPLE, show_edge=False, pad_edge=False)
    for col in ("name", "type", "key", "relationships", "aliases"):
        t.add_column(col)
    for x in a.actors:
        t.add_row(x.name, x.type, x.key, str(x.relationships), ", ".join(x.aliases))
    console.print(t)


def actor(console: Console, a: w.Actor) -> None:
    if not a.known:
        console.print(
            f"[bold]{a.name}[/bold]: not known then; the room learnt of it later", highlight=False
        )
        provenance_line(console, a.provenance)
        return
    aka = f" (also {', '.join(a.aliases)})" if a.aliases else ""

    console.print(f"[bold]{a.name}[/bold] — {a.type}{aka}", highlight=False)
    provenance_line(console, a.provenance)
    if a.description:
        console.print(a.description, style="dim", highlight=False, markup=False)
    for same in a.proposed_same_as:
        console.print(
            f"Proposed: the same as {same.same_as} (by {', '.join(same.sources)}; not merged)",
            style="yellow",
            highlight=False,
            markup=False,
        )
    if a.where and "lat" in a.where:
        console.print(
            f"On the map: {a.where.get('country', '')} {a.where['lat']:.2f},{a.where['lon']:.2f}",
            highlight=False,
        )
    t = Table(box=box.SIMPLE, show_edge=False, pad_edge=False)
    for col in ("relationship", "with", "from", "to", "said by", "confidence"):
        t.add_column(col)
    for r in a.relationships:
        arrow = "→" if r.direction == "out" else "←"
        t.add_row(
            f"{arrow} {r.type}",
            r.other,
            short(r.valid_from) if r.valid_from else "-",
            short(r.valid_to) if r.valid_to else "-",
            r.said_by,
            "-" if r.confidence is None else str(r.confidence),
        )
    console.print(t)
    if a.signals:
        first = a.signals[0]
        console.print(
            f"Event signals, {human_age(first.window_ms)} to {short(first.window_ends)}:",
            highlight=False,
        )
        s = Table(box=box.SIMPLE, show_edge=False, pad_edge=False)
        for col in ("with", "events", "cooperative", "conflictual", "Goldstein mean"):
            s.add_column(col)
        for g in a.signals:
            s.add_row(
                g.other,
                str(g.events),
                str(g.cooperative),
                str(g.conflictual),
                "-" if g.goldstein_mean is None else f"{g.goldstein_mean:+.2f}",
            )
        console.print(s)


def diff(console: Console, d: w.Diff) -> None:
    console.print(
        f"[bold]Changes[/bold] {d.since} → {d.until}: {plural(d.records, 'record')} arrived",
        highlight=False,
    )
    provenance_line(console, d.provenance)
    if d.by_kind:
        console.print(
            "By kind: " + " · ".join(f"{k} {n:,}" for k, n in d.by_kind.items()), highlight=False
        )
    if d.claims_changed:
        console.print(f"\n[bold]Claims[/bold]: {plural(d.claims_changed, 'property')} changed")
        for c in d.claims:
            mark = f"  conflict {c.conflict}" if c.conflict else ""
            new = ", ".join(str(v) for v in c.new_values) or "no new value"
            console.print(
                f"  {c.subject} · {c.property}: +{plural(c.new_claims, 'claim')} ({new}){mark}",
                highlight=False,
                markup=False,
            )
    if d.actors_new or d.relationships_new:
        console.print(
            f"\n[bold]Actors[/bold]: {d.actors_new} new, "
            f"{plural(d.relationships_new, 'new relationship')}"
        )
        for r in d.relationships[:10]:
            console.print(f"  {r}", highlight=False, markup=False)
    if d.redlines:
        console.print(f"\n[bold]Red lines added[/bold]: {', '.join(d.redlines)}")
    if d.alerts:
        console.print(f"\n[bold]Alerts raised[/bold]: {len(d.alerts)}")
        for a in d.alerts[:10]:
            console.print(f"  {a.severity}: {a.title}", highlight=False, markup=False)
    if d.revisions:
        console.print(f"\n[bold]Upstream revisions[/bold]: {len(d.revisions)}")
        for rev in d.revisions[:10]:
            console.print(
                f"  {rev.kind} {rev.event_id}: {rev.field} {rev.was} → {rev.now}",
                highlight=False,
                markup=False,
            )


def intensity(console: Console, i: w.Intensity) -> None:
    c, t = i.current, i.trend
    console.print(
        f"[bold]Intensity within {i.radius} of {i.near.lat:.2f},{i.near.lon:.2f}[/bold]"
        f" — {short(c.since)} to {short(c.until)}",
        highlight=False,
    )
    provenance_line(console, i.provenance)
    ratio = "" if t.ratio is None else f" ({t.ratio:.2f}x)"
    console.print(
        f"{plural(c.events, 'event')}; previous windows average {t.previous_mean:g}{ratio}"
        + ("" if t.z is None else f", z {t.z:+.2f}"),
        highlight=False,
    )
    table = Table(box=box.SIMPLE, show_edge=False, pad_edge=False)
    for col in ("window", "events", "material conflict", "fatalities", "Goldstein sum"):
        table.add_column(col)
    for win in (c, *i.previous):
        table.add_row(
            f"{short(win.since)} → {short(win.until)}",
            str(win.events),
            str(win.by_quad_class.get("Material Conflict", 0)),
            "-" if win.fatalities is None else str(win.fatalities),
            "-" if win.goldstein_sum is None else f"{win.goldstein_sum:+g}",
        )
    console.print(table)


def exported(console: Console, e: w.Exported) -> None:
    what = "record" if e.format == "jsonl" else "STIX object"
    console.print(f"Exported {plural(e.count, what)}", highlight=False)


# ingest -----------------------------------------------------------------------------------
def ingest_report(console: Console, r: IngestReport) -> None:
    console.print(
        f"{r.input}: {plural(r.rows, 'row')} → {r.accepted:,} accepted, "
        f"{r.duplicates:,} duplicate, {r.quarantined:,} quarantined ({r.seconds:.2f}s)",
        highlight=False,
        markup=False,
    )


def ingested(console: Console, i: Ingested) -> None:
    for r in i.files:
        ingest_report(console, r)
    if len(i.files) > 1:
        t = i.totals
        console.print(
            f"In all: {plural(t.rows, 'row')} → {t.accepted:,} accepted, {t.duplicates:,} "
            f"duplicate, {t.quarantined:,} quarantined",
            highlight=False,
        )
    for failure in i.failed_polls:
        console.print(f"failed {failure}", style="yellow", highlight=False, markup=False)


def reports_added(console: Console, r: ReportsAdded) -> None:
    for a in r.reports:
        note = "" if a.new_records else " (already in the workspace)"
        parts = [plural(a.claims, "claim")]
        if a.actors:
            parts.append(plural(a.actors, "actor"))
        if a.relationships:
            parts.append(plural(a.relationships, "relationship"))
        console.print(
            f"{a.file}: report with {', '.join(parts)}{note}", highlight=False, markup=False
        )


def replayed(console: Console, r: Replayed) -> None:
    console.print(
        f"Replayed {plural(r.records, 'record')}; {plural(len(r.alerts_raised), 'alert')} raised "
        f"({r.reproduced} of {r.original_alerts} original alerts reproduced)",
        highlight=False,
    )
