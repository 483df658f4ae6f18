"""Human output for the CLI (rich). JSON output is the same data, printed by the CLI as is."""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table

from sitroom.domain.provenance import Provenance
from sitroom.domain.timeutil import human_age


def provenance_line(console: Console, p: Provenance) -> None:
    style = "bold yellow" if p.stale else "dim"
    console.print(p.describe(), style=style, highlight=False)


def _pct(n: int, total: int) -> str:
    return f"{n:,} ({100 * n / total:.0f}%)" if total else f"{n:,}"


def state(console: Console, value: dict[str, Any], p: Provenance) -> None:
    console.print(f"[bold]sitroom state[/bold] — {value['records']:,} records")
    provenance_line(console, p)
    kinds = " · ".join(f"{k} {n:,}" for k, n in value["by_kind"].items()) or "none"
    console.print(f"Records by kind: {kinds}", highlight=False)
    if value["sources"]:
        t = Table(title="Sources", title_justify="left")
        for col in ("source", "records", "cadence", "last arrival", "newest valid", "status"):
            t.add_column(col)
        for name, s in value["sources"].items():
            status = s["status"]
            t.add_row(
                name,
                f"{s['records']:,}",
                human_age(s["cadence_ms"]) if s["cadence_ms"] else "—",
                _short(s["last_arrival"]),
                _short(s["newest_valid"]),
                f"[red]{status}[/red]" if status == "overdue" else status,
            )
        console.print(t)
    ev = value["events"]
    if ev["count"]:
        lo, hi = ev["valid_span"]
        console.print(f"Events: {ev['count']:,} dated {lo[:10]} to {hi[:10]}", highlight=False)
        console.print(
            "  by QuadClass: "
            + " · ".join(f"{k} {_pct(n, ev['count'])}" for k, n in ev["quad_class"].items()),
            highlight=False,
        )
        console.print(
            "  top countries (action location): "
            + " · ".join(f"{k} {n:,}" for k, n in ev["top_countries"].items()),
            highlight=False,
        )
    q = sum(value["quarantined"].values())
    console.print(f"Quarantined rows: {q:,}" + (" (see `sitroom quarantine`)" if q else ""))
    a = sum(value["alerts"].values())
    console.print(f"Alerts: {a:,}" + (" (see `sitroom alerts`)" if a else ""))


def events(console: Console, value: dict[str, Any], p: Provenance) -> None:
    where = (
        f" within {value['radius']} of {value['near'][0]},{value['near'][1]}"
        if value["near"]
        else ""
    )
    console.print(
        f"[bold]{value['matched']:,} events[/bold]{where}"
        + (f", showing {value['shown']:,}" if value["shown"] < value["matched"] else "")
    )
    provenance_line(console, p)
    if not value["items"]:
        return
    t = Table(box=box.SIMPLE_HEAD)
    t.add_column("date", no_wrap=True)
    t.add_column("code", no_wrap=True)
    for col, width in (("event", 26), ("actor 1", 16), ("actor 2", 16), ("place", 24)):
        t.add_column(col, max_width=width, no_wrap=True, overflow="ellipsis")
    t.add_column("miles" if value["near"] else "id", justify="right", no_wrap=True)
    for e in value["items"]:
        ev, geo = e["event"], e.get("action_geo") or {}
        last = f"{e['distance_m'] / 1609.344:,.0f}" if value["near"] else e["id"]
        t.add_row(
            e.get("date") or "",
            ev["code"],
            ev["description"] or "",
            _actor(e.get("actor1")),
            _actor(e.get("actor2")),
            geo.get("name") or "",
            last,
        )
    console.print(t)


def _short(iso_time: str | None) -> str:
    """'2026-11-25T04:25:44.551Z' as '2026-11-25 04:25', for tables."""
    return "—" if not iso_time else iso_time[:16].replace("T", " ")


def _actor(a: dict[str, Any] | None) -> str:
    if not a:
        return ""
    return " ".join(
        x for x in (a.get("name"), f"({a['country']})" if a.get("country") else None) if x
    )


def alerts(console: Console, items: list[dict[str, Any]], p: Provenance) -> None:
    console.print(f"[bold]{len(items)} alerts[/bold]")
    provenance_line(console, p)
    for a in items:
        colour = {"critical": "red", "warning": "yellow"}.get(a["severity"], "cyan")
        console.print(
            f"[{colour}]{a['severity'].upper():8}[/{colour}] {a['recorded_at']}  {a['title']}",
            highlight=False,
        )
        console.print(
            f"          {a['detector']} · evidence: {', '.join(a['evidence'])}",
            style="dim",
            highlight=False,
        )


def quarantine(console: Console, items: list[dict[str, Any]], p: Provenance) -> None:
    console.print(f"[bold]{len(items)} quarantined rows[/bold]")
    provenance_line(console, p)
    for q in items:
        console.print(f"{q['file']}:{q['line']}: {q['reason']}", highlight=False)
        console.print(f"    {q['raw'][:160]!r}", style="dim", highlight=False)


def claims(console: Console, value: dict[str, Any], p: Provenance) -> None:
    props = value["properties"]
    valid = f" valid at {_short(value['valid_at'])}" if value["valid_at"] else " (any valid time)"
    console.print(f"[bold]{value['subject']}[/bold] — {len(props)} properties{valid}")
    provenance_line(console, p)
    if not props:
        console.print("No claims about it.", style="dim")
    for prop in props:
        mark = (
            "  [bold red]CONFLICT[/bold red]: credible sources disagree" if prop["conflict"] else ""
        )
        console.print(f"\n[bold]{prop['property']}[/bold]{mark}", highlight=False)
        t = Table(box=box.SIMPLE, show_edge=False, pad_edge=False)
        for col in ("value", "independent", "source", "rel/cred", "confidence", "valid", "age"):
            t.add_column(col)
        for v in prop["values"]:
            for i, c in enumerate(v["claims"]):
                t.add_row(
                    str(v["value"]) if i == 0 else "",
                    str(v["independent_sources"]) if i == 0 else "",
                    c["source"]
                    if c["origin"] == c["source"]
                    else f"{c['source']} (via {c['origin']})",
                    f"{c['reliability'] or '-'}{c['credibility'] or '-'}",
                    "-" if c["confidence"] is None else str(c["confidence"]),
                    f"{_short(c['valid_from'])} → {_short(c['valid_to']) or '…'}"
                    if c["valid_from"]
                    else "-",
                    "-" if c["age_ms"] is None else human_age(c["age_ms"]),
                )
        console.print(t)


def redlines(console: Console, items: list[dict[str, Any]], p: Provenance) -> None:
    console.print(f"[bold]{len(items)} red lines[/bold]")
    provenance_line(console, p)
    for r in items:
        console.print(f"{r['name']} [{r['severity']}]: {r['rule']}", highlight=False)


def redline_test(console: Console, value: dict[str, Any], p: Provenance) -> None:
    console.print(f"[bold]{value['rule']}[/bold]", highlight=False)
    provenance_line(console, p)
    console.print(f"{value['matched_events']:,} events match the selection", highlight=False)
    if "crossings" in value:
        console.print(
            f"Peak in any window: {value['peak']:g} {value['measure']} "
            f"(threshold {value['threshold']:g}); crossed {len(value['crossings'])} times",
            highlight=False,
        )
        for c in value["crossings"][:20]:
            console.print(f"  {_short(c['at'])}  {c['value']:g}  ({c['event']})", highlight=False)
    elif value["evidence"]:
        console.print(f"First: {', '.join(value['evidence'][:10])}", style="dim", highlight=False)


def actors(console: Console, items: list[dict[str, Any]], p: Provenance) -> None:
    console.print(f"[bold]{len(items)} actors[/bold]")
    provenance_line(console, p)
    t = Table(box=box.SIMPLE, show_edge=False, pad_edge=False)
    for col in ("name", "type", "key", "relationships", "aliases"):
        t.add_column(col)
    for a in items:
        t.add_row(a["name"], a["type"], a["key"], str(a["relationships"]), ", ".join(a["aliases"]))
    console.print(t)


def actor(console: Console, value: dict[str, Any], p: Provenance) -> None:
    aka = f" (also {', '.join(value['aliases'])})" if value["aliases"] else ""
    console.print(f"[bold]{value['name']}[/bold] — {value['type']}{aka}", highlight=False)
    provenance_line(console, p)
    if value["description"]:
        console.print(value["description"], style="dim", highlight=False)
    for same in value.get("proposed_same_as", []):
        console.print(
            f"Proposed: the same as {same['same_as']} (by {', '.join(same['sources'])}; "
            "not merged)",
            style="yellow",
            highlight=False,
        )
    where = value.get("where")
    if where and "lat" in where:
        console.print(
            f"On the map: {where.get('country', '')} {where['lat']:.2f},{where['lon']:.2f}",
            highlight=False,
        )
    t = Table(box=box.SIMPLE, show_edge=False, pad_edge=False)
    for col in ("relationship", "with", "from", "to", "said by", "confidence"):
        t.add_column(col)
    for r in value["relationships"]:
        arrow = "→" if r["direction"] == "out" else "←"
        t.add_row(
            f"{arrow} {r['type']}",
            r["other"],
            _short(r["valid_from"]) or "-",
            _short(r["valid_to"]) or "-",
            r["said_by"],
            "-" if r["confidence"] is None else str(r["confidence"]),
        )
    console.print(t)
    if value["signals"]:
        first = value["signals"][0]
        console.print(
            f"Event signals, {human_age(first['window_ms'])} to {_short(first['window_ends'])}:",
            highlight=False,
        )
        s = Table(box=box.SIMPLE, show_edge=False, pad_edge=False)
        for col in ("with", "events", "cooperative", "conflictual", "Goldstein mean"):
            s.add_column(col)
        for g in value["signals"]:
            s.add_row(
                g["other"],
                str(g["events"]),
                str(g["cooperative"]),
                str(g["conflictual"]),
                "-" if g["goldstein_mean"] is None else f"{g['goldstein_mean']:+.2f}",
            )
        console.print(s)


def diff(console: Console, value: dict[str, Any], p: Provenance) -> None:
    console.print(
        f"[bold]Changes[/bold] {value['from']} → {value['to']}: "
        f"{value['records']:,} records arrived",
        highlight=False,
    )
    provenance_line(console, p)
    if value["by_kind"]:
        console.print(
            "By kind: " + " · ".join(f"{k} {n:,}" for k, n in value["by_kind"].items()),
            highlight=False,
        )
    claims = value["claims"]
    if claims["properties_changed"]:
        console.print(f"\n[bold]Claims[/bold]: {claims['properties_changed']} properties changed")
        for c in claims["changed"]:
            mark = f"  conflict {c['conflict']}" if c["conflict"] else ""
            new = ", ".join(str(v) for v in c["new_values"]) or "no new value"
            console.print(
                f"  {c['subject']} · {c['property']}: +{c['new_claims']} claims ({new}){mark}",
                highlight=False,
            )
    actors = value["actors"]
    if actors["new_count"] or actors["relationships_count"]:
        console.print(
            f"\n[bold]Actors[/bold]: {actors['new_count']} new, "
            f"{actors['relationships_count']} new relationships"
        )
        for r in actors["relationships"][:10]:
            console.print(f"  {r}", highlight=False)
    if value["redlines"]:
        console.print(f"\n[bold]Red lines added[/bold]: {', '.join(value['redlines'])}")
    if value["alerts"]:
        console.print(f"\n[bold]Alerts raised[/bold]: {len(value['alerts'])}")
        for a in value["alerts"][:10]:
            console.print(f"  {a['severity']}: {a['title']}", highlight=False)
    if value["revisions"]:
        console.print(f"\n[bold]Upstream revisions[/bold]: {len(value['revisions'])}")
        for r in value["revisions"][:10]:
            f = r["fatalities"]
            console.print(
                f"  {r['kind']} {r['event_id']}: fatalities {f['was']} → {f['now']}",
                highlight=False,
            )


def intensity(console: Console, value: dict[str, Any], p: Provenance) -> None:
    c, t = value["current"], value["trend"]
    near = value["near"]
    console.print(
        f"[bold]Intensity within {value['radius']} of {near['lat']:.2f},{near['lon']:.2f}[/bold]"
        f" — {_short(c['from'])} to {_short(c['until'])}",
        highlight=False,
    )
    provenance_line(console, p)
    ratio = "" if t["ratio"] is None else f" ({t['ratio']:.2f}x)"
    console.print(
        f"{c['events']:,} events; previous windows average {t['previous_mean']:g}{ratio}"
        + ("" if t["z"] is None else f", z {t['z']:+.2f}"),
        highlight=False,
    )
    table = Table(box=box.SIMPLE, show_edge=False, pad_edge=False)
    for col in ("window", "events", "material conflict", "fatalities", "Goldstein sum"):
        table.add_column(col)
    for w in [c, *value["previous"]]:
        table.add_row(
            f"{_short(w['from'])} → {_short(w['until'])}",
            str(w["events"]),
            str(w["by_quad_class"].get("Material Conflict", 0)),
            "-" if w["fatalities"] is None else str(w["fatalities"]),
            "-" if w["goldstein_sum"] is None else f"{w['goldstein_sum']:+g}",
        )
    console.print(table)
