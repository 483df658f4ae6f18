"""Fuzzing red-line rules: the rules the docs and tests use, mutated and recombined, and
garbage, read by the one rule parser (`redlines add`, `redlines test` and STIX indicators all
use it). Every rule is read, round-trips through its record form and matches a frame of real
events, or is refused in one line with its column: never a traceback."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from sitroom.adapters import ucdp
from sitroom.adapters.inputs import read_local
from sitroom.domain.events import event_frame
from sitroom.domain.records import RecordBatch
from sitroom.domain.redlines import Rule, crossed, matches, parse_rule
from sitroom.errors import SitroomError
from sitroom.testing.samples import UCDP_FILE

from fuzzing import assert_one_line, fuzz, garbage, mutated_text

RULES = [  # from docs/redlines.md and the module's docstring
    "material conflict by ISR located in IRN",
    "fatalities >= 50 within 100mi of Beirut in 24h",
    "events >= 20 conflict within 500 km of 33.89,35.50 in 7d from ucdp-ged",
    "verbal cooperation against LBN",
    "any events from gdelt-v2",
    "fatalities > 0 located in Lebanon in 90m",
]
WORDS = (
    "fatalities", "events", "event", ">=", ">", "=", "<", "any", "conflict", "cooperation",
    "verbal", "material", "by", "against", "located", "in", "within", "of", "from", "100mi",
    "160km", "100", "-5", "1e400", "nan", "inf", "0", "24h", "7d", "90m", "0s", "-1h", "Beirut",
    "33.89,35.50", "91,181", "nan,nan", "IRN", "Lebanon", "ucdp-ged", "\n", "\t", "\u2028",
)  # fmt: skip


# 1,000 real UCDP events, as the red-line watch sees them.
EVENTS = event_frame(
    RecordBatch.concat([c.records for c in ucdp.chunks(read_local(str(UCDP_FILE)))])
)


def rules() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(RULES).flatmap(mutated_text),
        st.lists(st.sampled_from(WORDS), max_size=14).map(" ".join),
        garbage(),
    )


@fuzz()
@example("---\n")
@given(rules())
def test_a_rule_is_read_or_refused_in_one_line(text: str) -> None:
    try:
        rule = parse_rule(text)
    except SitroomError as e:
        assert_one_line(e)
        assert str(e).startswith("red line, column ")
        return
    assert Rule.from_dict(rule.as_dict()) == rule  # as a red-line record stores it
    assert len(matches(rule, EVENTS)) == EVENTS.height
    if rule.threshold is not None:
        assert crossed(rule, rule.threshold) is not rule.strict
