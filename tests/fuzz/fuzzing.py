"""What every fuzzer shares: one budget, and one idea of a proper refusal.

The budget is small enough for the whole suite to stay within its time on two cores; to fuzz
longer, raise it: ``SITROOM_FUZZ_EXAMPLES=5000 python -m pytest tests/fuzz`` (docs/reliability.md).
Examples are drawn from a fixed seed unless ``SITROOM_FUZZ_SEED`` is set, so CI is repeatable and
a longer run explores further.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

from hypothesis import HealthCheck, seed, settings

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
