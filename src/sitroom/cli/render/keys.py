"""Keys and users for people: identities and track keys with their wear, keys made, epochs
issued, cards and epochs moved, users and their clearances."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from sitroom.cli.render import article, plural, provenance_line, short

if TYPE_CHECKING:
    from sitroom.application import auth as a
    from sitroom.application import keys as k
    from sitroom.application import users as u
    from sitroom.application.site_key import SiteKeyReplaced


def _say(console: Console, text: str) -> None:
    # Plain text: names, paths and fingerprints are not rich markup.
    console.print(text, markup=False, highlight=False)


def status(console: Console, s: k.KeyStatus) -> None:
    provenance_line(console, s.provenance)
    t = Table(title="identities", title_justify="left")
    for col in ("name", "role", "fingerprint", "since", "inbox keys"):
        t.add_column(col)
    for i in s.identities:
        changed = f" ({plural(i.key_changes, 'key change')})" if i.key_changes else ""
        t.add_row(i.name, i.role, i.fingerprint, short(i.since) + changed, f"{i.inbox_keys:,}")
    console.print(t)
    if not s.tracks:
        _say(console, "No track keys yet: a track gets its first when someone is cleared for it.")
    for tr in s.tracks:
        console.print()
        _say(
            console,
            f"{tr.track} epoch {tr.epoch} ({tr.aead}, limits from {tr.limits}), {tr.reason}; "
            f"members {', '.join(tr.members)}; expires {short(tr.expires)}; "
            f"rotate by {short(tr.rotate_by)}",
        )
        for member, how in tr.sealed_to.items():
            _say(console, f"  {member}'s copy: {how}")
        w = Table(show_header=True)
        for col in ("sender", "sealed", "limit", "used", "per day", "wears out", "failed"):
            w.add_column(col)
        for use in tr.keys:
            w.add_row(
                use.sender,
                f"{use.sealed:,}",
                "none" if use.limit is None else f"{use.limit:,}",
                "—" if use.used is None else f"{100 * use.used:.2g}%",
                f"{use.rate_per_day:,.1f}",
                short(use.wears_out) if use.wears_out else "—",
                f"{use.failed_decryptions:,}",
            )
        console.print(w)
    if s.rejected:
        why = ", ".join(f"{n:,} {r}" for r, n in sorted(s.rejected.items()))
        _say(console, f"\nrejected messages: {why}")
    if s.key_alerts:
        _say(console, f"{plural(s.key_alerts, 'key alert')} (see `sitroom alerts`)")


def made(console: Console, m: k.KeysMade) -> None:
    role = article(m.role)
    if m.created:
        where = f": {m.key}" if m.key else ""
        _say(console, f"Made keys for {m.name}, {role}, protected by {m.protected_by}{where}")
    else:
        _say(console, f"{m.name} ({role}) has keys already, protected by {m.protected_by}")
    _say(console, f"fingerprint {m.fingerprint}")


def replaced(console: Console, r: k.KeysReplaced) -> None:
    _say(console, f"Replaced {r.name}'s key: {r.revoked} is revoked, {r.fingerprint} is theirs")
    if r.key_file:
        _say(console, f"its key file is now {r.key_file}")
    for e in r.epochs:
        epoch(console, e)
    if r.tokens_revoked:
        _say(console, f"{plural(r.tokens_revoked, 'token')} of the old key ended: log in again")


def site_replaced(console: Console, r: SiteKeyReplaced) -> None:
    _say(console, f"Replaced site {r.name}'s key: {r.revoked} is revoked, {r.fingerprint} is its")
    _say(console, f"its key file is now {r.key_file}; the old key is kept under it to open")
    _say(console, "the records sealed before, and signs nothing")
    signed = "the new key only (--lost)" if r.lost else "the old key and the new"
    _say(console, f"key transition at seq {r.seq:,}, signed by {signed}: {r.transition}")
    if r.head_seq is not None:
        _say(console, f"head at seq {r.head_seq:,} signed by the new key, kept outside the log")
    for e in r.epochs:
        epoch(console, e)
    if r.repin:
        _say(console, f"warning: {r.repin}")
    else:
        to = f" (with consistency proofs for {', '.join(r.witnesses)})" if r.witnesses else ""
        _say(
            console,
            f"hand the transition to every site and witness that pinned {r.name}'s card{to}: "
            "`sitroom keys import` it there",
        )


def epoch(console: Console, e: k.EpochIssued) -> None:
    _say(
        console,
        f"{e.track}: epoch {e.epoch} ({e.reason}), sealed to {', '.join(e.members)}; "
        f"expires {short(e.expires)}",
    )
    _inbox_notes(console, e)


def _inbox_notes(console: Console, e: k.EpochIssued) -> None:
    fs = [m for m in e.members if m not in e.identity_copies]
    if fs:
        _say(console, f"forward-secret (inbox keys): {', '.join(fs)}")
    for w in e.warnings:
        _say(console, f"warning: {w}")


def inbox(console: Console, i: k.InboxPublished) -> None:
    _say(
        console,
        f"Published {plural(len(i.ids), 'inbox key')} for {i.name} (ids {i.ids[0]}-{i.ids[-1]}), "
        f"expiring {short(i.expires)}; {i.unused:,} unused; private halves in {i.kept_in}",
    )


def exported(console: Console, e: k.Exported) -> None:
    if e.what == "card":
        _say(console, f"Exported {e.name}'s card, fingerprint {e.fingerprint}")
    else:
        _say(console, f"Exported {plural(e.epochs, 'epoch')} of {e.name}'s key, sealed")


def imported(console: Console, i: k.Imported) -> None:
    if i.identity is not None:
        who = i.identity
        _say(console, f"Imported {who.name}, {article(who.role)}, fingerprint {who.fingerprint}")
    for e in i.epochs:
        _say(console, f"Recorded epoch {e.epoch} of {e.track}, issued by {e.issuer}")


def user_added(console: Console, a: u.UserAdded) -> None:
    first = "; the first user: from now on everyone acts as a user" if a.first else ""
    _say(console, f"{a.user} is {article(a.role)}{first}")
    if a.keys is not None:
        _say(console, f"keys made: {a.keys.key}, fingerprint {a.keys.fingerprint}")


def clearance(console: Console, c: u.ClearanceChanged) -> None:
    change = "cleared for" if c.change == "grant" else "no longer cleared for"
    _say(console, f"{c.principal} {change} {c.compartment}")
    if c.epoch is not None:
        e = c.epoch
        _say(
            console,
            f"{c.compartment} re-keyed: epoch {e.epoch}, sealed to {', '.join(e.members)}",
        )
        _inbox_notes(console, e)


def users(console: Console, a: u.UserList) -> None:
    provenance_line(console, a.provenance)
    t = Table(title_justify="left")
    for col in ("name", "role", "cleared for", "fingerprint", "since"):
        t.add_column(col)
    for row in a.users:
        t.add_row(
            row.name,
            row.role,
            ", ".join(row.clearances) or "—",
            row.fingerprint or "—",
            short(row.since),
        )
    if a.users:
        console.print(t)
    if not any(not row.endpoint for row in a.users):
        _say(
            console,
            "No users: this room is single-user. Its first user is its admin "
            "(`sitroom users add NAME --role admin`).",
        )


# proof of who acts ------------------------------------------------------------------------
def logged_in(console: Console, t: a.TokenRow) -> None:
    _say(console, f"Logged in as {t.user} until {short(t.expires)} (session {t.id}).")


def logged_out(console: Console, o: a.LoggedOut) -> None:
    if o.ended is None:
        _say(console, f"{o.user} had no live session here; nothing cached is left.")
    else:
        _say(console, f"Logged out: session {o.ended.id} of {o.user} ended.")


def tokens(console: Console, listed: a.TokenList) -> None:
    if not listed.tokens:
        _say(console, f"{listed.user} has no live token.")
        return
    t = Table(title=f"tokens of {listed.user}", title_justify="left")
    for col in ("id", "kind", "name", "created", "expires"):
        t.add_column(col)
    for r in listed.tokens:
        t.add_row(r.id, r.kind, r.name, short(r.created), short(r.expires))
    console.print(t)


def issued(console: Console, i: a.Issued) -> None:
    _say(
        console,
        f"API token {i.row.id} ({i.row.name}) for {i.row.user}, until {short(i.row.expires)}:",
    )
    _say(console, i.token)
    _say(console, "It is shown this once: keep it as you keep a passphrase.")


def revoked(console: Console, t: a.TokenRow) -> None:
    _say(console, f"Revoked {t.kind} token {t.id} ({t.name}) of {t.user}.")
