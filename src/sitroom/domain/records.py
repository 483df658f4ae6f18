"""Records: the one shape in which everything enters the log.

A record has a stable ``id``; a ``kind`` (a stable dotted name, never a Python import path) with an
integer ``kind_version``; a valid time (when it happened in the world: an interval
``[valid_from, valid_to)`` in epoch ms, a point when both are equal, unknown when both are None);
a ``recorded_time`` (the hybrid-logical-clock timestamp at which this workspace learned it); a
``source``; a ``confidence`` (0–100 as in STIX 2.1, None when the source states none); a
``compartment`` (the track or marking it belongs to, "" for general); an ``origin`` site; and a
JSON ``payload``. ``seq`` is the record's position in this workspace's log, assigned on append.

Records travel in columnar :class:`RecordBatch` es (an Arrow table with :data:`SCHEMA`) so that the
bulk path never loops in Python; :class:`Record` is the row view for code that handles a few.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from sitroom.errors import RecordError

SCHEMA = pa.schema(
    [
        pa.field("seq", pa.int64()),
        pa.field("id", pa.string(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("kind_version", pa.int16(), nullable=False),
        pa.field("valid_from", pa.int64()),
        pa.field("valid_to", pa.int64()),
        pa.field("recorded_time", pa.int64()),
        pa.field("source", pa.string(), nullable=False),
        pa.field("confidence", pa.int8()),
        pa.field("compartment", pa.string(), nullable=False),
        pa.field("origin", pa.string()),
        pa.field("payload", pa.string(), nullable=False),
    ]
)
COLUMNS = tuple(SCHEMA.names)
ENVELOPE = tuple(c for c in COLUMNS if c != "payload")

KIND_PATTERN = re.compile(r"^[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*)*$")
MAX_ID_LENGTH = 512


def feed_item_id(source: str, source_id: str) -> str:
    """The id of an item a feed publishes: stable across re-ingests and overlapping windows."""
    return f"{source}:{source_id}"


@dataclass(frozen=True, slots=True)
class Record:
    id: str
    kind: str
    kind_version: int
    source: str
    payload: Mapping[str, Any]
    valid_from: int | None = None
    valid_to: int | None = None
    confidence: int | None = None
    compartment: str = ""
    recorded_time: int | None = None
    origin: str | None = None
    seq: int | None = None

    def __post_init__(self) -> None:
        check_envelope(
            self.id, self.kind, self.kind_version, self.confidence, self.valid_from, self.valid_to
        )

    @property
    def valid_time(self) -> tuple[int | None, int | None]:
        return (self.valid_from, self.valid_to)

    def as_dict(self) -> dict[str, Any]:
        return {c: getattr(self, c) for c in COLUMNS}


def check_envelope(
    id: str,
    kind: str,
    kind_version: int,
    confidence: int | None,
    valid_from: int | None,
    valid_to: int | None,
) -> None:
    if not id or len(id) > MAX_ID_LENGTH:
        raise RecordError(f"record id must be 1-{MAX_ID_LENGTH} characters, got {id!r}")
    if not KIND_PATTERN.match(kind) or len(kind) > 64:
        raise RecordError(
            f"record kind {kind!r} is not a stable kind name (lower-case dotted words such as "
            "'gdelt.event'; never a Python import path)"
        )
    if kind_version < 1:
        raise RecordError(f"kind_version of {kind!r} must be >= 1, got {kind_version}")
    if confidence is not None and not 0 <= confidence <= 100:
        raise RecordError(f"confidence must be 0-100 (STIX 2.1 scale), got {confidence}")
    if valid_from is not None and valid_to is not None and valid_to < valid_from:
        raise RecordError(f"valid time of {id!r} ends before it starts")


@dataclass(frozen=True)
class RecordBatch:
    """Records as columns: an Arrow table with :data:`SCHEMA`."""

    table: pa.Table = field(repr=False)

    def __post_init__(self) -> None:
        if not self.table.schema.equals(SCHEMA):
            object.__setattr__(self, "table", self.table.select(list(COLUMNS)).cast(SCHEMA))

    # construction -------------------------------------------------------------------------
    @classmethod
    def empty(cls) -> RecordBatch:
        return cls(SCHEMA.empty_table())

    @classmethod
    def from_records(cls, records: Iterable[Record]) -> RecordBatch:
        rows = list(records)
        cols: dict[str, list[Any]] = {c: [] for c in COLUMNS}
        for r in rows:
            for c in ENVELOPE:
                cols[c].append(getattr(r, c))
            cols["payload"].append(orjson.dumps(r.payload).decode())
        return cls(pa.table(cols, schema=SCHEMA))

    @classmethod
    def from_columns(cls, **columns: Any) -> RecordBatch:
        """Build from column arrays (Arrow, numpy or lists); missing envelope columns get their
        defaults (null seq, recorded_time and origin; "" compartment). Validates in bulk."""
        n = len(columns["id"])
        defaults: dict[str, Any] = {
            "seq": pa.nulls(n, pa.int64()),
            "valid_from": pa.nulls(n, pa.int64()),
            "valid_to": pa.nulls(n, pa.int64()),
            "recorded_time": pa.nulls(n, pa.int64()),
            "confidence": pa.nulls(n, pa.int8()),
            "origin": pa.nulls(n, pa.string()),
        }
        arrays = []
        for f in SCHEMA:
            value = columns.get(f.name, defaults.get(f.name))
            if value is None:
                raise RecordError(f"column {f.name!r} is required")
            if isinstance(value, str | int):
                value = pa.array([value] * n, f.type) if n else pa.array([], f.type)
            arrays.append(
                pa.array(value, f.type)
                if not isinstance(value, pa.Array | pa.ChunkedArray)
                else value.cast(f.type)
            )
        batch = cls(pa.Table.from_arrays(arrays, schema=SCHEMA))
        batch.validate()
        return batch

    # access -------------------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self.table.num_rows)

    def column(self, name: str) -> pa.ChunkedArray:
        return self.table.column(name)

    def rows(self) -> Iterator[Record]:
        for row in self.table.to_pylist():
            payload = orjson.loads(row.pop("payload"))
            yield Record(payload=payload, **row)

    def slice(self, offset: int, length: int | None = None) -> RecordBatch:
        return RecordBatch(self.table.slice(offset, length))

    def filter(self, mask: pa.Array | pa.ChunkedArray) -> RecordBatch:
        return RecordBatch(self.table.filter(mask))

    def of_kinds(self, kinds: Sequence[str]) -> RecordBatch:
        return self.filter(pc.is_in(self.table["kind"], pa.array(list(kinds), pa.string())))

    def with_column(self, name: str, values: Any) -> RecordBatch:
        i = SCHEMA.get_field_index(name)
        return RecordBatch(
            self.table.set_column(i, SCHEMA.field(i), pa.array(values, SCHEMA.field(i).type))
        )

    @staticmethod
    def concat(batches: Sequence[RecordBatch]) -> RecordBatch:
        if not batches:
            return RecordBatch.empty()
        return RecordBatch(pa.concat_tables([b.table for b in batches]))

    # validation ---------------------------------------------------------------------------
    def validate(self) -> None:
        """The envelope rules of :func:`check_envelope`, checked column-wise."""
        t = self.table
        if not len(t):
            return
        bad = pc.or_(
            pc.equal(pc.utf8_length(t["id"]), 0), pc.greater(pc.utf8_length(t["id"]), MAX_ID_LENGTH)
        )
        self._reject(bad, "record id must be 1-512 characters")
        kinds = pc.unique(t["kind"]).to_pylist()
        for k in kinds:
            if not KIND_PATTERN.match(k) or len(k) > 64:
                raise RecordError(
                    f"record kind {k!r} is not a stable kind name "
                    "(lower-case dotted words such as 'gdelt.event')"
                )
        self._reject(pc.less(t["kind_version"], 1), "kind_version must be >= 1")
        conf = t["confidence"]
        self._reject(
            pc.or_(pc.less(conf, 0), pc.greater(conf, 100)),
            "confidence must be 0-100 (STIX 2.1 scale)",
        )
        self._reject(pc.less(t["valid_to"], t["valid_from"]), "valid time ends before it starts")

    def _reject(self, mask: pa.ChunkedArray, reason: str) -> None:
        if pc.any(mask).as_py():
            first = pc.index(mask, True).as_py()
            raise RecordError(f"{reason} (record {self.table['id'][first].as_py()!r})")
