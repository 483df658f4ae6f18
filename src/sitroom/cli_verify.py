"""`sitroom verify`: check the audit chain of a workspace's log and name the first record that
is not as it was written. A thin shell over application.audit.

Exit 0 when the log is intact, 7 when it was tampered with (changed, removed or re-ordered
records, a forged or contradicted checkpoint); other errors exit as usual (2: no workspace).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from sitroom.adapters.keystore import KEYS_DIR, KeyStore
from sitroom.adapters.log_sqlite import SqliteLog
from sitroom.application.audit import Report, verify
from sitroom.domain.secure import audit
from sitroom.domain.secure.codec import b64
from sitroom.domain.secure.identity import Identity
from sitroom.errors import SecureError, WorkspaceError
from sitroom.settings import Settings
from sitroom.shell import JsonOpt, WorkspaceOpt, emit_json, err, out
from sitroom.workspace import LOG_FILE, Workspace

TAMPERED = 7
_PROGRESS_FROM = 200_000  # records: below this a walk takes well under a second


def register(app: typer.Typer) -> None:
    app.command("verify")(verify_cmd)


def verify_cmd(
    workspace: WorkspaceOpt = Path("."),
    json: JsonOpt = False,
    deep: Annotated[
        bool,
        typer.Option(
            "--deep", help="Also decode every segment and check its records and their ids."
        ),
    ] = False,
    no_checkpoint: Annotated[
        bool,
        typer.Option("--no-checkpoint", help="Do not sign the verified head afterwards."),
    ] = False,
) -> None:
    """Verify the audit chain: no record changed, removed or re-ordered; the first bad one
    named. Exit 7 if the log was tampered with."""
    settings, log = _open_log(workspace)
    try:
        anchor = _anchor(workspace, settings.site)
        report = _run(log, anchor, settings.site, deep=deep, bar=not json)
    finally:
        log.close()
    written = None
    if report.ok and not no_checkpoint:
        written = _checkpoint(workspace, report)
    if json:
        emit_json({**report.as_dict(), "checkpoint_written": written})
    else:
        _render(workspace, settings.site, report, written)
    if not report.ok:
        raise typer.Exit(TAMPERED)


def _open_log(path: Path) -> tuple[Settings, SqliteLog]:
    """The log alone, not the workspace: opening a workspace folds the log into projections,
    and a tampered record may not even decode."""
    if not (path / LOG_FILE).exists():
        raise WorkspaceError(
            f"no sitroom workspace in {path.resolve()} (create one with `sitroom init`, "
            "or pass --workspace DIR)"
        )
    settings = Settings.load(path)
    return settings, SqliteLog(path / LOG_FILE, durability=settings.durability)


def _anchor(path: Path, site: str) -> Identity | None:
    """The site's public card, from the keystore: the trust anchor outside the log."""
    keys = KeyStore(path / KEYS_DIR)
    if not keys.exists(site):
        return None
    return keys.public(site)


def _run(log: SqliteLog, anchor: Identity | None, site: str, *, deep: bool, bar: bool) -> Report:
    if not (bar and err.is_terminal and log.last_seq() >= _PROGRESS_FROM):
        return verify(log, anchor, site=site, deep=deep)
    with Progress(
        TextColumn("verify"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    ) as progress:
        task = progress.add_task("verify", total=log.last_seq())

        def step(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        return verify(log, anchor, site=site, deep=deep, progress=step)


def _checkpoint(path: Path, report: Report) -> str | None:
    """Sign the head just verified (not the log's head now: a writer may have appended since,
    and that is not verified). None if the site has no key to sign with."""
    if report.seq == 0:
        return None
    with Workspace.open(path) as ws:
        try:
            secret = ws.site_secret()
        except (SecureError, WorkspaceError) as e:
            report.notes.append(f"no checkpoint signed: {e}")
            return None
        record = audit.checkpoint_record(secret, report.seq, report.head, ws.engine.clock.now_ms())
        if not ws.engine.append([record]).appended:
            report.notes.append(f"the head at {report.seq} was signed already ({record.id})")
            return None
        return record.id


def _render(path: Path, site: str, report: Report, written: str | None) -> None:
    # Plain text: paths, ids and reason codes hold brackets that are not rich markup.
    def say(text: str) -> None:
        out.print(text, markup=False)

    what = "deep-verified" if report.deep else "verified"
    say(
        f"{path.resolve()}: {report.records:,} records in {report.segments:,} segments "
        f"{what} in {report.seconds:.2f} s"
    )
    for f in report.findings:
        rec = "" if f.seq is None else f"record {f.seq}" + (f" ({f.id})" if f.id else "")
        say(f"TAMPERED {rec + ': ' if rec else ''}{f.message} [{f.reason}]")
    if report.ok:
        say("OK: every record is as written; none is missing or out of order")
    elif (bad := report.first_bad) is not None and bad.seq is not None:
        say(f"first bad record: {bad.seq}" + (f" ({bad.id})" if bad.id else ""))
    if report.anchor is not None:
        say(
            f"{len(report.verified)} of {report.checkpoints} checkpoints verified against site "
            f"{site}'s key ({report.anchor.fingerprint})"
        )
    if report.foreign:
        say(f"{report.foreign} checkpoints of other sites not verified here")
    if report.seq > report.trusted_to:
        say(
            f"records {report.trusted_to + 1}–{report.seq} are protected by the chain only: "
            "no earlier signed checkpoint covers them"
        )
    if written is not None:
        say(f"signed the verified head: {written}")
    for note in report.notes:
        say(f"note: {note}")
    say(f"head at {report.seq}: {b64(report.head)}")
