"""Human output for the risk commands: every member beside the aggregate, never one number
without its range."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from sitroom.domain.provenance import Provenance
from sitroom.render import _short, provenance_line


def pct(p: float | None) -> str:
    return "—" if p is None else f"{100 * p:.0f}%"


def questions(console: Console, items: list[dict[str, Any]], p: Provenance) -> None:
    console.print(f"[bold]{len(items)} questions[/bold]")
    provenance_line(console, p)
    if not items:
        console.print("Ask one with `sitroom question add`.", style="dim")
        return
    t = Table(title_justify="left")
    for col in ("id", "question", "status", "deadline", "forecast", "range", "flags"):
        t.add_column(col)
    for q in items:
        rng = q["range"]
        t.add_row(
            q["id"],
            q["text"],
            q["status"],
            _short(q["deadline"]),
            pct(q["p"]),
            f"{pct(rng[0])}–{pct(rng[1])}" if rng else "—",
            ", ".join(q["flags"]),
        )
    console.print(t)


def forecast_block(console: Console, item: dict[str, Any]) -> None:
    q, f = item["question"], item["forecast"]
    console.print(f"\n[bold]{q['id']}[/bold]: {q['text']} [dim]({item['status']})[/dim]")
    if f is None:
        console.print("no forecast yet", style="dim")
        return
    agg, spread = f["aggregate"], f["spread"]
    console.print(
        f"{agg['method']} {pct(agg['p'])}, range {pct(spread['min'])}–{pct(spread['max'])} "
        f"(mean {pct(agg['mean'])}, extremised {pct(agg['extremised'])}) at {_short(f['at'])}",
        highlight=False,
    )
    t = Table(show_header=True, title_justify="left")
    for col in ("member", "p", "weight", "what drives it"):
        t.add_column(col, overflow="fold")
    for m in f["members"]:
        t.add_row(m["name"], pct(m["p"]), f"{m['weight']:.2g}", m["drivers"])
    console.print(t)
    split = f.get("disagreement")
    if split:
        console.print(f"[bold yellow]disagreement[/bold yellow]: {split['summary']}")
    for c in f.get("changes", []):
        if c["moved_by"]:
            console.print(
                f"{c['member']} moved {pct(c['from'])} → {pct(c['to'])} by "
                f"{', '.join(c['moved_by'][:5])}",
                highlight=False,
            )
    other = [x for x in f["flags"] if x != "disagreement"]
    if other:
        console.print(f"flags: {', '.join(other)}", style="yellow")


def forecasts(console: Console, items: list[dict[str, Any]], p: Provenance) -> None:
    provenance_line(console, p)
    if not items:
        console.print("No open questions. Ask one with `sitroom question add`.", style="dim")
    for item in items:
        forecast_block(console, item)


def made(console: Console, value: dict[str, Any]) -> None:
    """What a question, a judgment or a resolution changed."""
    f = value.get("forecast")
    if value.get("unchanged"):
        console.print(f"{value['question']}: already recorded as it is; nothing changed")
    if f is not None:
        item = {"question": {"id": value["question"], "text": ""}, "status": "open", "forecast": f}
        forecast_block(console, item)
    for r in value.get("resolved", []):
        console.print(f"{r['question']} resolved {r['outcome']}: {r['reason']}")
    for a in value.get("alerts", []):
        console.print(f"[bold yellow]alert[/bold yellow]: {a}", highlight=False)


def scores(console: Console, value: dict[str, Any], p: Provenance) -> None:
    console.print(
        f"[bold]{value['resolved']} resolved questions scored[/bold] "
        f"({value['void']} void, {value['open']} open: never scored)"
    )
    provenance_line(console, p)
    t = Table(title="Mean scores (lower is better)", title_justify="left")
    for col in ("member", "Brier", "log", "CRPS", "n"):
        t.add_column(col)
    for name, s in value["summary"].items():
        t.add_row(
            name,
            f"{s['brier']['mean']:.3f}",
            f"{s['log']['mean']:.3f}",
            f"{s['crps']['mean']:.2f}" if "crps" in s else "—",
            str(s["brier"]["n"]),
        )
    console.print(t)
    for a, v in value["analysts"].items():
        console.print(f"analyst {a}: weight {v['weight']:.2f} from {len(v['briers'])} resolved")


def backtest(console: Console, value: dict[str, Any]) -> None:
    s = value["spec"]
    console.print(
        f"[bold]Backtest[/bold]: {value['forecasts']:,} forecasts at {value['forecast_times']} "
        f"times, {len(s['places'])} places × thresholds {s['thresholds']}, "
        f"{s['window_days']:g}-day windows within {s['radius']}, {s['from'][:10]} → "
        f"{s['until'][:10]}; known = {s['known']}"
    )
    console.print(
        f"{value['events']:,} conflict events; {value['seconds']:.1f}s "
        f"({value['forecasts_per_second']:,} forecasts/s); evidence known too late: "
        f"{value['leaks']}; base rate of yes {pct(value['base_rate'])}",
        highlight=False,
    )
    t = Table(title="Scores (lower is better; skill against climatology)", title_justify="left")
    for col in ("forecaster", "Brier", "skill", "log", "CRPS", "skill", "sharpness"):
        t.add_column(col)
    for name, sc in value["scores"].items():
        sk = value["skill_vs_climatology"][name]
        sharp = value["sharpness"].get(name, {}).get("sharpness")
        t.add_row(
            name,
            f"{sc['brier']:.4f}" if "brier" in sc else "—",
            _skill(sk.get("brier")),
            f"{sc['log']:.4f}" if "log" in sc else "—",
            f"{sc['crps']:.3f}" if "crps" in sc else "—",
            _skill(sk.get("crps")),
            f"{sharp:.2f}" if sharp is not None else "—",
        )
    console.print(t)
    for path in value.get("plots", []):
        console.print(f"wrote {path}")


def _skill(v: float | None) -> str:
    return "—" if v is None else f"{100 * v:+.1f}%"
