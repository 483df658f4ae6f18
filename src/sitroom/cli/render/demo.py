"""The demo for people: each alert as it fires, then what the team could have known, and when."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from sitroom.cli.render import plural, short

if TYPE_CHECKING:
    from sitroom.demo import DemoAlert, DemoRun

STYLE = {"critical": "bold red", "warning": "yellow", "info": "dim"}


def fired(console: Console, a: DemoAlert) -> None:
    line = Text(f"{short(a.at)}  ")
    line.append(f"{a.severity:<8}", style=STYLE.get(a.severity, ""))
    line.append(f" {a.detector:<11} {a.title}")
    console.print(line, highlight=False)


def summary(console: Console, run: DemoRun) -> None:
    before = [a for a in run.alerts if a.lead_ms > 0 and a.severity != "info"]
    console.print()
    console.print(
        Text(
            f"What the team could have known, and when: {plural(len(before), 'alert')} before "
            f"{run.postponement} at {short(run.postponed_at)}",
            style="bold",
        )
    )
    table = Table(box=box.SIMPLE, show_edge=False, pad_edge=False)
    for col in ("fired (virtual)", "before the postponement", "detector", "alert"):
        table.add_column(col, overflow="fold")
    for a in before:
        table.add_row(
            short(a.at),
            a.lead.removesuffix(" before"),
            a.detector,
            Text(a.title, style=STYLE.get(a.severity, "")),
        )
    console.print(table)
    console.print(
        Text(
            "Real: the UCDP GED and GDELT 2.0 events near Beirut, as shipped (data/demo). "
            "Invented: " + "; ".join(run.invented) + ".",
            style="dim",
        )
    )
    console.print(
        Text(
            f"Workspace: {run.workspace} ({plural(run.records, 'record')}) — try: "
            f"sitroom alerts -w {run.workspace}; sitroom tracks check -w {run.workspace} "
            f"--at 2019-10-20",
        ),
        highlight=False,
    )
