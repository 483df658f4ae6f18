"""Red lines: rules users write in a small readable language, checked on every new event.

    material conflict by ISR located in IRN
    fatalities >= 50 within 100mi of Beirut in 24h
    events >= 20 conflict within 500 km of 33.89,35.50 in 7d from ucdp-ged

A rule is an optional threshold, then a selection of events:

    rule       := [("fatalities" | "events") (">=" | ">") NUMBER] selection
    selection  := [kind] ["event" | "events"] clause*
    kind       := "any" | "conflict" | "cooperation"
                | ("verbal" | "material") ("conflict" | "cooperation")
    clause     := "by" NAME            the acting side (a CAMEO/ISO code, or a name in the text)
                | "against" NAME       the side acted upon
                | "located in" NAME    where: an ISO alpha-3 code (any source), or the country
                                       as the source names it (UCDP's "Lebanon")
                | "within" RADIUS "of" PLACE   RADIUS as 100mi / 160km / 100 (miles);
                                               PLACE as LAT,LON or a known city (places.py)
                | "from" SOURCE        only this source's events (gdelt-v2, ucdp-ged, ...)
                | "in" DURATION        the window of a threshold (24h, 7d, 90m)

Without a threshold, every matching event crosses the line. With one, the line is crossed when
the events matching the selection within a window of valid time — ending at a new event — add up
to the threshold (event count, or fatalities where the source gives them). UCDP events are all
organised violence, so they count as material conflict.

A mistake is reported with its column and what was expected there.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from sitroom.domain.geo import Point, haversine_m, parse_point, parse_radius
from sitroom.domain.places import PLACES, find_place
from sitroom.domain.timeutil import parse_duration
from sitroom.errors import UserInputError

if TYPE_CHECKING:
    import polars as pl

SEVERITIES = ("info", "warning", "critical")  # how loud a crossed line is
QUADS = {
    "any": (1, 2, 3, 4),
    "conflict": (3, 4),
    "cooperation": (1, 2),
    "verbal cooperation": (1,),
    "material cooperation": (2,),
    "verbal conflict": (3,),
    "material conflict": (4,),
}
_KEYWORDS = {"by", "against", "located", "within", "from", "in", "of"}
_TOKEN = re.compile(r">=|>|[^\s<>=]+|[<=]")


class RedLineError(UserInputError):
    """A rule that cannot be read; ``column`` is 1-based."""

    def __init__(self, rule: str, column: int, message: str) -> None:
        # The rule as typed, on one line: a line break or a control character becomes a space,
        # one for one, so the column still points at the same character.
        shown = "".join(ch if ch.isprintable() else " " for ch in rule)
        super().__init__(f"red line, column {column}: {message}  (in: {shown})")
        self.column = column


@dataclass(frozen=True)
class Rule:
    text: str
    quads: tuple[int, ...] | None = None
    by: str | None = None
    against: str | None = None
    located_in: str | None = None
    center: tuple[float, float] | None = None
    radius_m: float | None = None
    place: str | None = None
    source: str | None = None
    measure: str | None = None  # "events" | "fatalities" for a threshold rule
    strict: bool = False  # ">" rather than ">="
    threshold: float | None = None
    window_ms: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict[str, Any]) -> Rule:
        return Rule(
            **{
                **d,
                "quads": tuple(d["quads"]) if d.get("quads") else None,
                "center": tuple(d["center"]) if d.get("center") else None,
            }
        )


@dataclass
class _Cursor:
    text: str
    tokens: list[tuple[str, int]]  # (token, 1-based column)
    i: int = 0

    def peek(self) -> str | None:
        return self.tokens[self.i][0].lower() if self.i < len(self.tokens) else None

    def raw(self) -> str | None:
        return self.tokens[self.i][0] if self.i < len(self.tokens) else None

    def column(self) -> int:
        return self.tokens[self.i][1] if self.i < len(self.tokens) else len(self.text) + 1

    def take(self) -> str:
        tok = self.tokens[self.i][0]
        self.i += 1
        return tok

    def fail(self, expected: str) -> RedLineError:
        got = f"'{self.tokens[self.i][0]}'" if self.i < len(self.tokens) else "the end of the rule"
        return RedLineError(self.text, self.column(), f"expected {expected}, got {got}")

    def expect(self, word: str, expected: str) -> None:
        if self.peek() != word:
            raise self.fail(expected)
        self.i += 1


def parse_rule(text: str) -> Rule:
    tokens = [(m.group(), m.start() + 1) for m in _TOKEN.finditer(text)]
    if not tokens:
        raise RedLineError(text, 1, "expected a rule such as 'material conflict located in IRN'")
    c = _Cursor(text, tokens)
    fields: dict[str, Any] = {}
    if (
        c.peek() in ("fatalities", "events")
        and c.i + 1 < len(tokens)
        and tokens[1][0]
        in (
            ">=",
            ">",
            "=",
            "<",
            "<=",
        )
    ):
        fields["measure"] = c.take().lower()
        op_col = c.column()
        op = c.take()
        if op not in (">=", ">"):
            raise RedLineError(
                text, op_col, f"expected '>=' or '>' (a line is crossed upwards), got '{op}'"
            )
        fields["strict"] = op == ">"
        num_col = c.column()
        num = c.raw()
        try:
            fields["threshold"] = float(c.take()) if num is not None else None
        except ValueError:
            raise RedLineError(
                text, num_col, f"expected a number after '{op}', got '{num}'"
            ) from None
        if fields["threshold"] is None or fields["threshold"] < 0:
            raise RedLineError(text, num_col, f"expected a number after '{op}'")
    _selection(c, fields)
    if c.peek() is not None:
        raise c.fail("'by', 'against', 'located in', 'within', 'from' or 'in'")
    if fields.get("measure") and fields.get("window_ms") is None:
        raise RedLineError(
            text,
            len(text) + 1,
            "expected 'in' and a window such as 24h (a threshold counts over a window)",
        )
    if not fields.get("measure") and fields.get("window_ms") is not None:
        raise RedLineError(text, 1, "a window ('in 24h') needs a threshold such as 'events >= 10'")
    return Rule(text=text, **fields)


def _selection(c: _Cursor, fields: dict[str, Any]) -> None:
    word = c.peek()
    if word in ("verbal", "material"):
        c.take()
        nxt = c.peek()
        if nxt not in ("conflict", "cooperation"):
            raise c.fail(f"'conflict' or 'cooperation' after '{word}'")
        c.take()
        fields["quads"] = QUADS[f"{word} {nxt}"]
    elif word in ("any", "conflict", "cooperation"):
        c.take()
        fields["quads"] = QUADS[word]
    if c.peek() in ("event", "events"):
        c.take()
    seen: set[str] = set()
    while (word := c.peek()) is not None:
        col = c.column()
        if word not in ("by", "against", "located", "within", "from", "in"):
            return
        if word in seen:
            raise RedLineError(c.text, col, f"'{word}' given twice")
        seen.add(word)
        c.take()
        if word == "by":
            fields["by"] = _name(c, "who acts after 'by' (e.g. ISR or Hezbollah)")
        elif word == "against":
            fields["against"] = _name(c, "who is acted upon after 'against'")
        elif word == "located":
            c.expect("in", "'in' after 'located'")
            fields["located_in"] = _name(c, "a country after 'located in' (e.g. IRN or Lebanon)")
        elif word == "from":
            fields["source"] = _name(c, "a source after 'from' (e.g. ucdp-ged)")
        elif word == "in":
            col = c.column()
            tok = c.raw()
            if tok is None:
                raise c.fail("a window such as 24h after 'in'")
            try:
                fields["window_ms"] = parse_duration(c.take())
            except UserInputError:
                raise RedLineError(
                    c.text,
                    col,
                    f"expected a window such as 24h or 7d after 'in', got '{tok}' "
                    "(a country goes after 'located in')",
                ) from None
        else:  # within
            col = c.column()
            tok = c.raw()
            if tok is None:
                raise c.fail("a radius such as 100mi after 'within'")
            raw = c.take()
            if c.peek() in ("mi", "miles", "mile", "km", "nm", "m"):
                raw += c.take()
            try:
                fields["radius_m"] = parse_radius(raw).meters
            except UserInputError:
                raise RedLineError(
                    c.text,
                    col,
                    f"expected a radius such as 100mi or 160km after 'within', got '{tok}'",
                ) from None
            c.expect("of", "'of' and a place after the radius")
            fields["center"], fields["place"] = _place(c)


def _name(c: _Cursor, expected: str) -> str:
    words = []
    while (w := c.peek()) is not None and w not in _KEYWORDS:
        words.append(c.take())
    if not words:
        raise c.fail(expected)
    return " ".join(words)


def _place(c: _Cursor) -> tuple[tuple[float, float], str]:
    col = c.column()
    if c.peek() is None:
        raise c.fail("a place (LAT,LON or a city such as Beirut)")
    words = []
    while (w := c.peek()) is not None and w not in _KEYWORDS:
        words.append(c.take())
    name = " ".join(words)
    if re.match(r"^-?\d", name):
        try:
            p = parse_point(name.replace(" ", ""))
        except UserInputError:
            raise RedLineError(
                c.text, col, f"expected LAT,LON such as 33.89,35.50, got '{name}'"
            ) from None
        return (p.lat, p.lon), name
    found = find_place(name)
    if found is None:
        known = ", ".join(sorted(PLACES)[:6])
        raise RedLineError(
            c.text, col, f"unknown place '{name}': give LAT,LON or a known city ({known}, ...)"
        )
    return (found.lat, found.lon), name


def matches(rule: Rule, events: pl.DataFrame) -> np.ndarray:
    """Which rows of an event frame (domain.events) the rule's selection matches."""
    mask = np.ones(events.height, dtype=bool)
    if not events.height:
        return mask
    if rule.quads is not None:
        mask &= events["quad_class"].is_in(list(rule.quads)).fill_null(False).to_numpy()
    for column, name in (("actor1", rule.by), ("actor2", rule.against)):
        if name is not None:
            mask &= _names(events[column], name)
    if rule.located_in is not None:
        # An ISO alpha-3 code (every source has one), or the country as the source names it.
        place = rule.located_in.lower()
        code = (events["country"].str.to_lowercase() == place).fill_null(False)
        named = (events["country_name"].str.to_lowercase() == place).fill_null(False)
        mask &= (code | named).to_numpy()
    if rule.source is not None:
        mask &= (events["source"] == rule.source).fill_null(False).to_numpy()
    if rule.center is not None and rule.radius_m is not None:
        lat, lon = events["lat"].to_numpy(), events["lon"].to_numpy()
        dist = haversine_m(lat, lon, Point(*rule.center))
        mask &= np.nan_to_num(dist, nan=np.inf) <= rule.radius_m
    return mask


def _names(column: pl.Series, name: str) -> np.ndarray:
    """A code matches exactly; a name also matches as a word inside a longer name (UCDP's
    "Government of Israel" for "Israel")."""
    exact = column.str.to_lowercase() == name.lower()
    word = column.str.contains(r"(?i)\b" + re.escape(name) + r"\b")
    return (exact | word).fill_null(False).to_numpy()


def crossed(rule: Rule, value: float) -> bool:
    assert rule.threshold is not None
    return value > rule.threshold if rule.strict else value >= rule.threshold
