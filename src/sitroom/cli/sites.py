"""`sitroom sites`: this site's peers, and replication with them over NATS JetStream.

    geneva$ sitroom keys import tehran.card.json --fingerprint '…'
    geneva$ sitroom sites add tehran --cleared ceasefire
    geneva$ sitroom sites sync --follow          # publish, take, again every second
    geneva$ sitroom sites                        # each peer: link, lag, last heard, conflicts
    geneva$ sitroom sites digest --for tehran    # compare with `sitroom sites digest` at tehran

The NATS server and this site's credentials come from ``nats_url`` and ``nats_creds`` in
sitroom.toml (or --nats and --creds); the operator makes them with `sitroom sites nats-config`
and the streams with `sitroom sites provision`. docs/scale-out.md says how it all fits.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from sitroom.cli.shell import JsonOpt, WorkspaceOpt, emit, room
from sitroom.errors import UserInputError

if TYPE_CHECKING:
    from sitroom.adapters.nats_link import NatsLink
    from sitroom.room import Room

TOPIC = "Keys and access"
sites_app = typer.Typer(
    help="Peer sites: add, sync over NATS JetStream, lag and conflicts, digests.",
    invoke_without_command=True,
)
NatsOpt = Annotated[
    str | None, typer.Option("--nats", help="NATS URL (default: nats_url in sitroom.toml).")
]
CaOpt = Annotated[
    Path | None,
    typer.Option("--ca", help="The NATS servers' CA certificate, for TLS (default: nats_ca)."),
]
CredsOpt = Annotated[
    Path | None,
    typer.Option("--creds", help="This site's NATS credentials (default: nats_creds)."),
]


def register(app: typer.Typer) -> None:
    app.add_typer(sites_app, name="sites", rich_help_panel=TOPIC)


def _link(
    r: Room, nats: str | None, creds: Path | None, ca: Path | None, *, required: bool
) -> NatsLink | None:
    """The link to the peers, from the options or the settings (None when neither names a
    server and ``required`` is False: the status shows what the log holds)."""
    url = nats or r.settings.nats_url
    where = creds or (Path(r.settings.nats_creds) if r.settings.nats_creds else None)
    if not url or where is None:
        if not required:
            return None
        raise UserInputError(
            "no NATS server to sync through: give --nats URL and --creds FILE, or set "
            "nats_url and nats_creds in sitroom.toml"
        )
    from sitroom.adapters.nats_link import NatsLink
    from sitroom.adapters.nats_setup import load_credentials

    path = where if where.is_absolute() or creds is not None else r.path / where
    held = load_credentials(path)
    if r.site not in held:
        raise UserInputError(f"{path} holds no NATS credentials of site {r.site}")
    if ca is None and r.settings.nats_ca:
        ca = Path(r.settings.nats_ca)
        ca = ca if ca.is_absolute() else r.path / ca
    return NatsLink(url, held[r.site], ca=ca)


@sites_app.callback()
def sites_status(
    ctx: typer.Context,
    workspace: WorkspaceOpt = Path("."),
    nats: NatsOpt = None,
    creds: CredsOpt = None,
    ca: CaOpt = None,
    json: JsonOpt = False,
) -> None:
    """Each peer: cleared for what, link, records to send, taken, waiting, lag, last heard,
    refused bundles and open conflicts."""
    if ctx.invoked_subcommand is not None:
        return
    from sitroom.adapters.nats_link import NatsLink
    from sitroom.application.sites import CutLink, Link
    from sitroom.cli.render import sites as render
    from sitroom.errors import LinkDown

    with room(workspace, as_site=True) as r:
        try:
            link: Link | None = _link(r, nats, creds, ca, required=False)
        except LinkDown as e:
            link = CutLink(e)  # what the log holds is still shown, each peer cut off
        try:
            emit(r.sites.status(link), json, render.status)
        finally:
            if isinstance(link, NatsLink):
                link.close()


@sites_app.command("add")
def sites_add(
    name: Annotated[str, typer.Argument(help="The peer site (its card imported first).")],
    cleared: Annotated[
        str, typer.Option("--cleared", help="Tracks it may receive, comma-separated.")
    ] = "",
    workspace: WorkspaceOpt = Path("."),
    json: JsonOpt = False,
) -> None:
    """Make a site whose card was imported a peer: it is sent the general compartment and
    the tracks it is cleared for, nothing else (not even sealed)."""
    from sitroom.cli.render import sites as render

    with room(workspace) as r:
        emit(r.sites.add(name, cleared.split(",")), json, render.added)


@sites_app.command("sync")
def sites_sync(
    workspace: WorkspaceOpt = Path("."),
    nats: NatsOpt = None,
    creds: CredsOpt = None,
    ca: CaOpt = None,
    follow: Annotated[bool, typer.Option("--follow", help="Keep syncing until stopped.")] = False,
    interval: Annotated[
        float, typer.Option(help="Seconds between syncs with --follow.", min=0.05)
    ] = 1.0,
    json: JsonOpt = False,
) -> None:
    """Send each peer what it has not had, and take what each sent. A cut link stops
    nothing: this site keeps its records and sends them when the link is back."""
    from sitroom.cli.render import sites as render

    with room(workspace, as_site=True) as r:
        link = _link(r, nats, creds, ca, required=True)
        assert link is not None
        try:
            while True:
                done = r.sites.sync(link)
                quiet = not any(done.sent.values()) and not any(done.received.values())
                if not (follow and quiet and not done.refused and not done.down):
                    emit(done, json, render.synced)
                if not follow:
                    return
                time.sleep(interval)
        except KeyboardInterrupt:
            return
        finally:
            link.close()


@sites_app.command("digest")
def sites_digest(
    workspace: WorkspaceOpt = Path("."),
    for_site: Annotated[
        str | None,
        typer.Option("--for", help="Of what this peer holds: what it is cleared for."),
    ] = None,
    json: JsonOpt = False,
) -> None:
    """The shared projections folded in hybrid-logical-clock order, as hashes: two sites
    that hold the same shared records print the same digest."""
    from sitroom.cli.render import sites as render

    with room(workspace, as_site=True) as r:
        cleared = None
        if for_site is not None:
            peer = r.sites.peer(for_site)
            cleared = list(peer.cleared)
        emit(r.sites.digest(cleared), json, render.digest)


SitesListOpt = Annotated[
    str, typer.Option("--sites", help="Every site's name, comma-separated (geneva,tehran,...).")
]


def _site_names(sites: str) -> list[str]:
    from sitroom.domain.sites import check_site

    names = sorted({check_site(s.strip()) for s in sites.split(",") if s.strip()})
    if len(names) < 2:
        raise UserInputError("name at least two sites: --sites geneva,tehran")
    return names


@sites_app.command("nats-config")
def sites_nats_config(
    sites: SitesListOpt,
    out: Annotated[Path, typer.Option("-o", "--output", help="A new folder to write into.")],
    json: JsonOpt = False,
) -> None:
    """For the NATS operator: the account block every node's configuration includes (one user
    per site, each allowed its own subjects only), the operator's password, and one
    credentials file per site to hand to that site (nats_creds in its sitroom.toml)."""
    import secrets

    from sitroom.adapters.nats_setup import account_config, new_credentials, save_credentials
    from sitroom.adapters.outputs import write_private
    from sitroom.cli.shell import emit_json, say

    names = _site_names(sites)
    if out.exists() and any(out.iterdir()):
        raise UserInputError(f"{out} is not empty: give a new folder (passwords are never reused)")
    creds = new_credentials(names)
    operator = secrets.token_urlsafe(24)
    out.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_private(out / "accounts.conf", account_config(creds, operator).encode())
    write_private(out / "operator.password", operator.encode() + b"\n")
    files = {}
    for name, c in creds.items():
        save_credentials(out / f"{name}.nats.json", {name: c})
        files[name] = str(out / f"{name}.nats.json")
    if json:
        emit_json({"accounts": str(out / "accounts.conf"), "sites": files})
        return
    say(f"wrote {out / 'accounts.conf'}: include it in every node's configuration")
    say(f"wrote {out / 'operator.password'}: for `sitroom sites provision`, kept by the operator")
    for name, path in files.items():
        say(f"wrote {path}: hand it to {name} only (nats_creds in its sitroom.toml)")


@sites_app.command("provision")
def sites_provision(
    sites: SitesListOpt,
    nats: Annotated[str, typer.Option("--nats", help="A NATS URL of the cluster.")],
    password_file: Annotated[
        Path, typer.Option("--password-file", help="The operator's password file.")
    ],
    replicas: Annotated[int, typer.Option(help="Copies of each stream (3 on a cluster).")] = 3,
    ca: CaOpt = None,
    json: JsonOpt = False,
) -> None:
    """For the NATS operator: a stream per site and a consumer per pair of sites (made or
    brought up to date; run it again after adding a site). What each site sends each peer
    is cut by the sending site, to what that peer is cleared for."""
    import asyncio

    from sitroom.adapters.nats_setup import Provisioned, provision
    from sitroom.cli.shell import emit_json, read_text, say

    names = _site_names(sites)
    password = read_text(password_file).strip()

    async def run() -> Provisioned:
        nc = await _operator(nats, password, ca)
        try:
            pairs = [(a, b) for a in names for b in names if a != b]
            return await provision(nc.jetstream(timeout=5), names, pairs, replicas)
        finally:
            await nc.close()

    done = asyncio.run(run())
    if json:
        emit_json({"created": done.created, "removed": done.removed})
        return
    made = ", ".join(done.created) or "nothing new"
    say(f"{len(done.created)} streams and consumers made ({made}), {len(done.removed)} removed")


async def _operator(url: str, password: str, ca: Path | None) -> Any:
    """A connection as the NATS operator (LinkDown, in one line, when it cannot be made)."""
    import asyncio

    import nats

    from sitroom.adapters.nats_link import client_tls
    from sitroom.adapters.nats_setup import OPERATOR
    from sitroom.errors import LinkDown

    try:
        # nats-py retries a refused first connection for ever: bounded here
        return await asyncio.wait_for(
            nats.connect(
                [url], user=OPERATOR, password=password, connect_timeout=3, tls=client_tls(ca)
            ),
            5,
        )
    except Exception as e:  # nats-py's errors and OSError: the server is not there for us
        raise LinkDown(
            f"cannot reach NATS at {url} as its operator ({e or type(e).__name__})"
        ) from None
