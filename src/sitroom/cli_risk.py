"""The risk commands: `sitroom question add|list|resolve|scores`, `sitroom forecast`,
`sitroom judge` and `sitroom backtest`. A thin shell over application.risk and
application.backtest."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from sitroom import render_risk
from sitroom.adapters import plots
from sitroom.application import backtest as bt
from sitroom.application import risk
from sitroom.domain.geo import parse_point, parse_radius
from sitroom.domain.places import find_place
from sitroom.domain.risk.questions import (
    BINARY,
    COUNT,
    Place,
    Question,
    Reference,
    parse_probability,
)
from sitroom.domain.timeutil import parse_duration
from sitroom.errors import UserInputError
from sitroom.shell import (
    AsOfOpt,
    JsonOpt,
    WorkspaceOpt,
    emit,
    emit_json,
    err,
    open_workspace,
    out,
    show,
    when,
)
from sitroom.workspace import Workspace

question_app = typer.Typer(
    no_args_is_help=True, help="Forecast questions: ask, list, resolve, score."
)


def register(app: typer.Typer) -> None:
    app.add_typer(question_app, name="question")
    app.command("forecast")(forecast)
    app.command("judge")(judge)
    app.command("backtest")(backtest)


def place(text: str) -> Place:
    """A known city ('Beirut') or LAT,LON, as a named place."""
    found = find_place(text)
    if found is not None:
        return Place(text.strip().title(), found.lat, found.lon)
    pt = parse_point(text)
    return Place(text.strip(), pt.lat, pt.lon)


def _track_venue(ws: Workspace, track: str) -> Place | None:
    tracks = ws.engine.view_many(["tracks"])["tracks"]["tracks"]
    if track not in tracks:
        raise UserInputError(f"no track {track!r} (add it with `sitroom tracks add`)")
    v = tracks[track].get("venue") or {}
    if "lat" in v and "lon" in v:
        return Place(v["name"], v["lat"], v["lon"])
    found = find_place(v.get("name") or "")
    return Place(v["name"], found.lat, found.lon) if found else None


def _slug(text: str) -> str:
    words = re.findall(r"[a-z0-9]+", text.lower())
    return "-".join(words)[:40].strip("-") or "question"


def _prior(text: str) -> tuple[float, float]:
    try:
        a, b = (float(x) for x in text.split(","))
    except ValueError:
        raise UserInputError(f"cannot read prior {text!r}: give A,B such as 1,1") from None
    return a, b


@question_app.command("add")
def question_add(
    text: Annotated[str, typer.Argument(help="The question, as analysts would ask it.")],
    workspace: WorkspaceOpt = Path("."),
    qid: Annotated[
        str | None, typer.Option("--id", help="Short id.", show_default="from the text")
    ] = None,
    by: Annotated[str | None, typer.Option("--by", help="Binary: the deadline (ISO 8601).")] = None,
    threshold: Annotated[
        int | None, typer.Option(help="Count: at least this many events in the window.", min=1)
    ] = None,
    start: Annotated[
        str | None, typer.Option("--from", help="Count: window start.", show_default="now")
    ] = None,
    until: Annotated[str | None, typer.Option(help="Count: window end.")] = None,
    window: Annotated[
        str, typer.Option(help="Count: window length when --until is not given.")
    ] = "7d",
    venue: Annotated[
        str | None, typer.Option(help="A city or LAT,LON.", show_default="the track's venue")
    ] = None,
    near: Annotated[
        list[str] | None, typer.Option(help="Further places (parties' capitals).")
    ] = None,
    radius: Annotated[str, typer.Option(help="Nearby means within this distance.")] = "500mi",
    track: Annotated[str | None, typer.Option(help="The track it is about.")] = None,
    rule: Annotated[
        str | None,
        typer.Option(
            help="meeting | events | analyst.", show_default="events, or meeting with --track"
        ),
    ] = None,
    reference: Annotated[
        str | None, typer.Option(help="Base rate: the reference class, in words.")
    ] = None,
    hits: Annotated[
        int, typer.Option(help="Base rate: cases in the class that happened.", min=0)
    ] = 0,
    of: Annotated[int, typer.Option("--of", help="Base rate: cases in the class.", min=0)] = 0,
    prior: Annotated[str, typer.Option(help="Beta prior A,B of the base rate.")] = "0.5,0.5",
    given: Annotated[str | None, typer.Option(help="Conditional on this question.")] = None,
    unconditional: Annotated[
        str | None, typer.Option("--unconditional", help="The same event's unconditional question.")
    ] = None,
    channel: Annotated[
        list[str] | None, typer.Option(help="Channels a meeting depends on.")
    ] = None,
    yes_status: Annotated[
        list[str] | None, typer.Option(help="Track statuses that mean yes.")
    ] = None,
    quad: Annotated[list[int] | None, typer.Option(help="CAMEO QuadClasses counted.")] = None,
    disagreement: Annotated[
        float | None, typer.Option(help="Flag members this far apart.", show_default="setting")
    ] = None,
    json: JsonOpt = False,
) -> None:
    """Ask a question. Binary with --by (a meeting by a date); count with --threshold (events
    within --radius of --venue in a window). Prints its first forecast."""
    with open_workspace(workspace) as ws:
        places = [place(venue)] if venue else []
        if not places and track:
            found = _track_venue(ws, track)
            places = [found] if found else []
        places += [place(x) for x in near or []]
        now = ws.engine.clock.now_ms()
        shape = COUNT if threshold is not None else BINARY
        if shape == COUNT:
            w_from = when(start) if start else None
            w_from = now if w_from is None else w_from
            deadline = when(until) if until else w_from + parse_duration(window)
        else:
            if by is None:
                raise UserInputError(
                    "a binary question needs --by DATE (or --threshold for a count)"
                )
            w_from, deadline = None, when(by)
        r = parse_radius(radius)
        q = Question(
            id=qid or _slug(text),
            text=text,
            shape=shape,
            rule=rule or ("events" if shape == COUNT else "meeting" if track else "analyst"),
            deadline_ms=deadline,
            track=track,
            places=tuple(places),
            radius_m=r.meters,
            radius_text=r.text,
            window_from_ms=w_from,
            threshold=threshold,
            quad_classes=tuple(quad or (4,)),
            prior=_prior(prior),
            reference=Reference(reference, hits, of) if reference else None,
            given=given,
            of=unconditional,
            channels=tuple(channel or ()),
            yes_status=tuple(yes_status or ("met",)),
            disagreement=disagreement,
            compartment=track or "",
        )
        value = risk.add_question(ws.engine, q)
    emit(value, json, render_risk.made)


@question_app.command("list")
def question_list(
    workspace: WorkspaceOpt = Path("."),
    status: Annotated[str | None, typer.Option(help="open | yes | no | void.")] = None,
    as_of: AsOfOpt = None,
    json: JsonOpt = False,
) -> None:
    """Questions with their latest forecast, range and flags."""
    with open_workspace(workspace) as ws:
        answer = risk.questions(ws.engine, as_of_ms=when(as_of), status=status)
    show(answer, json, "questions", render_risk.questions)


@question_app.command("resolve")
def question_resolve(
    question: Annotated[str, typer.Argument(help="Question id.")],
    outcome: Annotated[str, typer.Argument(help="yes | no | void.")],
    workspace: WorkspaceOpt = Path("."),
    by: Annotated[str, typer.Option(help="Who resolves it.")] = "analyst",
    reason: Annotated[str, typer.Option(help="Why, for the record.")] = "",
    json: JsonOpt = False,
) -> None:
    """Resolve a question by hand (questions with a rule also resolve themselves)."""
    with open_workspace(workspace) as ws:
        value = risk.resolve(ws.engine, question, outcome, by=by, reason=reason)
    if json:
        emit_json(value)
        return
    out.print(f"{question} resolved {outcome}")
    for v in value["voided"]:
        out.print(f"{v} is void: its condition resolved {outcome}")
    if value["score"]:
        agg = value["score"]["members"]["aggregate"]
        out.print(f"aggregate Brier {agg['brier']:.3f}, log {agg['log']:.3f}")


@question_app.command("scores")
def question_scores(
    workspace: WorkspaceOpt = Path("."), as_of: AsOfOpt = None, json: JsonOpt = False
) -> None:
    """Brier, log and CRPS per member and for the aggregate over resolved questions."""
    with open_workspace(workspace) as ws:
        answer = risk.scores(ws.engine, as_of_ms=when(as_of))
    show(answer, json, None, render_risk.scores)


def forecast(
    question: Annotated[
        str | None, typer.Argument(help="Question id.", show_default="every open one")
    ] = None,
    workspace: WorkspaceOpt = Path("."),
    as_of: AsOfOpt = None,
    json: JsonOpt = False,
) -> None:
    """The latest forecast: every member with what drives it, the aggregate, the spread and
    the flags."""
    with open_workspace(workspace) as ws:
        answer = risk.forecasts(ws.engine, question, as_of_ms=when(as_of))
    show(answer, json, "forecasts", render_risk.forecasts)


def judge(
    question: Annotated[str, typer.Argument(help="Question id.")],
    probability: Annotated[str, typer.Argument(help="0.3 or 30%.")],
    workspace: WorkspaceOpt = Path("."),
    analyst: Annotated[str, typer.Option(envvar="SITROOM_ANALYST", help="Who judges.")] = "analyst",
    rationale: Annotated[str, typer.Option(help="Why: kept with the judgment.")] = "",
    json: JsonOpt = False,
) -> None:
    """Add your probability to a question's ensemble (weighted by your record once questions
    resolve)."""
    with open_workspace(workspace) as ws:
        value = risk.judge(
            ws.engine,
            question,
            parse_probability(probability),
            analyst=analyst,
            rationale=rationale,
        )
    emit(value, json, render_risk.made)


def backtest(
    workspace: WorkspaceOpt = Path("."),
    place_: Annotated[
        list[str] | None,
        typer.Option(
            "--place", help="Venues (cities or LAT,LON).", show_default="every known city"
        ),
    ] = None,
    radius: Annotated[str, typer.Option(help="Nearby means within this distance.")] = "500mi",
    window: Annotated[str, typer.Option(help="Each question's window.")] = "90d",
    threshold: Annotated[
        list[int] | None, typer.Option(help="At least this many events (repeatable).")
    ] = None,
    start: Annotated[
        str | None,
        typer.Option(
            "--from", help="First forecast time.", show_default="a year after the first event"
        ),
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Last window's end.", show_default="the last event")
    ] = None,
    known: Annotated[
        str,
        typer.Option(
            help="When a record counts as known: valid (its valid time + --lag) or recorded."
        ),
    ] = "valid",
    lag: Annotated[str, typer.Option(help="With --known valid: publication delay.")] = "0d",
    plot: Annotated[
        Path | None, typer.Option(help="Write reliability.png and sharpness into this directory.")
    ] = None,
    json: JsonOpt = False,
) -> None:
    """Replay the log's events as they were known, forecast count questions at every window,
    and score the members and the aggregate against climatology and last-value baselines."""
    spec = bt.Spec(
        places=tuple(place(p) for p in place_) if place_ else bt.default_places(),
        radius=parse_radius(radius),
        window_ms=parse_duration(window),
        thresholds=tuple(threshold or (1,)),
        start_ms=when(start),
        until_ms=when(until),
        known=known,
        lag_ms=parse_duration(lag) if lag not in ("0", "0d") else 0,
    )
    with open_workspace(workspace) as ws:
        result = bt.run(ws.engine, spec, progress=None if json else _progress())
    if plot is not None:
        result["plots"] = [
            str(
                plots.reliability_diagram(
                    bt.curves(result), plot / "reliability.png", title=bt.title(result)
                )
            )
        ]
    body: dict[str, Any] = {k: v for k, v in result.items() if not k.startswith("_")}
    emit(body, json, render_risk.backtest)


def _progress() -> bt.Progress | None:
    if not err.is_terminal:
        return None
    bar = Progress(
        TextColumn("backtest"), BarColumn(), MofNCompleteColumn(), console=err, transient=True
    )
    task = bar.add_task("backtest", total=None)
    bar.start()

    def step(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)
        if done == total:
            bar.stop()

    return step
