"""The risk commands: `sitroom questions` (add, resolve, scores), `sitroom forecast`,
`sitroom judge` and `sitroom backtest`."""

from __future__ import annotations

import re
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from sitroom.cli.shell import (
    AsOfOpt,
    JsonOpt,
    SinceOpt,
    UntilOpt,
    WorkspaceOpt,
    duration,
    emit,
    place,
    progress,
    radius,
    room,
    when,
)
from sitroom.errors import UserInputError

if TYPE_CHECKING:
    from sitroom.domain.risk.questions import Place

TOPIC = "Risk"
questions_app = typer.Typer(
    help="Forecast questions: list, add, resolve, score.", invoke_without_command=True
)

PlacesOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--near",
        "--venue",
        help="A known place (Beirut) or LAT,LON; repeat for more (the venue first, then the "
        "parties' places).",
        show_default="the track's venue",
    ),
]
RadiusOpt = Annotated[str, typer.Option("--radius", help="Nearby means within this distance.")]


def register(app: typer.Typer) -> None:
    app.add_typer(questions_app, name="questions", rich_help_panel=TOPIC)
    for command in (forecast, judge, backtest):
        app.command(rich_help_panel=TOPIC)(command)


def _places(texts: list[str] | None) -> tuple[Place, ...]:
    """Places the user named, each with its name (a known city, title-cased) or its LAT,LON."""
    from sitroom.domain.risk.questions import Place

    named = []
    for text in texts or ():
        point = place(text)
        name = text.strip().title() if re.search(r"[A-Za-z]", text) else text.strip()
        named.append(Place(name, point.lat, point.lon))
    return tuple(named)


def _prior(text: str) -> tuple[float, float]:
    try:
        a, b = (float(x) for x in text.split(","))
    except ValueError:
        raise UserInputError(f"cannot read prior {text!r}: give A,B such as 1,1") from None
    return a, b


# questions --------------------------------------------------------------------------------
@questions_app.callback()
def questions(
    ctx: typer.Context,
    workspace: WorkspaceOpt = Path("."),
    status: Annotated[str | None, typer.Option(help="open, yes, no or void.")] = None,
    as_of: AsOfOpt = None,
    json: JsonOpt = False,
) -> None:
    """The questions with their latest forecast, range and flags (a subcommand adds, resolves
    or scores them)."""
    from sitroom.cli.render import risk as render

    if ctx.invoked_subcommand is not None:
        return
    with room(workspace) as r:
        emit(r.risk.questions(as_of_ms=when(as_of), status=status), json, render.questions)


@questions_app.command("add")
def question_add(
    text: Annotated[str, typer.Argument(help="The question, as analysts would ask it.")],
    workspace: WorkspaceOpt = Path("."),
    qid: Annotated[
        str | None, typer.Option("--id", help="Short id.", show_default="from the text")
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(help="The deadline (binary), or the window's end (count): 2026-12-15, +7d."),
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Count: the window's start.", show_default="now")
    ] = None,
    window: Annotated[
        str, typer.Option(help="Count: the window's length, without --until.")
    ] = "7d",
    threshold: Annotated[
        int | None, typer.Option(help="Count: at least this many events in the window.", min=1)
    ] = None,
    near: PlacesOpt = None,
    radius_: RadiusOpt = "500mi",
    track: Annotated[str | None, typer.Option(help="The track it is about.")] = None,
    rule: Annotated[
        str | None,
        typer.Option(help="meeting, events or analyst.", show_default="from the question"),
    ] = None,
    reference: Annotated[
        str | None, typer.Option(help="Base rate: the reference class, in words.")
    ] = None,
    hits: Annotated[int, typer.Option(help="Base rate: cases that happened.", min=0)] = 0,
    of: Annotated[int, typer.Option("--of", help="Base rate: cases in the class.", min=0)] = 0,
    prior: Annotated[str, typer.Option(help="Beta prior A,B of the base rate.")] = "0.5,0.5",
    given: Annotated[str | None, typer.Option(help="Conditional on this question.")] = None,
    unconditional: Annotated[
        str | None, typer.Option(help="The same event's unconditional question.")
    ] = None,
    channel: Annotated[list[str] | None, typer.Option(help="Channels a meeting needs.")] = None,
    yes_status: Annotated[
        list[str] | None, typer.Option(help="Track statuses that mean yes.", show_default="met")
    ] = None,
    quad: Annotated[list[int] | None, typer.Option(help="CAMEO QuadClasses counted.")] = None,
    disagreement: Annotated[
        str | None, typer.Option(help="Flag members this far apart: 0.4 or 40%.")
    ] = None,
    json: JsonOpt = False,
) -> None:
    """Ask a question and see its first forecast.

    Binary with --until (a meeting by a date); a count with --threshold (conflict events
    within --radius of the place in a window)."""
    from sitroom.cli.render import risk as render
    from sitroom.domain.risk.questions import parse_probability

    if until is None and threshold is None:
        raise UserInputError("a binary question needs --until DATE (a count: --threshold N)")
    with room(workspace) as r:
        asked = r.risk.add_question(
            text,
            id=qid,
            until_ms=when(until),
            since_ms=when(since),
            window_ms=duration(window),
            threshold=threshold,
            places=_places(near),
            radius=radius(radius_),
            track=track,
            rule=rule,
            reference=reference,
            hits=hits,
            of=of,
            prior=_prior(prior),
            given=given,
            unconditional=unconditional,
            channels=channel or (),
            yes_status=yes_status or ("met",),
            quad_classes=quad or (4,),
            disagreement=None if disagreement is None else parse_probability(disagreement),
        )
    emit(asked, json, render.asked)


@questions_app.command("edit")
def question_edit(
    question: Annotated[str, typer.Argument(help="Question id.")],
    reason: Annotated[
        str, typer.Option(help="Why it changes, for the record and its forecasters.")
    ],
    workspace: WorkspaceOpt = Path("."),
    text: Annotated[str | None, typer.Option(help="The question, reworded.")] = None,
    until: Annotated[str | None, typer.Option(help="The deadline or window's end.")] = None,
    since: Annotated[str | None, typer.Option(help="Count: the window's start.")] = None,
    threshold: Annotated[int | None, typer.Option(help="Count: events needed.", min=1)] = None,
    near: PlacesOpt = None,
    radius_: Annotated[str | None, typer.Option("--radius", help="Nearby distance.")] = None,
    json: JsonOpt = False,
) -> None:
    """Change an open question, as -u NAME: the judgments made on the old one are set aside
    and their authors told to judge again."""
    from sitroom.cli.render import risk as render

    given: dict[str, object] = {
        "text": text,
        "deadline_ms": when(until),
        "window_from_ms": when(since),
        "threshold": threshold,
        "places": _places(near) if near else None,
    }
    if radius_ is not None:
        given |= {"radius_m": radius(radius_).meters, "radius_text": radius(radius_).text}
    with room(workspace) as r:
        changes = {k: v for k, v in given.items() if v is not None}
        edited = r.risk.edit(question, reason=reason, **changes)
    emit(edited, json, render.asked)


@questions_app.command("resolve")
def question_resolve(
    question: Annotated[str, typer.Argument(help="Question id.")],
    outcome: Annotated[str, typer.Argument(help="yes, no or void.")],
    workspace: WorkspaceOpt = Path("."),
    reason: Annotated[str, typer.Option(help="Why, for the record.")] = "",
    json: JsonOpt = False,
) -> None:
    """Resolve a question by hand, as -u NAME (questions with a rule also resolve
    themselves)."""
    from sitroom.cli.render import risk as render

    with room(workspace) as r:
        emit(r.risk.resolve(question, outcome, reason=reason), json, render.settled)


@questions_app.command("scores")
def question_scores(
    workspace: WorkspaceOpt = Path("."), as_of: AsOfOpt = None, json: JsonOpt = False
) -> None:
    """Brier, log and CRPS per member and for the aggregate over the resolved questions."""
    from sitroom.cli.render import risk as render

    with room(workspace) as r:
        emit(r.risk.scores(as_of_ms=when(as_of)), json, render.scores)


# forecasts and judgments ------------------------------------------------------------------
def forecast(
    question: Annotated[
        str | None, typer.Argument(help="Question id.", show_default="every open one")
    ] = None,
    workspace: WorkspaceOpt = Path("."),
    as_of: AsOfOpt = None,
    json: JsonOpt = False,
) -> None:
    """The latest forecast: every member with what drives it, the aggregate, the range, the
    disagreement and the history."""
    from sitroom.cli.render import risk as render

    with room(workspace) as r:
        emit(r.risk.forecast(question, as_of_ms=when(as_of)), json, render.forecasts)


def judge(
    question: Annotated[str, typer.Argument(help="Question id.")],
    probability: Annotated[str, typer.Argument(help="0.35 or 35% (a bare number is 0 to 1).")],
    workspace: WorkspaceOpt = Path("."),
    rationale: Annotated[str, typer.Option(help="Why: kept with the judgment.")] = "",
    json: JsonOpt = False,
) -> None:
    """Add your probability (as -u NAME) to a question's ensemble: weighted by your record
    once questions resolve."""
    from sitroom.cli.render import risk as render
    from sitroom.domain.risk.questions import parse_probability

    p = parse_probability(probability)
    with room(workspace) as r:
        emit(r.risk.judge(question, p, rationale=rationale), json, render.judged)


def backtest(
    workspace: WorkspaceOpt = Path("."),
    near: Annotated[
        list[str] | None,
        typer.Option(
            "--near",
            "--place",
            help="Places (a known place or LAT,LON); repeat for more.",
            show_default="every known place",
        ),
    ] = None,
    radius_: RadiusOpt = "500mi",
    window: Annotated[str, typer.Option(help="Each question's window.")] = "90d",
    threshold: Annotated[
        list[int] | None, typer.Option(help="At least this many events (repeatable).", min=1)
    ] = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    known: Annotated[
        str,
        typer.Option(
            help="When an event counts as known: published (GDELT's DATEADDED, UCDP a year "
            "late, ACLED a week), valid (when it happened) or recorded (a live log)."
        ),
    ] = "published",
    lag: Annotated[str, typer.Option(help="A further delay before any event is known.")] = "0d",
    plot: Annotated[
        Path | None, typer.Option(help="Draw reliability.png into this directory.")
    ] = None,
    show: Annotated[bool, typer.Option("--progress/--no-progress", help="A progress bar.")] = True,
    json: JsonOpt = False,
) -> None:
    """Score the forecasters on the past, as it was known then.

    Replays the log's conflict events as they became known, forecasts count questions at every
    window since --since (default: a year after the first event), and scores the members and
    the aggregate against the climatology and last-value baselines."""
    from sitroom.application.backtest import Spec, default_places
    from sitroom.cli.render import risk as render

    spec = Spec(
        places=_places(near) or default_places(),
        radius=radius(radius_),
        window_ms=duration(window),
        thresholds=tuple(threshold or (1,)),
        start_ms=when(since),
        until_ms=when(until),
        known=known,
        lag_ms=0 if lag.strip() in ("0", "0d") else duration(lag),
    )
    with room(workspace) as r, progress(show and not json, least=1) as bar:
        step = partial(bar, "backtest") if bar else None
        done = r.risk.backtest(spec, plot_dir=plot, progress=step)
    emit(done, json, render.backtested)
