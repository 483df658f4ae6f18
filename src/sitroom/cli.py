"""The `sitroom` command: a thin shell over the library. It parses arguments, calls the use
cases, prints their answers (tables for people, --json for scripts) and turns sitroom's errors
into one line on stderr and a non-zero exit."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, BinaryIO

import orjson
import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from typer.exceptions import TyperException

from sitroom import cli_agree, cli_channels, cli_keys, cli_planning, cli_risk, cli_verify, render
from sitroom.adapters import acled, rss, stix, ucdp
from sitroom.adapters.clock import ManualClock, SystemClock
from sitroom.adapters.gdelt import connector as gdelt
from sitroom.adapters.gdelt.lookups import load_lookups
from sitroom.adapters.inputs import Input, count_lines, is_url, open_input
from sitroom.adapters.reports import parse_report
from sitroom.adapters.trackfile import parse_track_file, status_change
from sitroom.application import changes, intensity, queries, redline_rules
from sitroom.application.export import export_jsonl
from sitroom.application.ingest import Chunk, IngestReport, declare, ingest
from sitroom.application.replay import replay as replay_log
from sitroom.domain.geo import Point, parse_point, parse_radius
from sitroom.domain.kinds import ACTOR, ANALYST_REPORT, CLAIM, RELATIONSHIP
from sitroom.domain.places import find_place
from sitroom.domain.records import Record, RecordBatch
from sitroom.domain.timeutil import parse_duration
from sitroom.errors import SitroomError, SourceError, UserInputError
from sitroom.shell import (
    USER,
    AsOfOpt,
    JsonOpt,
    WorkspaceOpt,
    emit_json,
    err,
    open_workspace,
    out,
    read_text,
    show,
    when,
)
from sitroom.workspace import LOG_FILE, Workspace, settle

app = typer.Typer(
    name="sitroom",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    help="sitroom: a real-time situation room for concurrent negotiation tracks.",
)
ingest_app = typer.Typer(no_args_is_help=True, help="Bring data into the workspace.")
app.add_typer(ingest_app, name="ingest")
cli_planning.register(app)
cli_channels.register(app)
cli_risk.register(app)
cli_agree.register(app)
cli_verify.register(app)
cli_keys.register(app)


@app.callback()
def _options(
    user: Annotated[
        str | None,
        typer.Option(
            "--user",
            "-u",
            envvar="SITROOM_USER",
            help="Act as this user (once a workspace has users, every command needs one).",
        ),
    ] = None,
) -> None:
    """sitroom: a real-time situation room for concurrent negotiation tracks."""
    USER.set(user)


# commands ---------------------------------------------------------------------------------
@app.command()
def init(
    workspace: WorkspaceOpt = Path("."),
    site: Annotated[str | None, typer.Option(help="Site id stamped on every record.")] = None,
    json: JsonOpt = False,
) -> None:
    """Create a workspace (a directory with sitroom.toml and the log)."""
    ws = Workspace.init(workspace, site=site)
    with ws:
        info = {
            "workspace": str(ws.path.resolve()),
            "site": ws.settings.site,
            "log": str((ws.path / LOG_FILE).resolve()),
        }
    if json:
        emit_json(info)
    else:
        out.print(f"Created workspace {info['workspace']} (site {info['site']})")


@ingest_app.command("gdelt")
def ingest_gdelt(
    inputs: Annotated[
        list[str],
        typer.Argument(
            help="GDELT export files (.CSV, .zip), URLs of them, or a lastupdate.txt URL.",
            metavar="PATH|URL...",
        ),
    ],
    workspace: WorkspaceOpt = Path("."),
    follow: Annotated[
        bool,
        typer.Option(
            "--follow", help="Keep polling URLs (GDELT's lastupdate list) every --interval."
        ),
    ] = False,
    interval: Annotated[
        str | None,
        typer.Option(help="Polling interval with --follow.", show_default="poll_interval_s: 15m"),
    ] = None,
    polls: Annotated[int, typer.Option(help="Stop after this many polls (0: never).")] = 0,
    progress: Annotated[bool, typer.Option(help="Show a progress bar on long inputs.")] = True,
    json: JsonOpt = False,
) -> None:
    """Ingest GDELT 2.0 / 1.0 event files, archives or the live feed."""
    every = parse_duration(interval) if interval else None
    if follow and not all(is_url(i) for i in inputs):
        raise UserInputError("--follow polls URLs; name a URL such as GDELT's lastupdate.txt")
    lookups = load_lookups()
    # A followed feed runs unattended, as the site; a one-off ingest, as the user.
    with open_workspace(workspace, as_site=follow) as ws:
        declare(ws.engine, gdelt.declarations())
        if every is None:
            every = round(ws.settings.poll_interval_s * 1000)
        reports: list[IngestReport] = []
        n = 0
        failures: list[str] = []
        if follow:
            settle()
        while True:
            n += 1
            for spec in inputs:
                try:
                    for inp in gdelt.open_inputs(spec):
                        reports.append(
                            _ingest_one(
                                ws, inp, gdelt.chunks(inp, lookups), progress and not json, json
                            )
                        )
                except SourceError as e:
                    if not follow:
                        raise
                    # A live feed that fails one poll is retried at the next; if it stays
                    # silent, the overdue-source detector says so.
                    failures.append(str(e))
                    _fail(f"sitroom: warning: poll {n}: {e}")
            _tick(ws)
            if not follow or (polls and n >= polls):
                break
            _wait_for_next_poll(ws, every)
    if json:
        emit_json(
            {
                "files": [r.as_dict() for r in reports],
                "totals": _totals(reports),
                "failed_polls": failures,
            }
        )


def _tick(ws: Workspace) -> None:
    for a in ws.engine.tick():
        _fail(f"sitroom: alert: {a.payload['title']}")


def _wait_for_next_poll(ws: Workspace, every_ms: int) -> None:
    """Sleep until the next poll, waking to tick whenever a detector is due in between, so an
    overdue feed is reported when it becomes overdue rather than at the next poll."""
    clock = ws.engine.clock
    next_poll = clock.now_ms() + every_ms
    while (now := clock.now_ms()) < next_poll:
        due = ws.engine.next_due(now)
        wake = next_poll if due is None else min(due, next_poll)
        time.sleep(max(0, wake - now) / 1000)
        if due is not None and due <= next_poll:
            _tick(ws)


def _file_connector(
    name: str,
    what: str,
    summary: str,
    declarations: Callable[[], list[Record]],
    chunks: Callable[[Input], Iterable[Chunk]],
) -> None:
    """Register `sitroom ingest NAME`: files or URLs of one format, with a progress bar."""

    # Defaults rather than Annotated: these annotations must resolve at module level, and the
    # help text differs per connector.
    def command(
        inputs: list[str] = typer.Argument(  # noqa: B008
            ..., help=f"{what}, or URLs of them.", metavar="PATH|URL..."
        ),
        workspace: WorkspaceOpt = Path("."),
        progress: Annotated[bool, typer.Option(help="Show a progress bar on long inputs.")] = True,
        json: JsonOpt = False,
    ) -> None:
        _ingest_files(workspace, inputs, declarations(), chunks, progress, json)

    command.__doc__ = summary
    ingest_app.command(name)(command)


_file_connector(
    "ucdp",
    "UCDP GED CSV exports",
    "Ingest UCDP GED events (every upstream version kept; fatalities as given).",
    lambda: [ucdp.declaration()],
    ucdp.chunks,
)
_file_connector(
    "acled",
    "ACLED CSV exports",
    "Ingest ACLED events (every upstream version kept; fatalities as given).",
    lambda: [acled.declaration()],
    acled.chunks,
)


@ingest_app.command("stix")
def ingest_stix(
    inputs: Annotated[
        list[str],
        typer.Argument(help="STIX 2.1 bundles (JSON), or URLs of them.", metavar="PATH|URL..."),
    ],
    workspace: WorkspaceOpt = Path("."),
    json: JsonOpt = False,
) -> None:
    """Import STIX 2.1 bundles: actors, relationships, claims, reports; other objects kept whole."""

    def chunks(inp: Input) -> Iterator[Chunk]:
        records = stix.from_bundle(inp.label, bytes(inp.data), now_ms=SystemClock().now_ms())
        yield Chunk(RecordBatch.from_records(records), len(records))

    _ingest_files(workspace, inputs, [], chunks, False, json)


@ingest_app.command("rss")
def ingest_rss(
    inputs: Annotated[
        list[str], typer.Argument(help="RSS or Atom feeds: files or URLs.", metavar="PATH|URL...")
    ],
    workspace: WorkspaceOpt = Path("."),
    json: JsonOpt = False,
) -> None:
    """Ingest news items from RSS or Atom feeds (polling again adds nothing)."""
    with open_workspace(workspace) as ws:
        reports = []
        for spec in inputs:
            inp = rss.open_feed(spec)
            source = rss.feed_source(inp)
            declare(
                ws.engine,
                [rss.declaration(source, rss.feed_title(inp), url=spec if is_url(spec) else None)],
            )
            reports.append(_ingest_one(ws, inp, rss.chunks(inp), False, json))
        _tick(ws)
    if json:
        emit_json({"files": [r.as_dict() for r in reports], "totals": _totals(reports)})


def _ingest_files(
    workspace: Path,
    specs: list[str],
    declarations: list[Record],
    chunks: Callable[[Input], Iterable[Chunk]],
    progress: bool,
    json: bool,
) -> None:
    """The shape every file connector shares: declare the source, ingest each input."""
    with open_workspace(workspace) as ws:
        declare(ws.engine, declarations)
        reports = [
            _ingest_one(ws, inp, chunks(inp), progress and not json, json)
            for inp in (open_input(spec) for spec in specs)
        ]
        _tick(ws)
    if json:
        emit_json({"files": [r.as_dict() for r in reports], "totals": _totals(reports)})


def _ingest_one(
    ws: Workspace, inp: Input, chunks: Iterable[Chunk], show: bool, quiet: bool
) -> IngestReport:
    total = count_lines(inp)
    if show and total >= 50_000 and err.is_terminal:
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=err,
            transient=True,
        ) as bar:
            task = bar.add_task(Path(inp.label).name, total=total)
            report = ingest(ws.engine, inp.label, chunks, progress=lambda k: bar.advance(task, k))
    else:
        report = ingest(ws.engine, inp.label, chunks)
    if not quiet:
        out.print(
            f"{inp.label}: {report.rows:,} rows → {report.accepted:,} accepted, "
            f"{report.duplicates:,} duplicate, {report.quarantined:,} quarantined "
            f"({report.seconds:.2f}s)"
        )
        for a in report.alerts:
            err.print(f"[yellow]alert[/yellow] {a['title']}")
    return report


def _totals(reports: list[IngestReport]) -> dict[str, int]:
    return {
        k: sum(getattr(r, k) for r in reports)
        for k in ("rows", "accepted", "duplicates", "quarantined")
    }


@app.command()
def state(
    workspace: WorkspaceOpt = Path("."),
    as_of: AsOfOpt = None,
    top: Annotated[int, typer.Option(help="Countries to list.")] = 10,
    json: JsonOpt = False,
) -> None:
    """Summarise what the workspace knows (or knew --as-of a time)."""
    at = when(as_of)
    with open_workspace(workspace) as ws:
        answer = queries.state(ws.engine, at, top=top)
    show(answer, json, "state", render.state)


@app.command()
def events(
    workspace: WorkspaceOpt = Path("."),
    near: Annotated[str | None, typer.Option(help="LAT,LON centre of a radius search.")] = None,
    radius: Annotated[
        str | None, typer.Option(help="e.g. 500mi, 800km (miles by default).")
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Events happening at or after this time.")
    ] = None,
    until: Annotated[str | None, typer.Option(help="Events happening before this time.")] = None,
    as_of: AsOfOpt = None,
    limit: Annotated[int, typer.Option(help="Rows to show (0: all).")] = 50,
    json: JsonOpt = False,
) -> None:
    """List events, optionally within a radius of a point and a window of time."""
    if (near is None) != (radius is None):
        raise UserInputError("--near and --radius go together: give both, or neither")
    point = parse_point(near) if near else None
    rad = parse_radius(radius) if radius else None
    lo, hi = when(since), when(until)
    if lo is not None and hi is not None and hi <= lo:
        raise UserInputError("--until must be after --since")
    with open_workspace(workspace) as ws:
        answer = queries.events(
            ws.engine,
            near=point,
            radius=rad,
            since=lo,
            until=hi,
            as_of_ms=when(as_of),
            limit=limit or None,
        )
    show(answer, json, None, render.events)


@app.command()
def alerts(
    workspace: WorkspaceOpt = Path("."), as_of: AsOfOpt = None, json: JsonOpt = False
) -> None:
    """List alerts. Without --as-of, clock-driven detectors (overdue sources) check first."""
    at = when(as_of)
    with open_workspace(workspace) as ws:
        if at is None:
            ws.engine.tick()
        answer = queries.alerts(ws.engine, at)
    show(answer, json, "alerts", render.alerts)


report_app = typer.Typer(no_args_is_help=True, help="Analyst reports and the claims they carry.")
app.add_typer(report_app, name="report")


@report_app.command("add")
def report_add(
    files: Annotated[
        list[Path],
        typer.Argument(
            help="Reports: Markdown with YAML front matter (see docs/claims.md).", metavar="FILE..."
        ),
    ],
    workspace: WorkspaceOpt = Path("."),
    json: JsonOpt = False,
) -> None:
    """Add analyst reports and their claims (adding the same file again adds nothing)."""
    added = []
    for f, records, new in _append_files(workspace, files, parse_report):
        counts = {k: sum(r.kind == k for r in records) for k in (CLAIM, ACTOR, RELATIONSHIP)}
        added.append(
            {
                "file": str(f),
                "report": next(r.id for r in records if r.kind == ANALYST_REPORT),
                "claims": counts[CLAIM],
                "actors": counts[ACTOR],
                "relationships": counts[RELATIONSHIP],
                "new_records": new,
            }
        )
    if json:
        emit_json({"reports": added})
    else:
        for a in added:
            note = "" if a["new_records"] else " (already in the workspace)"
            parts = [
                f"{a[k]} {k[:-1] if a[k] == 1 else k}"
                for k in ("claims", "actors", "relationships")
                if a[k] or k == "claims"
            ]
            out.print(f"{a['file']}: report with {', '.join(parts)}{note}")


@app.command()
def claims(
    subject: Annotated[str, typer.Argument(help="What the claims are about, e.g. Hezbollah.")],
    workspace: WorkspaceOpt = Path("."),
    as_of: AsOfOpt = None,
    valid_at: Annotated[
        str | None,
        typer.Option(help="Show claims valid at this time.", show_default="the as-of time"),
    ] = None,
    every: Annotated[
        bool, typer.Option("--all", help="Show claims whatever their valid time.")
    ] = False,
    prop: Annotated[
        list[str] | None, typer.Option("--property", "-p", help="Only these properties.")
    ] = None,
    json: JsonOpt = False,
) -> None:
    """Every value sources claimed for a subject's properties, side by side; conflicts marked."""
    with open_workspace(workspace) as ws:
        answer = queries.claims(
            ws.engine,
            subject,
            when(as_of),
            valid_at_ms=when(valid_at),
            every=every,
            properties=prop,
        )
    show(answer, json, None, render.claims)


redline_app = typer.Typer(no_args_is_help=True, help="Red lines: rules checked on every new event.")
app.add_typer(redline_app, name="redline")


@redline_app.command("add")
def redline_add(
    name: Annotated[str, typer.Argument(help="A short name, e.g. beirut-fatalities.")],
    rule: Annotated[
        str, typer.Argument(help="e.g. 'fatalities >= 50 within 100mi of Beirut in 24h'.")
    ],
    workspace: WorkspaceOpt = Path("."),
    severity: Annotated[str, typer.Option(help="info, warning or critical.")] = "warning",
    json: JsonOpt = False,
) -> None:
    """Add a red line (checked on every event that arrives from now on)."""
    with open_workspace(workspace) as ws:
        added = redline_rules.add(ws.engine, name, rule, severity)
    if json:
        emit_json(added)
    else:
        out.print(f"Red line '{name}' added: {rule}")


@redline_app.command("list")
def redline_list(
    workspace: WorkspaceOpt = Path("."), as_of: AsOfOpt = None, json: JsonOpt = False
) -> None:
    """The red lines in force."""
    with open_workspace(workspace) as ws:
        answer = redline_rules.listing(ws.engine, when(as_of))
    show(answer, json, "redlines", render.redlines)


@redline_app.command("test")
def redline_test(
    rule: Annotated[str, typer.Argument(help="A rule, as for 'redline add'.")],
    workspace: WorkspaceOpt = Path("."),
    as_of: AsOfOpt = None,
    json: JsonOpt = False,
) -> None:
    """What a rule would match in the data already held, and when it would have fired."""
    with open_workspace(workspace) as ws:
        answer = redline_rules.test(ws.engine, rule, when(as_of))
    show(answer, json, None, render.redline_test)


tracks_app = typer.Typer(
    help="Negotiation tracks: shared people and assets, deadlocks, contention.",
    invoke_without_command=True,
)
app.add_typer(tracks_app, name="tracks")


@tracks_app.callback()
def tracks_list(
    ctx: typer.Context,
    workspace: WorkspaceOpt = Path("."),
    as_of: AsOfOpt = None,
    json: JsonOpt = False,
) -> None:
    """The tracks, their status, needs and preconditions (a subcommand does more)."""
    if ctx.invoked_subcommand is not None:
        return
    with open_workspace(workspace) as ws:
        answer = queries.tracks(ws.engine, when(as_of))
    show(answer, json, "tracks", render.tracks)


@tracks_app.command("add")
def tracks_add(
    files: Annotated[list[Path], typer.Argument(help="Track files (YAML).", metavar="FILE...")],
    workspace: WorkspaceOpt = Path("."),
    json: JsonOpt = False,
) -> None:
    """Add or change tracks, resources and holdings from track files."""
    added = [
        {"file": str(f), "records": len(records), "new": new}
        for f, records, new in _append_files(workspace, files, parse_track_file)
    ]
    if json:
        emit_json({"files": added})
    else:
        for row in added:
            out.print(f"{row['file']}: {row['records']} entries, {row['new']} new or changed")


@tracks_app.command("status")
def tracks_status(
    track: Annotated[str, typer.Argument(help="Track id.")],
    status: Annotated[str, typer.Argument(help="Its new status, e.g. agreed.")],
    workspace: WorkspaceOpt = Path("."),
    json: JsonOpt = False,
) -> None:
    """Record a track's new status (preconditions on it may now be met)."""
    with open_workspace(workspace) as ws:
        known = ws.engine.view_many(["tracks"])["tracks"]["tracks"]
        if track not in known:
            raise UserInputError(f"no track {track!r} (see `sitroom tracks`)")
        ws.engine.append([status_change(track, status, now_ms=ws.engine.clock.now_ms())])
    if json:
        emit_json({"track": track, "status": status})
    else:
        out.print(f"{track}: {status}")


@tracks_app.command("check")
def tracks_check(
    workspace: WorkspaceOpt = Path("."),
    at: Annotated[
        str | None, typer.Option(help="Check the wait-for graph at this time.", show_default="now")
    ] = None,
    as_of: AsOfOpt = None,
    json: JsonOpt = False,
) -> None:
    """Deadlocks between tracks and resources, explained, and over-allocated resources."""
    with open_workspace(workspace) as ws:
        answer = queries.tracks_check(ws.engine, when(as_of), at_ms=when(at))
    show(answer, json, None, render.tracks_check)


def _append_files(
    workspace: Path, files: list[Path], parse: Callable[..., list[Record]]
) -> list[tuple[Path, list[Record], int]]:
    """Read, parse and append each file (one append each); alerts they raise go to stderr.
    Returns (file, its records, how many were new)."""
    done = []
    with open_workspace(workspace) as ws:
        for f in files:
            records = parse(str(f), read_text(f), now_ms=ws.engine.clock.now_ms())
            outcome = ws.engine.append(records)
            for alert in outcome.alerts:
                err.print(f"[red]alert[/red] {alert.payload['title']}", highlight=False)
            done.append((f, records, outcome.appended))
    return done


@app.command()
def quarantine(
    workspace: WorkspaceOpt = Path("."), as_of: AsOfOpt = None, json: JsonOpt = False
) -> None:
    """List input rows that could not be accepted, with file, line, raw text and reason."""
    with open_workspace(workspace) as ws:
        answer = queries.quarantine(ws.engine, when(as_of))
    show(answer, json, "quarantined", render.quarantine)


@app.command()
def export(
    fmt: Annotated[
        str,
        typer.Argument(
            help="jsonl (the log, one record per line) or stix (a STIX 2.1 bundle of actors, "
            "relationships, claims, red lines and reports).",
            metavar="[jsonl|stix]",
        ),
    ] = "jsonl",
    workspace: WorkspaceOpt = Path("."),
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="File to write (default: standard output)."),
    ] = None,
    as_of: AsOfOpt = None,
    json: JsonOpt = False,
) -> None:
    """Write the log as JSON Lines, or the picture as a STIX 2.1 bundle."""
    if fmt not in ("jsonl", "stix"):
        raise UserInputError(f"export format must be jsonl or stix, got {fmt!r}")
    at = when(as_of)
    with open_workspace(workspace) as ws:

        def write(f: BinaryIO) -> int:
            if fmt == "jsonl":
                return export_jsonl(ws.engine, f, at)
            bundle = stix.export_workspace(ws.engine, ws.settings.site, at)
            f.write(bundle.serialize(pretty=True).encode())
            f.write(b"\n")
            return len(bundle.objects)

        if output is None:
            n = write(sys.stdout.buffer)
        else:
            try:
                with output.open("wb") as f:
                    n = write(f)
            except OSError as e:
                raise UserInputError(f"cannot write {output}: {e.strerror}") from None
    if output is not None:
        what = "records" if fmt == "jsonl" else "STIX objects"
        if json:
            emit_json({what.replace("STIX ", "stix_"): n, "output": str(output)})
        else:
            out.print(f"Exported {n:,} {what} to {output}")


@app.command("intensity")
def intensity_cmd(
    near: Annotated[str, typer.Option(help="LAT,LON or a known city (e.g. Beirut).")],
    workspace: WorkspaceOpt = Path("."),
    radius: Annotated[str, typer.Option(help="e.g. 500mi, 800km (miles by default).")] = "500mi",
    window: Annotated[str, typer.Option(help="Length of each window.")] = "7d",
    until: Annotated[
        str | None, typer.Option(help="End of the current window.", show_default="the as-of time")
    ] = None,
    previous: Annotated[int, typer.Option(help="Earlier windows for the trend.")] = 4,
    as_of: AsOfOpt = None,
    json: JsonOpt = False,
) -> None:
    """Conflict intensity within a radius: events by QuadClass, fatalities, Goldstein, trend."""
    centre = _place(near)
    with open_workspace(workspace) as ws:
        answer = intensity.intensity(
            ws.engine,
            centre,
            parse_radius(radius),
            parse_duration(window),
            until_ms=when(until),
            as_of_ms=when(as_of),
            previous=previous,
        )
    show(answer, json, None, render.intensity)


def _place(text: str) -> Point:
    found = find_place(text)
    return found if found is not None else parse_point(text)


@app.command()
def diff(
    workspace: WorkspaceOpt = Path("."),
    since: Annotated[
        str, typer.Option("--from", help="The earlier time (e.g. -1d, 2026-11-24).")
    ] = "-1d",
    until: Annotated[
        str | None, typer.Option("--to", help="The later time.", show_default="now")
    ] = None,
    json: JsonOpt = False,
) -> None:
    """What changed in the picture between two times: arrivals, claims, actors, revisions."""
    with open_workspace(workspace) as ws:
        start = when(since)
        assert start is not None
        answer = changes.diff(ws.engine, start, when(until))
    show(answer, json, None, render.diff)


@app.command()
def actors(
    workspace: WorkspaceOpt = Path("."),
    as_of: AsOfOpt = None,
    kind: Annotated[str | None, typer.Option("--type", help="Only this type.")] = None,
    json: JsonOpt = False,
) -> None:
    """The actors the workspace knows: from actor records, STIX imports and event data."""
    with open_workspace(workspace) as ws:
        answer = queries.actors(ws.engine, when(as_of), kind=kind)
    show(answer, json, "actors", render.actors)


@app.command()
def actor(
    name: Annotated[str, typer.Argument(help="A name, alias or key, e.g. Hezbollah.")],
    workspace: WorkspaceOpt = Path("."),
    as_of: AsOfOpt = None,
    window: Annotated[str, typer.Option(help="Window of the event signals.")] = "30d",
    json: JsonOpt = False,
) -> None:
    """One actor: who it is, its aliases, its relationships over time, and how it and each
    counterpart treat each other in the event data (cooperation against conflict)."""
    with open_workspace(workspace) as ws:
        answer = queries.actor(ws.engine, name, when(as_of), window_ms=parse_duration(window))
    show(answer, json, None, render.actor)


@app.command()
def replay(
    logfile: Annotated[Path, typer.Argument(help="A log exported with `sitroom export`.")],
    workspace: WorkspaceOpt = Path("."),
    speed: Annotated[
        float,
        typer.Option(
            help="Times real time (e.g. 60: an hour a minute); 0 replays as fast as possible."
        ),
    ] = 0.0,
    json: JsonOpt = False,
) -> None:
    """Replay an exported log into a fresh workspace; alerts fire as they would have."""
    if speed < 0:
        raise UserInputError("--speed must be 0 (as fast as possible) or more")
    if not logfile.is_file():
        raise SourceError(f"no such file: {logfile}")
    rows = _read_jsonl(logfile)
    clock = ManualClock(0)
    ws = (
        Workspace.open(workspace, clock=clock)
        if (workspace / LOG_FILE).exists()
        else Workspace.init(workspace, clock=clock)
    )
    with ws:

        def show(a: dict[str, Any]) -> None:
            if not json:
                out.print(
                    f"[yellow]alert[/yellow] at {a['detail'].get('due_at') or a['at']}: "
                    f"{a['title']}"
                )

        report = replay_log(ws.engine, clock, rows, speed=speed, sleep=time.sleep, on_alert=show)
    result = report.as_dict()
    if json:
        emit_json(result)
    else:
        out.print(
            f"Replayed {result['records']:,} records; {len(result['alerts_raised'])} alerts "
            f"raised ({result['reproduced']} of {result['original_alerts']} original "
            "alerts reproduced)"
        )


EXPORT_FIELDS = {"id", "kind", "kind_version", "source", "payload", "recorded_time"}


def _read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open("rb") as f:
        for i, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = orjson.loads(line)
            except orjson.JSONDecodeError as e:
                raise SourceError(f"{path}:{i}: not a JSON line ({e})") from None
            missing = EXPORT_FIELDS - set(row) if isinstance(row, dict) else EXPORT_FIELDS
            if missing:
                raise SourceError(
                    f"{path}:{i}: not a record exported by sitroom "
                    f"(missing {', '.join(sorted(missing))})"
                )
            yield row


@app.command()
def demo(
    workspace: Annotated[
        Path, typer.Option("--workspace", "-w", help="Demo workspace directory.")
    ] = Path("sitroom-demo"),
    json: JsonOpt = False,
) -> None:
    """Create a workspace, ingest the real GDELT sample files shipped with sitroom, show state."""
    if not (workspace / LOG_FILE).exists():
        Workspace.init(workspace).close()
    demo_dir = resources.files("sitroom").joinpath("data", "demo")
    files = sorted(
        (p for p in demo_dir.iterdir() if p.name.endswith((".CSV", ".tsv", ".txt"))),
        key=lambda p: p.name,
    )
    lookups = load_lookups()
    with open_workspace(workspace) as ws:
        declare(ws.engine, [*gdelt.declarations(), ucdp.declaration()])
        reports = [
            _ingest_one(ws, inp, gdelt.chunks(inp, lookups), False, json)
            for f in files
            for inp in gdelt.open_inputs(str(f))
        ]
        ged = open_input(str(demo_dir.joinpath("ucdpged_sample.csv")))
        reports.append(_ingest_one(ws, ged, ucdp.chunks(ged), False, json))
        answer = queries.state(ws.engine)
    if json:
        emit_json(
            {
                "files": [r.as_dict() for r in reports],
                "state": answer.value,
                "provenance": answer.provenance.as_dict(),
            }
        )
    else:
        out.print()
        render.state(out, answer.value, answer.provenance)
        out.print(
            f"\nWorkspace: {workspace.resolve()}  —  try: sitroom events -w {workspace} "
            "--near 33.89,35.50 --radius 500mi"
        )


# entry point ------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> None:
    """Run the CLI; user mistakes become one line on stderr and a non-zero exit."""
    code = run(argv)
    sys.exit(code)


def _fail(message: str) -> None:
    # Plain stderr, not rich: an error is one line, never wrapped to the terminal's width.
    sys.stderr.write(message + "\n")


def run(argv: list[str] | None = None) -> int:
    try:
        result = app(args=argv, prog_name="sitroom", standalone_mode=False)
    except typer.Abort:
        _fail("sitroom: aborted")
        return 130
    except SitroomError as e:
        _fail(f"sitroom: error: {e}")
        return e.exit_code
    except TyperException as e:  # usage errors: unknown option, missing argument, bad value
        message = e.format_message() if hasattr(e, "format_message") else str(e)
        if type(e).__name__ == "NoArgsIsHelpError":  # a bare `sitroom`: help, not an error
            sys.stdout.write(message + "\n")
            return 0
        _fail(f"sitroom: error: {message}")
        return int(getattr(e, "exit_code", 2))
    except KeyboardInterrupt:
        _fail("sitroom: interrupted")
        return 130
    except BrokenPipeError:
        return 0
    return result if isinstance(result, int) else 0
