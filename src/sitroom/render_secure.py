"""Human output for the key and user commands."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from sitroom.domain.provenance import Provenance
from sitroom.render import _short, provenance_line


def key_status(console: Console, value: dict[str, Any], p: Provenance) -> None:
    provenance_line(console, p)
    t = Table(title="identities", title_justify="left")
    for col in ("name", "role", "fingerprint", "since"):
        t.add_column(col)
    for i in value["identities"]:
        changed = f" ({i['key_changes']} key changes)" if i["key_changes"] else ""
        t.add_row(i["name"], i["role"], i["fingerprint"], _short(i["since"]) + changed)
    console.print(t)
    if not value["tracks"]:
        console.print(
            "No track keys yet: clear people for a track (sitroom user grant).", style="dim"
        )
    for tr in value["tracks"]:
        console.print(
            f"\n[bold]{tr['track']}[/bold] epoch {tr['epoch']} ({tr['aead']}, limits from "
            f"{tr['limits']}), {tr['reason']}; members {', '.join(tr['members'])}; expires "
            f"{_short(tr['expires'])}; rotate by {_short(tr['rotate_by'])}",
            highlight=False,
        )
        k = Table(show_header=True)
        for col in ("sender", "sealed", "limit", "used", "per day", "wears out", "failed"):
            k.add_column(col)
        for w in tr["keys"]:
            used = "—" if w["used"] is None else f"{100 * w['used']:.2g}%"
            k.add_row(
                w["sender"],
                f"{w['sealed']:,}",
                "none" if w["limit"] is None else f"{w['limit']:,}",
                used,
                f"{w['rate_per_day']:,.1f}",
                _short(w["wears_out"]) if w["wears_out"] else "—",
                f"{w['failed_decryptions']:,}",
            )
        console.print(k)
    if value["rejected"]:
        why = ", ".join(f"{n} {r}" for r, n in sorted(value["rejected"].items()))
        console.print(f"\nrejected messages: {why}")


def users(console: Console, items: list[dict[str, Any]], p: Provenance) -> None:
    provenance_line(console, p)
    if not items:
        console.print(
            "No users: this workspace is single-user. Add its admin with "
            "`sitroom user add NAME --role admin`.",
            style="dim",
        )
        return
    t = Table(title_justify="left")
    for col in ("name", "role", "cleared for", "fingerprint", "since"):
        t.add_column(col)
    for u in items:
        t.add_row(
            u["name"],
            u["role"],
            ", ".join(u["clearances"]) or "—",
            u["fingerprint"] or "—",
            _short(u["since"]),
        )
    console.print(t)
