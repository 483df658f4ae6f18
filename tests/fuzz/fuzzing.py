"""What every fuzzer shares: one budget, and one idea of a proper refusal.

The budget is small enough for the whole suite to stay within its time on two cores; to fuzz
longer, raise it: ``SITROOM_FUZZ_EXAMPLES=5000 python -m pytest tests/fuzz`` (docs/reliability.md).
Examples are drawn from a fixed seed unless ``SITROOM_FUZZ_SEED`` is set, so CI is repeatable and
a longer run explores further.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from typing import Any, TypeVar

from hypothesis import HealthCheck, seed, settings
from hypothesis import strategies as st

from sitroom.errors import SitroomError

EXAMPLES = int(os.environ.get("SITROOM_FUZZ_EXAMPLES", "120"))
SEED = int(os.environ.get("SITROOM_FUZZ_SEED", "2026"))

F = TypeVar("F", bound=Callable[..., Any])


def fuzz(examples: int | None = None) -> Callable[[F], F]:
    """Settings for a fuzzer: the shared budget (or a fraction of it for a slow target), no
    per-example deadline (the machine is shared), and the fixed seed."""

    def wrap(test: F) -> F:
        budget = EXAMPLES if examples is None else max(1, EXAMPLES * examples // 120)
        configured = settings(
            max_examples=budget,
            deadline=None,
            database=None,
            suppress_health_check=[
                HealthCheck.too_slow,
                HealthCheck.function_scoped_fixture,
                HealthCheck.data_too_large,
            ],
        )(test)
        return seed(SEED)(configured)  # type: ignore[no-any-return]

    return wrap


def assert_one_line(error: BaseException) -> None:
    """A refusal sitroom means: one of its own errors, whose message is one readable line."""
    assert isinstance(error, SitroomError), f"{type(error).__name__}: {error}"
    message = str(error)
    assert message.strip(), "an empty message"
    assert "\n" not in message, f"more than one line: {message!r}"
    assert "Traceback" not in message


def assert_refused_cleanly(code: int, out: str, err: str) -> None:
    """A CLI run that refused its input: a non-zero exit and one line on stderr, no traceback
    (a warning line before it is allowed; the refusal is the last line)."""
    assert code != 0, f"exit 0 for refused input: {out[:200]!r}"
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines, "no message on stderr"
    assert lines[-1].startswith("sitroom: error:"), lines[-1]


# Inputs: real files, mutated ---------------------------------------------------------------
# Bytes and words that parsers trip on: YAML's anchors, tags, indicators and odd scalars, JSON's
# brackets, control and separator characters, numbers past every bound, a 13th month.
NASTY = (
    "&a ",
    "*a",
    "!!set ",
    "!!binary ",
    "!!int ",
    "!!python/object ",
    "!foo ",
    "<<: ",
    "? ",
    "---\n",
    "...\n",
    "%YAML 1.1\n",
    "[",
    "]",
    "{",
    "}",
    ",",
    ": ",
    "- ",
    "#",
    "|",
    ">",
    "'",
    '"',
    "\\",
    "\t",
    "\x00",
    "\x85",
    "\u2028",
    "\ufeff",
    "\r",
    "~",
    "null",
    "yes",
    "no",
    ".nan",
    ".inf",
    "1e999",
    "-0",
    "0x1F",
    "0o17",
    "1_000",
    "1" * 5_000,
    "2026-13-45",
    "2026-02-30T25:61:00Z",
    "9999-12-31T23:59:59-23:59",
    "0001-01-01",
    "[" * 200,
    "{" * 200,
    "é",
    "\U0001f4a5",
)


def json_values(*, dates: bool = False) -> st.SearchStrategy[Any]:
    """Values a field might hold instead of the right one: every JSON type, numbers at and past
    their bounds, odd text, small nestings (and, for YAML, dates and times)."""
    leaves = (
        st.none()
        | st.booleans()
        | st.integers()
        | st.sampled_from([0, -1, 2**63, -(2**63) - 1, 2**64, 10**30, 101, 7])
        | st.floats(allow_nan=False)
        | st.text(max_size=12)
        | st.sampled_from(NASTY)
    )
    if dates:
        leaves = leaves | st.dates() | st.datetimes()
    return st.recursive(
        leaves,
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(
                st.text(max_size=8) | st.sampled_from(["id", "type", "name"]), inner, max_size=3
            )
        ),
        max_leaves=6,
    )


def _slots(tree: Any) -> list[tuple[Any, Any]]:
    """Every (container, key or index) in a tree of dicts and lists, the root's included."""
    out, todo = [], [tree]
    while todo:
        node = todo.pop()
        keys = list(node) if isinstance(node, dict) else range(len(node))
        for k in keys:
            out.append((node, k))
            if isinstance(node[k], dict | list):
                todo.append(node[k])
    return out


@st.composite
def mutated_tree(draw: st.DrawFn, tree: Any, values: st.SearchStrategy[Any]) -> Any:
    """``tree`` (a parsed real file) with one to four of its values replaced, removed,
    duplicated or joined by a new key: near-valid input that reaches past the syntax check."""
    tree = copy.deepcopy(tree)
    for _ in range(draw(st.integers(1, 4))):
        slots = _slots(tree)
        if not slots:
            break
        node, key = draw(st.sampled_from(slots))
        op = draw(st.sampled_from(["replace", "replace", "delete", "duplicate", "add"]))
        if op == "replace":
            node[key] = copy.deepcopy(draw(values))
        elif op == "delete":
            del node[key]
        elif op == "duplicate" and isinstance(node, list):
            node.insert(key, copy.deepcopy(node[key]))
        elif isinstance(node, dict):
            node[draw(st.text(max_size=10) | st.sampled_from(list(node)))] = copy.deepcopy(
                draw(values)
            )
    return tree


@st.composite
def mutated_text(draw: st.DrawFn, text: str) -> str:
    """``text`` (a real file) with one to four edits: a slice cut, repeated or moved, a nasty
    token or random text inserted, a line swapped for another, the end cut off."""
    for _ in range(draw(st.integers(1, 4))):
        n = len(text)
        i = draw(st.integers(0, n))
        j = draw(st.integers(i, min(n, i + 200)))
        op = draw(st.sampled_from(["cut", "repeat", "insert", "insert", "line", "truncate"]))
        if op == "cut":
            text = text[:i] + text[j:]
        elif op == "repeat":
            text = text[:j] + text[i:j] * draw(st.integers(2, 5)) + text[j:]
        elif op == "insert":
            token = draw(st.sampled_from(NASTY) | st.text(max_size=8))
            text = text[:i] + token + text[i:]
        elif op == "line":
            lines = text.split("\n")
            a, b = (draw(st.integers(0, len(lines) - 1)) for _ in range(2))
            lines[a] = lines[b]
            text = "\n".join(lines)
        else:
            text = text[:i]
    return text


def garbage() -> st.SearchStrategy[str]:
    """Text with no relation to the format: random, or random tokens of the nasty kind."""
    return st.text(max_size=200) | st.lists(st.sampled_from(NASTY), max_size=20).map("".join)


def yaml_files(texts: list[str], values: st.SearchStrategy[Any]) -> st.SearchStrategy[str]:
    """Hand-written YAML files as a fuzzer feeds them: real ones mutated as text, real ones
    with values of their trees replaced (from ``values``) and dumped again, and garbage."""
    import yaml

    def dumped(tree: Any) -> str:
        return yaml.safe_dump(tree, sort_keys=False, allow_unicode=True)

    return st.one_of(
        st.sampled_from(texts).flatmap(mutated_text),
        st.sampled_from([yaml.safe_load(t) for t in texts])
        .flatmap(lambda tree: mutated_tree(tree, values))
        .map(dumped),
        garbage(),
    )
