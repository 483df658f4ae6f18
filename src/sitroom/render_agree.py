"""Human output for the agreement commands: each party's signature beside the status, and a
verification that names whatever fails."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from sitroom.domain.provenance import Provenance
from sitroom.render import _short, provenance_line


def _headline(a: dict[str, Any]) -> str:
    track = f" (track {a['track']})" if a["track"] else ""
    return f"{a['id']}: {a['title']}{track} — {a['status']}, {a['signed']} of {a['of']} signed"


def _say(console: Console, text: str) -> None:
    # Plain text: ids, titles and reasons may hold brackets that are not rich markup.
    console.print(text, markup=False, highlight=False)


def proposed(console: Console, a: dict[str, Any]) -> None:
    _say(console, f"Proposed {_headline(a)}")
    _say(console, f"digest {a['digest']}")
    for p in a["parties"]:
        _say(console, f"  {p['name']}: fingerprint {p['fingerprint']}")
    _say(console, f"Each party signs with `sitroom agree sign {a['id']} --as NAME`.")


def signed(console: Console, a: dict[str, Any]) -> None:
    if a["already"] and a["agreed_record"]:
        _say(console, f"{a['party']} had signed {a['id']}; wrote its agreed record")
    elif a["already"]:
        _say(console, f"{a['party']} had signed {a['id']} already: nothing changed")
    elif a["status"] == "agreed":
        _say(console, f"{a['party']} signed {a['id']}: every party has signed, it is agreed")
        _say(console, f"agreed record {a['agreed_record']}")
    else:
        pending = [p["name"] for p in a["parties"] if p["state"] == "pending"]
        _say(
            console,
            f"{a['party']} signed {a['id']}: {a['signed']} of {a['of']} signed; waiting for "
            f"{', '.join(pending)}",
        )


def withdrew(console: Console, a: dict[str, Any]) -> None:
    w = a["withdrawal"]
    _say(console, f"{w['party']} withdrew from {a['id']}: it is aborted ({w['reason']})")


def status(console: Console, items: list[dict[str, Any]], p: Provenance) -> None:
    provenance_line(console, p)
    if not items:
        console.print("No agreements yet: propose one with `sitroom agree propose`.", style="dim")
        return
    for a in items:
        console.print()
        _say(console, _headline(a))
        _say(console, f"proposed by {a['proposer']} at {_short(a['proposed_at'])}")
        t = Table(show_header=True)
        for col in ("party", "state", "at", "fingerprint"):
            t.add_column(col)
        for party in a["parties"]:
            at = party["signed_at"] or party["withdrew_at"]
            t.add_row(party["name"], party["state"], _short(at), party["fingerprint"])
        console.print(t)
        if a["withdrawal"]:
            w = a["withdrawal"]
            _say(console, f"aborted: {w['party']} withdrew at {_short(w['at'])} ({w['reason']})")
        if a["agreed_at"]:
            _say(console, f"agreed at {_short(a['agreed_at'])}")
        for r in a["refused"]:
            _say(console, f"refused {r['record']}: {r['message']} [{r['reason']}]")
        if "text" in a:
            _say(console, f"digest {a['digest']}\n\n{a['text']}")


def verification(console: Console, v: dict[str, Any]) -> None:
    _say(console, f"{v['agreement']}: {v['title']}")
    _say(console, f"digest {v['digest']}")
    named = {c["problem"] for c in v["parties"]}
    for problem in v["problems"]:
        if problem not in named:
            _say(console, f"FAIL {problem}")
    for c in v["parties"]:
        if c["problem"]:
            _say(console, f"FAIL {c['party']}: {c['problem']}")
        else:
            _say(console, f"OK   {c['party']}: signature verifies ({c['fingerprint']})")
    if v["ok"]:
        _say(console, "VERIFIED: every party signed exactly this text with the key it pinned")
    else:
        _say(console, "NOT VERIFIED")
