"""Fakes that tests, plugins and users can reuse: a clock that moves when told, the in-memory
log, and a small record factory."""

from __future__ import annotations

from typing import Any

from sitroom.adapters.clock import ManualClock
from sitroom.adapters.log_memory import MemoryLog
from sitroom.domain.records import Record

__all__ = ["ManualClock", "MemoryLog", "make_record"]

T0 = 1_764_000_000_000  # 2025-11-24T16:00:00Z, a fixed "now" for tests


def make_record(i: int, *, kind: str = "test.item", source: str = "test", **kw: Any) -> Record:
    """Record number ``i`` of a simple test stream: id from (source, i), valid at T0 + i s."""
    fields: dict[str, Any] = {
        "id": f"{source}:{i}",
        "kind": kind,
        "kind_version": 1,
        "source": source,
        "payload": {"n": i},
        "valid_from": T0 + 1000 * i,
        "valid_to": T0 + 1000 * i,
    }
    fields.update(kw)
    return Record(**fields)
