"""Bringing data in: `sitroom init`, `sitroom ingest FORMAT`, `sitroom reports add`,
`sitroom replay` and `sitroom demo`."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

from sitroom.cli.shell import (
    JsonOpt,
    WorkspaceOpt,
    duration,
    emit,
    emit_json,
    out,
    progress,
    room,
    say,
    warn,
)
from sitroom.errors import UserInputError

TOPIC = "Data in and out"
ingest_app = typer.Typer(no_args_is_help=True, help="Bring data into the workspace.")
reports_app = typer.Typer(no_args_is_help=True, help="Analyst reports and the claims they carry.")

FORMATS = {
    "gdelt": (
        "GDELT 2.0 / 1.0 event files (.CSV, .zip), their URLs, or GDELT's lastupdate.txt URL",
        "Ingest GDELT 2.0 / 1.0 event files, archives or the live feed.",
    ),
    "ucdp": (
        "UCDP GED CSV exports, or URLs of them",
        "Ingest UCDP GED events (every upstream version kept; fatalities as given).",
    ),
    "acled": (
        "ACLED CSV exports, or URLs of them",
        "Ingest ACLED events (every upstream version kept; fatalities as given).",
    ),
    "rss": (
        "RSS or Atom feeds: files or URLs",
        "Ingest news items from RSS or Atom feeds (polling again adds nothing).",
    ),
    "stix": (
        "STIX 2.1 bundles (JSON), or URLs of them",
        "Import STIX 2.1 bundles: actors, relationships, claims, reports; the rest kept whole.",
    ),
}


def register(app: typer.Typer) -> None:
    app.command(rich_help_panel=TOPIC)(init)
    app.add_typer(ingest_app, name="ingest", rich_help_panel=TOPIC)
    app.add_typer(reports_app, name="reports", rich_help_panel=TOPIC)
    app.command(rich_help_panel=TOPIC)(replay)
    app.command(rich_help_panel=TOPIC)(demo)
    for name, (what, summary) in FORMATS.items():
        _format_command(name, what, summary)


def init(
    workspace: WorkspaceOpt = Path("."),
    site: Annotated[str | None, typer.Option(help="Site id stamped on every record.")] = None,
    postgres: Annotated[
        str | None,
        typer.Option(
            help="Keep the log in this PostgreSQL database (postgresql://USER@HOST:PORT/DB) "
            "instead of the workspace's SQLite file: a team's log on one server.",
            metavar="URL",
        ),
    ] = None,
    json: JsonOpt = False,
) -> None:
    """Create a workspace (a directory with sitroom.toml, the log and this site's keys)."""
    import sitroom

    with sitroom.init(workspace, site=site, postgres=postgres) as r:
        made = {"workspace": str(r.path.resolve()), "site": r.site}
    if json:
        emit_json(made)
    else:
        say(f"Created workspace {made['workspace']} (site {made['site']})")


def _format_command(name: str, what: str, summary: str) -> None:
    """`sitroom ingest NAME PATH|URL...`: files or URLs of one format, or a followed feed."""

    # Defaults rather than Annotated: the help differs per format.
    def command(
        inputs: list[str] = typer.Argument(..., help=f"{what}.", metavar="PATH|URL..."),  # noqa: B008
        workspace: WorkspaceOpt = Path("."),
        follow: bool = typer.Option(False, "--follow", help="Keep polling the URLs."),
        interval: str | None = typer.Option(
            None, help="Polling interval with --follow.", show_default="poll_interval_s: 15m"
        ),
        polls: int = typer.Option(0, help="Stop after this many polls (0: never).", min=0),
        show: bool = typer.Option(True, "--progress/--no-progress", help="Progress bars."),
        json: JsonOpt = False,
    ) -> None:
        if follow:
            _follow(workspace, name, inputs, interval, polls, json)
            return
        from sitroom.cli.render import world as render

        with room(workspace) as r, progress(show and not json) as bar:
            done = r.ingest.feeds(name, inputs, progress=bar)
        emit(done, json, render.ingested)
        _alerts([a.title for f in done.files for a in f.alerts] + [a.title for a in done.alerts])

    command.__doc__ = summary
    ingest_app.command(name)(command)


def _follow(
    workspace: Path, name: str, inputs: list[str], interval: str | None, polls: int, json: bool
) -> None:
    """A live feed, polled until --polls or SIGTERM/Ctrl-C, as the site itself."""
    from sitroom.adapters.inputs import is_url
    from sitroom.cli.render import world as render
    from sitroom.room import settle

    if not all(is_url(i) for i in inputs):
        raise UserInputError("--follow polls URLs; name a URL such as GDELT's lastupdate.txt")
    every = duration(interval) if interval else None
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with room(workspace, as_site=True) as r:
        settle()
        done = r.ingest.follow(
            name,
            inputs,
            every_ms=every,
            polls=polls,
            on_report=None if json else lambda rep: render.ingest_report(out(), rep),
            on_alert=lambda a: warn(f"sitroom: alert: {a.title}"),
            on_failure=lambda n, why: warn(f"sitroom: warning: poll {n}: {why}"),
            stop=stop.is_set,
        )
    if json:
        emit_json(done.to_json())


def _alerts(titles: list[str]) -> None:
    for title in titles:
        warn(f"alert {title}")


@reports_app.command("add")
def reports_add(
    files: Annotated[
        list[Path],
        typer.Argument(
            help="Markdown with YAML front matter (see docs/claims.md).", metavar="FILE..."
        ),
    ],
    workspace: WorkspaceOpt = Path("."),
    json: JsonOpt = False,
) -> None:
    """Add analyst reports and their claims (adding the same file again adds nothing)."""
    from sitroom.cli.render import world as render

    with room(workspace) as r:
        added = r.ingest.reports([str(f) for f in files])
    emit(added, json, render.reports_added)
    _alerts([a.title for rep in added.reports for a in rep.alerts])


def replay(
    logfile: Annotated[Path, typer.Argument(help="A log exported with `sitroom export`.")],
    workspace: WorkspaceOpt = Path("."),
    speed: Annotated[
        float, typer.Option(help="Times real time (60: an hour a minute); 0: as fast as it goes.")
    ] = 0.0,
    json: JsonOpt = False,
) -> None:
    """Replay an exported log into a fresh workspace; alerts fire as they would have."""
    import sitroom
    from sitroom.cli.render import world as render

    def shown(a: sitroom.ReplayedAlert) -> None:
        warn(f"alert at {a.at}: {a.title}")

    with progress(not json, least=10_000) as bar:
        done = sitroom.replay(
            workspace,
            logfile,
            speed=speed,
            on_alert=None if json else shown,
            progress=None if bar is None else lambda n, total: bar("replay", n, total),
        )
    emit(done, json, render.replayed)


def demo(
    workspace: Annotated[
        Path, typer.Option("--workspace", "-w", help="Demo workspace directory.")
    ] = Path("sitroom-demo"),
    scenario: Annotated[
        Path | None,
        typer.Option(help="A scenario file of your own (a copy of the shipped one, changed)."),
    ] = None,
    day_seconds: Annotated[
        float,
        typer.Option(
            "--day-seconds", help="Real seconds per virtual day (0: as fast as it goes).", min=0
        ),
    ] = 1.0,
    samples: Annotated[
        bool,
        typer.Option(
            "--samples", help="Only ingest the shipped GDELT and UCDP samples and show the state."
        ),
    ] = False,
    serve: Annotated[
        bool, typer.Option("--serve", help="Then serve the demo room (`sitroom serve`).")
    ] = False,
    json: JsonOpt = False,
) -> None:
    """Play the seed's case — US–Iran talks in Geneva, postponed while the Israel–Lebanon
    ceasefire took the same people — on a virtual clock: each alert as it fires, then what the
    team could have known, and when."""
    if samples:
        _samples(workspace, json)
    else:
        _scenario(workspace, scenario, day_seconds, json)
    if serve:
        from sitroom.cli.serve import serve as run_server

        run_server(workspace=workspace)


def _scenario(workspace: Path, scenario: Path | None, day_seconds: float, json: bool) -> None:
    from sitroom import demo as play
    from sitroom.cli.render import demo as render

    sc = play.load(scenario)
    play.prepare(workspace)  # a refusal is its one line, before anything else is said
    if not json:
        warn(f"sitroom demo: {sc.title}, in {workspace}")

    def step(n: int, total: int, at: str, what: str) -> None:
        if not json:
            warn(f"[{n}/{total}] {at[:16].replace('T', ' ')}  {what}")

    def alert(a: play.DemoAlert) -> None:
        if not json:
            render.fired(out(), a)

    done = play.run(workspace, sc, day_seconds=day_seconds, on_alert=alert, on_step=step)
    emit(done, json, render.summary)


def _samples(workspace: Path, json: bool) -> None:
    """What `demo` did before the scenario: the real samples, ingested, and the state."""
    import sitroom
    from sitroom.cli.render import world as render

    if not sitroom.is_room(workspace):
        sitroom.init(workspace).close()
    with room(workspace) as r, progress(not json) as bar:
        ingested = r.ingest.samples(progress=bar)
        state = r.world.state()
    if json:
        emit_json({"ingested": ingested.to_json(), "state": state.to_json()})
        return
    render.ingested(out(), ingested)
    out().print()
    render.state(out(), state)
    say(
        f"\nWorkspace: {workspace.resolve()} — try: sitroom events -w {workspace} "
        "--near Beirut --radius 500mi"
    )
