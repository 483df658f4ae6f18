"""Renderers: results as people read them (rich tables and lines). One module per capability;
what they share is here. A renderer only formats: everything it shows is in the result."""

from __future__ import annotations

from rich.console import Console

from sitroom.domain.provenance import Provenance
from sitroom.domain.wording import article, plural

__all__ = ["article", "pct", "plural", "provenance_line", "short"]


def provenance_line(console: Console, p: Provenance) -> None:
    """How fresh the answer is, and what it could not show: highlighted when stale."""
    style = "bold yellow" if p.stale else "dim"
    console.print(p.describe(), style=style, highlight=False, markup=False)


def short(iso_time: str | None) -> str:
    """'2026-11-25T04:25:44.551Z' as '2026-11-25 04:25', for tables."""
    return "—" if not iso_time else iso_time[:16].replace("T", " ")


def pct(n: int, total: int) -> str:
    return f"{n:,} ({100 * n / total:.0f}%)" if total else f"{n:,}"
