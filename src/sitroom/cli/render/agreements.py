"""Audit and agreements for people: a verified (or tampered) log with its first bad record;
each agreement's parties beside its status; a verification that names whatever fails."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table
from rich.text import Text

from sitroom.cli.render import plural, provenance_line, short
from sitroom.domain.secure.audit import LOST, REPLACED

if TYPE_CHECKING:
    from sitroom.application import agreements as a
    from sitroom.application import agreements_offline as off
    from sitroom.application.audit import Report


def _say(console: Console, text: str) -> None:
    # Plain text: ids, titles, reasons and paths may hold brackets that are not rich markup.
    console.print(text, markup=False, highlight=False)


# the audit chain --------------------------------------------------------------------------
def verified_log(console: Console, r: Report, *, workspace: Path | None = None) -> None:
    what = "deep-verified" if r.deep else "verified"
    where = f"{workspace}: " if workspace is not None else ""
    _say(
        console,
        f"{where}{plural(r.records, 'record')} in {plural(r.segments, 'segment')} {what} "
        f"in {r.seconds:.2f} s",
    )
    for f in r.findings:
        rec = "" if f.seq is None else f"record {f.seq}" + (f" ({f.id})" if f.id else "")
        _say(console, f"TAMPERED {rec + ': ' if rec else ''}{f.message} [{f.reason}]")
    if r.ok:
        _say(console, "OK: every record is as written; none is missing or out of order")
    elif (bad := r.first_bad) is not None and bad.seq is not None:
        _say(console, f"first bad record: {bad.seq}" + (f" ({bad.id})" if bad.id else ""))
    if r.signer is not None:
        _say(
            console,
            f"{r.checkpoints_verified} of {plural(r.checkpoints, 'checkpoint')} verified "
            f"against site {r.site}'s key ({r.signer})",
        )
    if r.checkpoints_foreign:
        _say(
            console,
            f"{plural(r.checkpoints_foreign, 'checkpoint')} of other sites not verified here",
        )
    if r.chain_only is not None:
        lo, hi = r.chain_only
        _say(
            console,
            f"records {lo}–{hi} are protected by the chain only: no earlier signed "
            "checkpoint covers them",
        )
    if r.kept_seq is not None and not any(f.reason in (LOST, REPLACED) for f in r.findings):
        _say(console, f"the head kept outside the log ({r.kept_in}), at {r.kept_seq}, is in it")
    for w in r.witnessed:
        verdict = "the log extends it" if w["ok"] else "NOT consistent with this log"
        _say(
            console,
            f"head co-signed by {w['witness']} at seq {w['seq']:,} ({w['size']:,} segments): "
            f"{verdict}",
        )
    if r.checkpoint_written is not None:
        _say(console, f"signed the verified head: {r.checkpoint_written}")
    for note in r.notes:
        _say(console, f"note: {note}")
    _say(console, f"head at {r.seq}: {r.head}; tree of {r.size:,} segments: {r.root}")


# agreements -------------------------------------------------------------------------------
def _headline(x: a.AgreementRow) -> str:
    track = f" (track {x.track})" if x.track else ""
    return f"{x.id}: {x.title}{track} — {x.status}, {x.signed} of {x.of} signed"


def proposed(console: Console, x: a.AgreementRow) -> None:
    _say(console, f"Proposed {_headline(x)}")
    _say(console, f"digest {x.digest}")
    for p in x.parties:
        _say(console, f"  {p.name}: fingerprint {p.fingerprint}")
    _say(console, f"Each party signs with `sitroom agreements sign {x.id} --party NAME`,")
    _say(
        console,
        f"or on its own machine: `sitroom agreements proposal {x.id} -o {x.id}.proposal.json`, "
        f"then `sitroom agreements sign --offline {x.id}.proposal.json --key NAME.key -o "
        f"NAME.sig` there, and `sitroom agreements collect {x.id} NAME.sig` here.",
    )


def proposal_written(console: Console, x: a.ProposalFile) -> None:
    _say(console, f"Wrote the proposal of {x.agreement} ({x.status}); digest {x.digest}")
    _say(console, "Each party checks the text and this digest, then signs it on its own machine.")


def to_sign(console: Console, x: off.ToSign, *, withdraws: bool) -> None:
    """Everything that is signed, before the passphrase is asked for (on stderr)."""
    what = "WITHDRAWING FROM" if withdraws else "SIGNING"
    track = f", track {x.track}" if x.track else ""
    _say(console, f"{what} agreement {x.agreement}: {x.title}")
    _say(console, f"proposed by {x.proposer} at {short(x.proposed_at)}{track}")
    for p in x.parties:
        _say(console, f"  party {p.name}: fingerprint {p.fingerprint}")
    _say(console, f"digest {x.digest} (compare it with the mediator's)")
    _say(console, "--- text ---")
    console.print(x.text, markup=False, highlight=False, end="" if x.text.endswith("\n") else "\n")
    _say(console, "--- end of text ---")


def detached(console: Console, d: off.Detached) -> None:
    did = f"withdrew from {d.agreement} ({d.reason})" if d.withdraws else f"signed {d.agreement}"
    _say(console, f"{d.party} {did}; digest {d.digest}")
    _say(
        console,
        f"Send the statement to the mediator: `sitroom agreements collect {d.agreement} FILE`.",
    )


def collected(console: Console, c: a.Collection) -> None:
    for s in c.statements:
        if s.outcome == "accepted":
            did = "withdrawal" if s.withdraws else "signature"
            _say(console, f"recorded {s.party}'s {did} ({s.source})")
        elif s.outcome == "already":
            _say(console, f"{s.party} had signed already: nothing new ({s.source})")
    _say(console, _headline(c))
    if c.agreed_record:
        _say(console, f"agreed record {c.agreed_record}")
    pending = [p.name for p in c.parties if p.state == "pending"]
    if c.status == "open" and pending:
        _say(console, f"waiting for {', '.join(pending)}")


def refusals(console: Console, c: a.Collection) -> None:
    """One line on stderr for each statement refused."""
    for s in c.statements:
        if s.outcome == "refused":
            _say(console, f"sitroom: error: {s.source}: {s.message} [{s.reason}]")


def signed(console: Console, s: a.Signed) -> None:
    if s.already and s.agreed_record:
        _say(console, f"{s.party} had signed {s.id}; wrote its agreed record")
    elif s.already:
        _say(console, f"{s.party} had signed {s.id} already: nothing changed")
    elif s.status == "agreed":
        _say(console, f"{s.party} signed {s.id}: every party has signed, it is agreed")
        _say(console, f"agreed record {s.agreed_record}")
    else:
        pending = [p.name for p in s.parties if p.state == "pending"]
        _say(
            console,
            f"{s.party} signed {s.id}: {s.signed} of {s.of} signed; waiting for "
            f"{', '.join(pending)}",
        )


def withdrew(console: Console, w: a.Withdrew) -> None:
    reason = f" ({w.withdrawal.reason})" if w.withdrawal else ""
    _say(console, f"{w.party} withdrew from {w.id}: it is aborted{reason}")


def status(console: Console, listed: a.AgreementList) -> None:
    provenance_line(console, listed.provenance)
    if not listed.agreements:
        _say(console, "No agreements yet: propose one with `sitroom agreements propose`.")
        return
    for x in listed.agreements:
        console.print()
        _say(console, _headline(x))
        _say(console, f"proposed by {x.proposer} at {short(x.proposed_at)}")
        t = Table(show_header=True)
        for col in ("party", "state", "at", "fingerprint"):
            t.add_column(col)
        for p in x.parties:
            at = p.signed_at or p.withdrew_at
            t.add_row(Text(p.name), p.state, short(at), p.fingerprint)
        console.print(t)
        if x.withdrawal:
            w = x.withdrawal
            _say(console, f"aborted: {w.party} withdrew at {short(w.at)} ({w.reason})")
        if x.agreed_at:
            _say(console, f"agreed at {short(x.agreed_at)}")
        for r in x.refused:
            _say(console, f"refused {r.record}: {r.message} [{r.reason}]")
        if x.text is not None:
            _say(console, f"digest {x.digest}\n\n{x.text}")


def exported(console: Console, e: a.AgreedRecord) -> None:
    _say(console, f"Exported the agreed record of {e.agreement}; digest {e.digest}")


def verification(console: Console, v: off.Verified) -> None:
    _say(console, f"{v.agreement}: {v.title}")
    _say(console, f"digest {v.digest}")
    named = {c.problem for c in v.parties}
    for problem in v.problems:
        if problem not in named:
            _say(console, f"FAIL {problem}")
    for c in v.parties:
        if c.state == "unverified":
            _say(console, f"UNVERIFIED {c.party}: {c.problem}")
        elif c.problem:
            _say(console, f"FAIL {c.party}: {c.problem}")
        else:
            _say(console, f"OK   {c.party}: signature verifies ({c.fingerprint})")
    for note in v.notes:
        _say(console, f"note: {note}")
    if v.ok:
        _say(console, "VERIFIED: every party signed exactly this text with the key it pinned")
    else:
        _say(console, "NOT VERIFIED")
