"""Sites for people: the peers and how each stands, a sync, a digest."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from sitroom.domain.timeutil import iso
from sitroom.domain.wording import plural

if TYPE_CHECKING:
    from sitroom.application import sites as s


def _say(console: Console, text: str) -> None:
    console.print(text, markup=False, highlight=False)


def _seconds(ms: int | None) -> str:
    return "—" if ms is None else f"{ms / 1000:.1f} s"


def status(console: Console, st: s.SitesStatus) -> None:
    if not st.peers:
        _say(console, f"site {st.site} has no peers: `sitroom sites add NAME --cleared TRACKS`")
        return
    table = Table(title=f"Peers of site {st.site}", title_justify="left")
    for col in ("peer", "cleared", "link", "to send", "taken", "behind", "delay", "last heard"):
        table.add_column(col)
    table.add_column("refused", justify="right")
    table.add_column("conflicts", justify="right")
    for p in st.peers:
        link = {None: "not asked", True: "connected", False: "cut off"}[p.connected]
        behind = "—" if p.behind is None else "in step"
        if p.behind:
            behind = f"{plural(p.behind, 'record')}, {_seconds(p.behind_ms)}"
        table.add_row(
            p.name,
            ", ".join(p.cleared) or "general only",
            link,
            f"{p.to_send:,}",
            f"{p.received:,} (to {p.received_upto:,})",
            behind,
            _seconds(p.delay_ms),
            "never" if p.last_heard_ms is None else iso(p.last_heard_ms),
            str(p.refused),
            str(p.conflicts),
        )
    console.print(table)
    for c in st.conflicts:
        _say(
            console,
            f"conflict: {c.subject} {c.property} is {' or '.join(c.values)} "
            f"(sites {', '.join(c.sites)}): both kept",
        )


def added(console: Console, a: s.PeerAdded) -> None:
    cleared = ", ".join(a.cleared) or "the general compartment only"
    _say(console, f"{a.name} ({a.fingerprint}) is a peer, sent {cleared}")


def synced(console: Console, r: s.Synced) -> None:
    for name in sorted({*r.sent, *r.received, *r.down}):
        if name in r.down:
            _say(console, f"{name}: link cut off, nothing lost (sent again when it is back)")
            continue
        sent, taken = r.sent.get(name, 0), r.received.get(name, 0)
        _say(console, f"{name}: sent {plural(sent, 'record')}, took {plural(taken, 'record')}")
    for f in r.refused:
        _say(console, f"refused from {f.site} ({f.reason}): {f.detail}")


def digest(console: Console, dg: s.Digest) -> None:
    _say(console, f"site {dg.site}: {plural(dg.records, 'shared record')}, digest {dg.digest}")
    for name, h in sorted(dg.hashes.items()):
        _say(console, f"  {name:<14} {h}")
