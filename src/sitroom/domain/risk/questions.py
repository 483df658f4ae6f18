"""Forecast questions: what is asked, how it resolves, and how questions link.

Two shapes:

- **binary**: "Will the US–Iran meeting in Switzerland take place by 15 December?" It has a
  deadline and resolves by a rule: ``meeting`` (yes when its track's status becomes one of
  ``yes_status``, no when the deadline passes first) or ``analyst`` (someone resolves it).
- **count**: "Will conflict events within 500 miles of Beirut exceed 40 in the next 7 days?" It
  has a region (venue, radius), a valid-time window and a threshold, and resolves by the rule
  ``events`` from the log: yes as soon as the window holds ``threshold`` matching events, no when
  the window closes short of it.

A question may be conditional (``given``: "talks by D, given escalation near Beirut"): it is
void when its condition resolves no or void, and otherwise resolves by its own rule. ``of`` names
the unconditional question of the same event, so the two can be checked for coherence.
States: open, yes, no, void. Void and open questions are never scored.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, cast

from sitroom.domain.geo import Point
from sitroom.domain.kinds import FORECAST, JUDGMENT, QUESTION, QUESTION_RESOLVED, QuestionPayload
from sitroom.errors import UserInputError

__all__ = ["FORECAST", "JUDGMENT", "QUESTION", "QUESTION_RESOLVED", "Question"]

BINARY, COUNT = "binary", "count"
RULES = {BINARY: ("meeting", "analyst"), COUNT: ("events", "analyst")}
OUTCOMES = ("yes", "no", "void")
DEFAULT_RADIUS_M = 500 * 1609.344
DEFAULT_RADIUS = "500mi"
DEFAULT_PRIOR = (0.5, 0.5)  # Jeffreys: the least committal Beta prior for a rate
MAX_PRIOR = 1_000_000.0  # pseudo-cases: more would outweigh any reference class
MAX_COUNT = 1_000_000_000  # events or cases: the log's JSON holds 64-bit integers, no more
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class Place:
    name: str
    lat: float
    lon: float

    @property
    def point(self) -> Point:
        return Point(self.lat, self.lon)


@dataclass(frozen=True)
class Reference:
    """The reference class of a base rate, named by the user: "US–Iran rounds announced since
    2013 that met on the announced date", 3 of 7."""

    name: str
    hits: int
    of: int


@dataclass(frozen=True)
class Question:
    id: str
    text: str
    shape: str = BINARY
    rule: str = "analyst"
    deadline_ms: int | None = None  # binary: resolves no after this; count: the window's end
    track: str | None = None
    places: tuple[Place, ...] = ()  # the venue first, then parties' places
    radius_m: float = DEFAULT_RADIUS_M
    radius_text: str = DEFAULT_RADIUS
    window_from_ms: int | None = None
    threshold: int | None = None
    quad_classes: tuple[int, ...] = (4,)
    prior: tuple[float, float] = DEFAULT_PRIOR
    reference: Reference | None = None
    given: str | None = None
    of: str | None = None
    channels: tuple[str, ...] = ()
    yes_status: tuple[str, ...] = ("met",)
    disagreement: float | None = None  # None: the workspace's setting
    compartment: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not _ID.match(self.id):
            raise UserInputError(
                f"question id {self.id!r}: use 1-64 letters, digits, '.', '_' or '-'"
            )
        if not self.text.strip():
            raise UserInputError("a question needs its text")
        if self.shape not in RULES:
            raise UserInputError(f"a question is binary or count, not {self.shape!r}")
        if self.rule not in RULES[self.shape]:
            allowed = " or ".join(RULES[self.shape])
            raise UserInputError(f"a {self.shape} question resolves by {allowed}, not {self.rule}")
        if self.deadline_ms is None:
            raise UserInputError("a question needs a deadline (a count question: its window end)")
        if self.shape == COUNT:
            if not self.places:
                raise UserInputError("a count question needs a venue: a place name or LAT,LON")
            if self.threshold is None or not 1 <= self.threshold <= MAX_COUNT:
                raise UserInputError(
                    f"a count question needs a threshold of 1 to {MAX_COUNT:,} events"
                )
            if self.window_from_ms is None or self.window_from_ms >= self.deadline_ms:
                raise UserInputError("a count question's window must start before it ends")
        if self.rule == "meeting" and not self.track:
            raise UserInputError("a question resolved by a meeting needs its --track")
        a, b = self.prior
        # Bounded, and NaN fails: an infinite prior is written to the log as null, and every
        # forecast after it would fail to read the question back.
        if not (0 < a <= MAX_PRIOR and 0 < b <= MAX_PRIOR):
            raise UserInputError(
                f"a Beta prior needs two positive numbers up to {MAX_PRIOR:,.0f}, not {a},{b}"
            )
        ref = self.reference
        if ref is not None and not (0 <= ref.hits <= ref.of <= MAX_COUNT):
            raise UserInputError(
                f"reference class {ref.name!r}: hits must be within 0..{ref.of}, of at most "
                f"{MAX_COUNT:,} cases"
            )
        if self.disagreement is not None and not 0 < self.disagreement < 1:
            raise UserInputError("the disagreement threshold is a fraction, such as 0.4")
        if self.given == self.id or self.of == self.id:
            raise UserInputError("a question cannot be linked to itself")
        if not set(self.quad_classes) <= {1, 2, 3, 4}:
            raise UserInputError("QuadClasses are 1-4 (CAMEO)")

    @property
    def venue(self) -> Place | None:
        return self.places[0] if self.places else None

    def as_payload(self) -> QuestionPayload:
        p = asdict(self)
        p["places"] = [asdict(x) for x in self.places]
        p["reference"] = asdict(self.reference) if self.reference else None
        p["extra"] = dict(self.extra)
        return cast(QuestionPayload, p)

    @classmethod
    def from_payload(cls, p: Mapping[str, Any]) -> Question:
        ref = p.get("reference")
        return cls(
            **{
                **{k: v for k, v in p.items() if k in _FIELDS},
                "places": tuple(Place(**x) for x in p.get("places") or ()),
                "reference": Reference(**ref) if ref else None,
                "quad_classes": tuple(p.get("quad_classes") or (4,)),
                "prior": tuple(p.get("prior") or DEFAULT_PRIOR),
                "channels": tuple(p.get("channels") or ()),
                "yes_status": tuple(p.get("yes_status") or ("met",)),
                "extra": dict(p.get("extra") or {}),
            }
        )


_FIELDS = set(Question.__dataclass_fields__)


def check_probability(p: float) -> float:
    if not 0.0 <= p <= 1.0:
        raise UserInputError(f"a probability is between 0 and 1 (or 0% and 100%), not {p}")
    return p


def parse_probability(text: str) -> float:
    """'0.35' or '35%'. A bare number above 1 is refused rather than guessed: read as a percent
    it would make '1' mean 100% and '1.5' mean 1.5%."""
    t = text.strip()
    percent = t.endswith("%")
    try:
        value = float(t.removesuffix("%").strip())
    except ValueError:
        raise UserInputError(f"cannot read probability {text!r}: write 0.35 or 35%") from None
    if not 0 <= value <= (100 if percent else 1):  # NaN fails too
        hint = f" (did you mean {t}%?)" if not percent and 1 < value <= 100 else ""
        raise UserInputError(f"a probability is 0 to 1 or 0% to 100%, not {t!r}{hint}")
    return value / 100 if percent else value
