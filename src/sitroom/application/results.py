"""What the room's services return: frozen, typed results, each with ``to_json()``.

A result says what happened or what is known; it never formats itself for people (the CLI's
renderers do). A read is an :class:`Answer`: it also carries its provenance — as of when, how
fresh, how many newer records exist and how many records the reader may not see.

Results are keyword-only frozen dataclasses. ``to_json()`` is their fields as JSON-ready
values, nested results included, provenance last; a field whose value is for Python callers
only is declared with ``field(metadata=INTERNAL)``.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from sitroom.domain.provenance import Provenance

INTERNAL = {"json": False}

# Long work reports its progress: called with (done, total); total is None when not known.
Progress = Callable[[int, int | None], None]


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON values: results and dataclasses as objects, tuples and sets as
    lists, enums by name, paths as text."""
    if isinstance(value, Result):
        return value.to_json()
    if isinstance(value, Provenance):
        return value.as_dict()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | frozenset | set):
        return [jsonable(v) for v in value]
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, PurePath):
        return str(value)
    return value


@dataclass(frozen=True, kw_only=True)
class Result:
    """The base of every result."""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        tail: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.metadata.get("json", True) is False:
                continue
            target = tail if f.name == "provenance" else out
            target[f.name] = jsonable(getattr(self, f.name))
        return {**out, **tail}


@dataclass(frozen=True, kw_only=True)
class Answer(Result):
    """A read: what the room knew, and its provenance."""

    provenance: Provenance
