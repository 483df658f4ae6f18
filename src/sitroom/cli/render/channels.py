"""Channels for people: the list and its health, what was declared, sent, acknowledged,
replied and read, what waits, a desk that stopped, and a simulation's report."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from sitroom.cli.render import plural, provenance_line, short
from sitroom.domain.timeutil import human_age, iso

if TYPE_CHECKING:
    from sitroom.application import channels as c
    from sitroom.application.netsim_report import SimReport


def channels(console: Console, found: c.ChannelList) -> None:
    console.print(f"[bold]{plural(len(found.channels), 'channel')}[/bold]")
    provenance_line(console, found.provenance)
    if not found.channels:
        console.print("No channels yet: declare one with `sitroom channels add`.", markup=False)
        return
    _table(console, found.channels)


def status(console: Console, s: c.Status) -> None:
    n = len(s.messages)
    if s.target is not None and s.messages and s.messages[0].message == s.target:
        console.print(f"[bold]Message {escape(s.target)}[/bold]")
    else:
        waits = "waits" if n == 1 else "wait"
        on = "" if s.target is None else f" on {escape(s.target)}"
        console.print(f"[bold]{plural(n, 'message')}{on} {waits} for an ack or a reply[/bold]")
    provenance_line(console, s.provenance)
    if s.channels:
        _table(console, s.channels)
    for m in s.messages:
        path = " → ".join(m.path)
        what = m.status if m.status != "acked" else f"acked {short(m.acked_at)}"
        console.print(
            f"{m.message} [{m.priority}] to {m.counterpart} via {path}: {what}, sent {m.age} "
            f"ago, {plural(m.attempts, 'attempt')}",
            markup=False,
            highlight=False,
        )
        if m.overdue:
            console.print(
                f"  [bold yellow]reply overdue[/bold yellow]: {escape(m.overdue)}", highlight=False
            )
        elif m.awaits_reply:
            console.print("  awaiting reply", style="dim")


def declared(console: Console, d: c.Declared) -> None:
    track = f", track {d.track}" if d.track else ""
    same = "" if d.new else " (unchanged)"
    console.print(f"channel {d.id}: to {d.counterpart}{track}{same}", markup=False)


def receipt(console: Console, r: c.Receipt) -> None:
    path = " → ".join(r.path)
    where = f" at the desk {r.desk}" if r.desk else ""
    console.print(
        f"{r.message}: {r.status}{where} ({path}; backpressure {r.backpressure})",
        markup=False,
        highlight=False,
    )
    if not r.accepted:
        console.print("Refused: the channel's queue is full.", style="bold red")
    elif r.waiting:
        tries = "" if r.attempts is None else f" after {plural(r.attempts, 'attempt')}"
        console.print(
            f"Not acknowledged yet{tries}: it stays recorded as pending, and a running desk "
            "(`sitroom channels run`) goes on delivering it.",
            markup=False,
            style="yellow",
        )


def acked(console: Console, a: c.Acked) -> None:
    again = "" if a.new else " (already recorded)"
    console.print(f"{a.message}: acknowledged on {a.channel}{again}", markup=False)


def replied(console: Console, r: c.Replied) -> None:
    again = "" if r.new else " (already recorded)"
    console.print(f"{r.message}: reply recorded{again}", markup=False)


def message(console: Console, m: c.MessageText) -> None:
    if m.sealed:
        console.print(
            f"{m.message} ({m.direction}, track {m.track} epoch {m.epoch}, from {m.sender}, "
            f"opened with {m.opened_with}'s key):",
            markup=False,
            highlight=False,
        )
    console.print(m.text, markup=False, highlight=False)


def desk_stopped(console: Console, d: c.DeskStopped) -> None:
    if d.pending:
        left = ", ".join(d.pending[:10]) + (" …" if len(d.pending) > 10 else "")
        console.print(
            f"desk stopped; {plural(len(d.pending), 'message')} still pending: {left}",
            markup=False,
        )
    else:
        console.print("desk stopped; nothing pending", markup=False)


def _table(console: Console, rows: tuple[c.ChannelRow, ...]) -> None:
    t = Table(box=box.SIMPLE, show_edge=False, pad_edge=False)
    for col in ("id", "to", "path", "breaker", "liveness", "pending", "acked", "reply bound"):
        t.add_column(col)
    for r in rows:
        path = f"via {r.via}" if r.via else "direct"
        if r.fallback:
            path += f", fails over to {r.fallback}"
        if r.track:
            path += f"; track {r.track}"
        bound = f"{r.reply_bound_ms / 3_600_000:.1f} working h"
        if not r.reply_bound_learned:
            bound += " (default)"
        t.add_row(
            escape(r.id),
            escape(r.counterpart),
            escape(path),
            r.breaker + (f" (probes {short(r.next_probe)})" if r.next_probe else ""),
            r.liveness,
            str(r.pending),
            str(r.acked),
            f"{bound} ({escape(r.working_week)})",
        )
    console.print(t)
    for r in rows:
        for aspect, state, why in (
            ("breaker", r.breaker, r.breaker_reason),
            ("liveness", r.liveness, r.liveness_reason),
        ):
            if why and state not in ("closed", "alive"):
                console.print(
                    f"[yellow]{escape(r.id)}[/yellow] {aspect}: {escape(why)}", highlight=False
                )


def simulation(console: Console, report: SimReport) -> None:
    """The report as people read it: counts and latencies per class, failovers, alerts."""
    r = report
    console.print(
        f"[bold]Channel simulation[/bold] {escape(r.trace)} — {human_age(r.duration_ms)} from "
        f"{iso(r.start_ms)} (seed {r.seed})",
        highlight=False,
    )
    t = Table(box=box.SIMPLE_HEAD)
    for col in ("class", "sent", "acked", "dropped", "waiting", "delivery p50/p99", "ack p50/p99"):
        t.add_column(col, justify="left" if col == "class" else "right")
    for p in r.priorities:
        if not p.sent:
            continue
        t.add_row(
            p.priority,
            f"{p.sent:,}",
            f"{p.acked:,}",
            f"[red]{p.dropped:,}[/red]"
            if p.dropped and p.priority != "ROUTINE"
            else f"{p.dropped:,}",
            f"{p.unacknowledged:,}",
            f"{_ms(p.delivery_p50_ms)} / {_ms(p.delivery_p99_ms)}",
            f"{_ms(p.ack_p50_ms)} / {_ms(p.ack_p99_ms)}",
        )
    console.print(t)
    balance = (
        f"{r.sent:,} sent = {r.acked:,} acked + {r.dropped:,} dropped + "
        f"{len(r.unacknowledged):,} waiting"
    )
    if r.balanced:
        console.print(f"Accounted for: {balance}", highlight=False)
    else:
        console.print(f"[bold red]Unaccounted: {r.lost:,} messages[/bold red] ({balance})")
    console.print(
        f"Received once: {r.received_once:,} messages in {r.copies_received:,} copies; "
        f"{r.retries:,} retries; {r.replies:,} replies; {r.heartbeats:,} heartbeats",
        highlight=False,
    )
    if r.backpressure:
        console.print(
            "Backpressure: " + " · ".join(f"{k} {n:,}" for k, n in r.backpressure.items()),
            highlight=False,
        )
    if r.failovers:
        f = Table(title="Failovers", title_justify="left", box=box.SIMPLE_HEAD)
        for col in ("after", "message", "class", "path", "reason"):
            f.add_column(col)
        for e in r.failovers[:20]:
            f.add_row(
                human_age(e.at_ms - r.start_ms),
                escape(e.message),
                e.priority,
                escape(" → ".join(e.path)),
                escape(e.reason),
            )
        console.print(f)
        if len(r.failovers) > 20:
            console.print(f"  … and {len(r.failovers) - 20:,} more", style="dim")
    if r.alerts:
        a = Table(title="Alerts", title_justify="left", box=box.SIMPLE_HEAD)
        for col in ("at", "severity", "title"):
            a.add_column(col)
        for al in r.alerts[:30]:
            sev = al.severity
            a.add_row(
                (iso(al.at_ms) or "")[:19].replace("T", " "),
                f"[red]{sev}[/red]" if sev == "critical" else f"[yellow]{sev}[/yellow]",
                escape(al.title),
            )
        console.print(a)
        if len(r.alerts) > 30:
            console.print(f"  … and {len(r.alerts) - 30:,} more", style="dim")
    if r.unacknowledged:
        shown = ", ".join(r.unacknowledged[:10])
        more = f" and {len(r.unacknowledged) - 10:,} more" if len(r.unacknowledged) > 10 else ""
        console.print(
            f"[yellow]Still waiting for an ack[/yellow]: {escape(shown)}{more}", highlight=False
        )
    for note in r.anomalies:
        console.print(f"[bold yellow]simulator[/bold yellow]: {escape(note)}", highlight=False)


def _ms(v: int | None) -> str:
    if v is None:
        return "—"
    return f"{v:,} ms" if v < 10_000 else human_age(v)


def reset(console: Console, r: c.Reset) -> None:
    console.print(
        f"{r.channel}: breaker closed by {r.by} (was {r.was}): {r.reason}",
        markup=False,
        highlight=False,
    )
