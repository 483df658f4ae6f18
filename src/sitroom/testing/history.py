"""A history of appends and reads across sites, checked as Jepsen's set checkers check one:
every acknowledged append is read at every site that should hold it (nothing **lost**),
nothing is read that was never appended (nothing **phantom**), nothing is held twice, and no
site holds a record of a compartment it is not cleared for (nothing **leaked**).

Tests of replication (in memory, and over a NATS cluster cut and healed) record what they
appended where, then what each site's log holds at the end, and assert ``problems() == []``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from sitroom.domain.records import Record
from sitroom.domain.sites import cleared


@dataclass
class History:
    sites: Sequence[str]
    # (a, b) -> the tracks a and b send each other (the general compartment always goes)
    clearances: Mapping[tuple[str, str], set[str]] = field(default_factory=dict)
    appended_at: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (site, comp.)
    reads: dict[str, list[str]] = field(default_factory=dict)  # site -> ids held

    def appended(self, site: str, records: Iterable[Record]) -> None:
        """``site`` appended ``records`` and the append was acknowledged."""
        for r in records:
            self.appended_at[r.id] = (site, r.compartment)

    def read(self, site: str, records: Iterable[Record]) -> None:
        """What ``site``'s log holds, read at the end (after the last heal and syncs)."""
        self.reads[site] = [r.id for r in records]

    def _cleared(self, origin: str, site: str) -> set[str] | None:
        if origin == site:
            return None  # everything: its own
        pair = self.clearances.get((origin, site), self.clearances.get((site, origin)))
        return set(pair or ())

    def problems(self) -> list[str]:
        out = []
        for site in self.sites:
            held = self.reads.get(site, [])
            twice = sorted(i for i, n in Counter(held).items() if n > 1)
            if twice:
                out.append(f"{site} holds {len(twice)} records twice: {twice[:3]}")
            holding = set(held)
            for rid in sorted(holding - set(self.appended_at)):
                out.append(f"{site} holds {rid}, which no site appended (phantom)")
            for rid, (origin, comp) in sorted(self.appended_at.items()):
                allowed = self._cleared(origin, site)
                should = allowed is None or cleared(comp, allowed)
                if should and rid not in holding:
                    out.append(f"{site} lost {rid}, appended at {origin}")
                if not should and rid in holding:
                    out.append(f"{site} holds {rid} of {comp}, not cleared for it (leaked)")
        return out
