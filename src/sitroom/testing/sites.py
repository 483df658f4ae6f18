"""Sites for tests and benchmarks: rooms that trust each other's cards and are each other's
peers, and the records they write (claims, a track's statuses)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import sitroom
from sitroom.domain.kinds import CLAIM, TRACK_STATUS
from sitroom.domain.records import Record
from sitroom.room import Room

T0 = 1_700_000_000_000


def rooms(
    folder: Path, names: Sequence[str], cleared: Mapping[tuple[str, str], set[str]]
) -> dict[str, Room]:
    """A room per site in ``folder``, each holding the others' cards (fingerprints checked)
    and each the others' peer, cleared for the tracks ``cleared`` gives their pair (either
    order; the general compartment only when it gives none)."""
    made = {s: sitroom.init(folder / s, site=s) for s in names}
    cards = {s: r.keys.export_card() for s, r in made.items()}
    for s, r in made.items():
        for other, card in cards.items():
            if other != s:
                r.keys.import_file(card.data, fingerprint=card.fingerprint)
                tracks = cleared.get((s, other), cleared.get((other, s), set()))
                r.sites.add(other, sorted(tracks))
    return made


def claim(
    site: str,
    n: int,
    *,
    prop: str | None = None,
    value: object = None,
    subject: str = "US-Iran talks",
) -> Record:
    """A credible claim by an analyst of ``site``: its own property (``note-SITE-N``) unless
    ``prop`` names one that another site may claim too (a conflict, when values differ)."""
    return CLAIM.record(
        {
            "subject": subject,
            "property": prop or f"note-{site}-{n}",
            "value": n if value is None else value,
            "credibility": 2,
            "stated_at": None,
            "links": [],
        },
        id=f"claim:{site}:{n}:{prop}",
        source=f"analyst:{site}",
        confidence=70,
    )


def track_status(site: str, n: int, *, track: str = "us-iran", status: str = "active") -> Record:
    """A status of ``track`` set at ``site``, valid from T0 + ``n`` ms, in its compartment."""
    return TRACK_STATUS.record(
        {"track": track, "status": status},
        id=f"status:{site}:{track}:{n}",
        source=f"analyst:{site}",
        valid_from=T0 + n,
        compartment=track,
    )
