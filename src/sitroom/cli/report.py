"""`sitroom report`: the after-action report of a window of the log — what was known, and when —
as one self-contained HTML page, Markdown with its plots beside it, or PDF (where a headless
Chromium is installed). Every check that can fail on what was typed (the format, the window,
the paths, the converter) runs before the report is gathered."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from sitroom.cli.shell import JsonOpt, WorkspaceOpt, emit, progress, room, when
from sitroom.errors import UserInputError

if TYPE_CHECKING:
    from rich.console import Console

    from sitroom.application.report import AfterAction, ReportWritten, Written

TOPIC = "Data in and out"
FORMATS = {"html": "html", "htm": "html", "md": "md", "markdown": "md", "pdf": "pdf"}


def register(app: typer.Typer) -> None:
    app.command(rich_help_panel=TOPIC)(report)


def _format(output: Path, given: str | None) -> str:
    if given is not None:
        fmt = FORMATS.get(given.lower())
        if fmt is None:
            raise UserInputError(f"unknown report format {given!r}: give html, md or pdf")
        return fmt
    fmt = FORMATS.get(output.suffix.lower().lstrip("."))
    if fmt is None:
        raise UserInputError(
            f"cannot tell the report format of {output.name}: name it .html, .md or .pdf, "
            "or give --format"
        )
    return fmt


def _writable(path: Path, workspace: Path) -> None:
    """UserInputError now, before any work, if ``path`` cannot be written: a folder that is not
    there or not this user's to write in, a folder in its place, or a workspace's own file."""
    from sitroom.adapters.outputs import refuse_own

    refuse_own(path, workspace)
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise UserInputError(f"cannot write {path}: it is a folder")
    if not folder.is_dir():
        raise UserInputError(f"cannot write {path}: no such folder {folder}")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UserInputError(f"cannot write {path}: permission denied")


def report(
    output: Annotated[
        Path,
        typer.Option(
            "--output", "-o", help="The file: .html, .md (plots as .svg beside it), .pdf."
        ),
    ],
    workspace: WorkspaceOpt = Path("."),
    from_: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="Recorded from this time (ISO 8601, -2d).",
            show_default="the log's start",
        ),
    ] = None,
    to: Annotated[
        str | None, typer.Option("--to", help="Recorded up to this time.", show_default="now")
    ] = None,
    fmt: Annotated[
        str | None,
        typer.Option("--format", help="html, md or pdf.", show_default="from the file's suffix"),
    ] = None,
    pdf: Annotated[
        bool, typer.Option("--pdf", help="Also print the report to a PDF beside it.")
    ] = False,
    json: JsonOpt = False,
) -> None:
    """The after-action report: the timeline of what was known when, every alert with its
    evidence and delay, forecasts over time, decisions and channel events, the tracks' status
    history; as you are cleared to see them."""
    from sitroom.adapters import aar_pdf
    from sitroom.application.report import ReportWritten

    kind = _format(output, fmt)
    pdf_path = output if kind == "pdf" else output.with_suffix(".pdf") if pdf else None
    if pdf_path is not None:
        aar_pdf.require_converter()
    start, end = when(from_), when(to)
    if start is not None and end is not None and start > end:
        raise UserInputError(f"--from {from_} is after --to {to}: give the earlier first")
    for path in {output, *([pdf_path] if pdf_path else [])}:
        _writable(path, workspace)
    with room(workspace) as r, progress(least=100_000) as step:
        built = r.reports.build(
            start,
            end,
            progress=None if step is None else (lambda done, total: step("report", done, total)),
        )
        built = dataclasses.replace(built, command=_command(built, workspace, output, fmt, pdf))
        files = _write(built, kind, output, pdf_path, workspace)
        emit(ReportWritten.of(built, files), json, _said)


def _command(
    built: AfterAction, workspace: Path, output: Path, fmt: str | None, pdf: bool
) -> tuple[str, ...]:
    """The command that writes this report again: the window as the times it resolved to."""
    from sitroom.domain.timeutil import iso

    w = built.window
    words = ["sitroom", "report", "-w", str(workspace)]
    if built.user is not None:
        words += ["-u", built.user]
    if w.from_ms is not None:
        words += ["--from", str(iso(w.from_ms))]
    words += ["--to", str(iso(w.to_ms)), "-o", str(output)]
    if fmt is not None:
        words += ["--format", fmt]
    return (*words, *(["--pdf"] if pdf else []))


def _write(
    built: AfterAction, kind: str, output: Path, pdf_path: Path | None, workspace: Path
) -> list[Written]:
    from sitroom.adapters import aar_html, aar_markdown, aar_pdf
    from sitroom.adapters.outputs import written
    from sitroom.application.report import Written

    files: list[Written] = []

    def put(path: Path, data: bytes, what: str) -> None:
        with written(path, workspace) as f:
            f.write(data)
        files.append(Written(str(path), what, len(data)))

    html = aar_html.render(built) if kind in ("html", "pdf") or pdf_path else None
    if kind == "html" and html is not None:
        put(output, html.encode(), "html")
    elif kind == "md":
        text, plots = aar_markdown.render(built, output.stem)
        for name, svg in plots.items():
            put(output.parent / name, svg.encode(), "svg")
        put(output, text.encode(), "md")
    if pdf_path is not None and html is not None:
        size = aar_pdf.write_pdf(html, pdf_path)
        files.append(Written(str(pdf_path), "pdf", size))
    return files


def _said(console: Console, result: ReportWritten) -> None:
    s = result.sections
    window = f"{result.window['from'] or 'the start'} to {result.window['to']}"
    for f in result.files:
        console.print(f"wrote {f.path} ({f.format}, {f.bytes:,} bytes)", markup=False)
    console.print(
        f"after-action report of {window} at seq {result.seq:,}: {s['timeline']:,} records on "
        f"the timeline, {s['alerts']:,} alerts, {s['forecasts']:,} forecasts, "
        f"{s['decisions']:,} decisions and channel events, {s['tracks']:,} tracks",
        markup=False,
    )
