"""Answers that say how fresh they are.

Every answer sitroom gives carries: the time it was computed as of, the newest evidence it used
and that evidence's age at that time, and how many relevant records the workspace holds that were
recorded after it. An answer with newer records behind it is a stale read, and says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sitroom.domain.timeutil import human_age, iso
from sitroom.domain.wording import plural

T = TypeVar("T")


@dataclass(frozen=True)
class Provenance:
    as_of: int  # wall time (ms) the answer describes
    as_of_seq: int  # the last log position it includes
    newest_evidence: int | None  # valid time (ms) of the newest evidence used
    newer_records: int  # relevant records recorded after as_of
    hidden: int = 0  # relevant records the reader is not cleared to see

    @property
    def evidence_age_ms(self) -> int | None:
        return None if self.newest_evidence is None else self.as_of - self.newest_evidence

    @property
    def stale(self) -> bool:
        return self.newer_records > 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "as_of": iso(self.as_of),
            "as_of_seq": self.as_of_seq,
            "newest_evidence": iso(self.newest_evidence),
            "evidence_age_ms": self.evidence_age_ms,
            "newer_records": self.newer_records,
            "stale": self.stale,
            "hidden": self.hidden,
        }

    def describe(self) -> str:
        age = self.evidence_age_ms
        parts = [
            f"as of {iso(self.as_of)} (log position {self.as_of_seq:,})",
            "no evidence" if age is None else f"newest evidence {human_age(age)} old",
        ]
        if self.stale:
            parts.append(f"STALE: {plural(self.newer_records, 'newer relevant record')} exist")
        if self.hidden:
            are = "is" if self.hidden == 1 else "are"
            parts.append(f"{plural(self.hidden, 'record')} {are} outside your clearance")
        return "; ".join(parts)


@dataclass(frozen=True)
class Answer(Generic[T]):
    value: T
    provenance: Provenance
