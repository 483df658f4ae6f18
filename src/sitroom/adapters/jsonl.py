"""A log exported as JSON Lines (``sitroom export``), read back for a replay."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from sitroom.errors import SourceError

EXPORT_FIELDS = {"id", "kind", "kind_version", "source", "payload", "recorded_time"}


def read_export(path: Path) -> Iterator[dict[str, Any]]:
    """The records of an exported log, in order; SourceError naming the line of the first that
    is not one."""
    if not path.is_file():
        raise SourceError(f"no such file: {path}")
    return _rows(path)


def _rows(path: Path) -> Iterator[dict[str, Any]]:
    with path.open("rb") as f:
        for i, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = orjson.loads(line)
            except orjson.JSONDecodeError as e:
                raise SourceError(f"{path}:{i}: not a JSON line ({e})") from None
            missing = EXPORT_FIELDS - set(row) if isinstance(row, dict) else EXPORT_FIELDS
            if missing:
                raise SourceError(
                    f"{path}:{i}: not a record exported by sitroom "
                    f"(missing {', '.join(sorted(missing))})"
                )
            yield row


def count_rows(path: Path) -> int:
    """Lines in the file: a replay's progress total."""
    with path.open("rb") as f:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
