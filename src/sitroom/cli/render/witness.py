"""Witnessed heads for people: a request made, a head co-signed or kept, the heads held."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from sitroom.cli.render import short
from sitroom.domain.timeutil import iso

if TYPE_CHECKING:
    from sitroom.application import proofs as pr
    from sitroom.application import witness as w


def _say(console: Console, text: str) -> None:
    console.print(text, markup=False, highlight=False)


def requested(console: Console, r: w.Requested) -> None:
    since = f", with a proof that it extends the {r.since:,}-segment head" if r.since else ""
    to = f" for {r.witness}" if r.witness else ""
    _say(
        console,
        f"site {r.site}'s head at seq {r.seq:,} ({r.size:,} segments, root {r.root}) signed"
        f"{to}{since}: hand the file to the witness (`sitroom witness cosign FILE`)",
    )


def cosigned(console: Console, c: w.CosignedHead) -> None:
    h = c.head
    again = "" if c.recorded else " (recorded before)"
    _say(
        console,
        f"{h.witness} co-signed site {h.site}'s head at seq {h.seq:,} ({h.size:,} segments, "
        f"root {h.root}){again}",
    )


def heads(console: Console, s: w.Witnessed) -> None:
    if not s.heads:
        _say(console, "No co-signed heads yet: `sitroom witness request --for SITE`.")
        return
    t = Table(title="co-signed tree heads", title_justify="left")
    for col in ("site", "witness", "seq", "segments", "root", "co-signed"):
        t.add_column(col)
    for h in s.heads:
        t.add_row(h.site, h.witness, f"{h.seq:,}", f"{h.size:,}", h.root, short(iso(h.at_ms)))
    console.print(t)


def proof_made(console: Console, p: pr.ProofMade) -> None:
    what = (
        f"record {p.record} is in the log"
        if p.what == "inclusion"
        else f"the log extends its head at seq {p.since:,}"
    )
    _say(
        console,
        f"Proof that {what}, under site {p.site}'s head at seq {p.seq:,} ({p.size:,} "
        f"segments, root {p.root}): check it with `sitroom proof check FILE --card CARD`",
    )


def proof_checked(console: Console, c: pr.ProofChecked) -> None:
    if c.ok:
        _say(console, f"VERIFIED: {c.what} proof under site {c.site}'s head at seq {c.seq:,}")
    else:
        _say(console, f"NOT VERIFIED: {c.problem}")
