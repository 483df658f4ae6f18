"""Records: the one shape in which everything enters the log.

A record has a stable ``id``; a ``kind`` (a stable dotted name, never a Python import path) with an
integer ``kind_version``; a valid time (when it happened in the world: an interval
``[valid_from, valid_to)`` in epoch ms, a point when both are equal, still going on when only
the end is None, unknown when both are None);
a ``recorded_time`` (the hybrid-logical-clock timestamp at which this workspace learned it); a
``source``; a ``confidence`` (0–100 as in STIX 2.1, None when the source states none); a
``compartment`` (the track or marking it belongs to, "" for general); an ``origin`` site; and a
JSON ``payload``. ``seq`` is the record's position in this workspace's log, assigned on append.

Records travel in columnar :class:`RecordBatch` es (an Arrow table with :data:`SCHEMA`) so that the
bulk path never loops in Python; :class:`Record` is the row view for code that handles a few.

A batch's payload column holds either JSON text or, when a connector knows its schema, a typed
Arrow struct: the same JSON object either way (``rows()``, ``payload_json()`` and
``payload_field()`` read both alike). Typed payloads spare the bulk path a JSON encoding per
record on ingest, which is most of the cost of normalising a million GDELT rows.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from sitroom.errors import RecordError

if TYPE_CHECKING:
    import polars as pl

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


def _schema_for(payload_type: pa.DataType | None) -> pa.Schema:
    if payload_type is None or not pa.types.is_struct(payload_type):
        return SCHEMA
    return SCHEMA.set(len(COLUMNS) - 1, pa.field("payload", payload_type, nullable=False))


def content_id(payload: Any) -> str:
    """A short digest of a payload's content (keys sorted): entries written by people, such as
    a track file's, get ids from what they say, so adding the same entry again adds nothing and
    a changed one is a new version beside the old."""
    return hashlib.sha256(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


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
    """Records as columns: an Arrow table with :data:`SCHEMA`.

    A batch may also carry its payloads parsed (:meth:`parsed`): then ``rows()`` gives those
    objects instead of parsing each JSON text again, and the batches cut from it by ``slice``,
    ``filter``, ``of_kinds``, ``with_column`` and ``concat`` carry theirs. The engine parses
    the few records its reactors and detectors make once, where the folds, the detectors and
    the caller each parsed every forecast (tens of KB of JSON) again. Rows of such a batch
    share their payload objects: payloads are read-only (``Mapping``), as they always were.
    """

    table: pa.Table = field(repr=False)
    # One parsed payload per row, as ``rows()`` would give it; None: parse when asked.
    _payloads: tuple[Any, ...] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        t = self.table
        payload_type = t.schema.field("payload").type if "payload" in t.schema.names else None
        schema = _schema_for(payload_type)
        if not t.schema.equals(schema):
            object.__setattr__(self, "table", t.select(list(COLUMNS)).cast(schema))
        if self._payloads is not None and len(self._payloads) != self.table.num_rows:
            raise ValueError("a batch's parsed payloads must be one per row")

    @property
    def typed(self) -> bool:
        """Whether payloads are a typed struct rather than JSON text."""
        return bool(pa.types.is_struct(self.table.schema.field("payload").type))

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
                value = pa.repeat(pa.scalar(value, f.type), n)
            elif not isinstance(value, pa.Array | pa.ChunkedArray):
                value = pa.array(value, f.type)
            elif f.name != "payload" or not pa.types.is_struct(value.type):
                value = value.cast(f.type)
            arrays.append(value)
        batch = cls(pa.Table.from_arrays(arrays, schema=_schema_for(arrays[-1].type)))
        batch.validate()
        return batch

    # access -------------------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self.table.num_rows)

    def column(self, name: str) -> pa.ChunkedArray:
        return self.table.column(name)

    def rows(self) -> Iterator[Record]:
        if self._payloads is not None:
            envelopes = self.table.select(list(ENVELOPE)).to_pylist()
            for row, payload in zip(envelopes, self._payloads, strict=True):
                yield Record(payload=payload, **row)
            return
        typed = self.typed
        for row in self.table.to_pylist():
            payload = row.pop("payload")
            yield Record(payload=payload if typed else orjson.loads(payload), **row)

    def payloads(self) -> Sequence[Any]:
        """Every payload as a Python object, as ``rows()`` gives them (parsed now, unless this
        batch carries them parsed)."""
        if self._payloads is not None:
            return self._payloads
        col = self.table.column("payload")
        return col.to_pylist() if self.typed else [orjson.loads(p) for p in col.to_pylist()]

    def parsed(self) -> RecordBatch:
        """The same batch with its payloads parsed once, for ``rows()`` here and in the
        batches cut from it. Worth it for a few records that several readers take as rows."""
        if self._payloads is not None:
            return self
        return RecordBatch(self.table, tuple(self.payloads()))

    def _cut(self, table: pa.Table, rows: Any) -> RecordBatch:
        """A batch of some of these rows (``rows``: a slice or positions), keeping their parsed
        payloads when this batch has them."""
        if self._payloads is None:
            return RecordBatch(table)
        if isinstance(rows, slice):
            return RecordBatch(table, self._payloads[rows])
        return RecordBatch(table, tuple(self._payloads[i] for i in rows))

    def payload_json(self) -> pa.ChunkedArray:
        """The payloads as JSON text, encoding typed ones (vectorised)."""
        col = self.table.column("payload")
        if not self.typed:
            return col
        import polars as pl  # polars costs 0.1 s to import: only the bulk paths pay it

        series = pl.from_arrow(col)
        assert isinstance(series, pl.Series)
        return pa.chunked_array([series.struct.json_encode().to_arrow().cast(pa.string())])

    def as_json(self) -> RecordBatch:
        """The same batch with JSON-text payloads."""
        if not self.typed:
            return self
        table = self.table.set_column(len(COLUMNS) - 1, "payload", self.payload_json())
        return RecordBatch(table, self._payloads)  # the same payloads, as text

    def payload_field(self, path: str, dtype: Any = None) -> pl.Series:
        """One field of every payload, by dotted path ("event.quad_class"): null where absent."""
        import polars as pl

        col = self.table.column("payload")
        if self.typed:
            # Walk down the struct in Arrow, so only the one child column is converted.
            for part in path.split("."):
                if not pa.types.is_struct(col.type) or col.type.get_field_index(part) < 0:
                    return pl.Series(path, [None] * len(col), dtype or pl.Utf8)
                col = pc.struct_field(col, part)
            out = pl.from_arrow(col)
        else:
            series = pl.from_arrow(col)
            assert isinstance(series, pl.Series)
            out = series.str.json_path_match("$." + path)
        assert isinstance(out, pl.Series)
        out = out.alias(path)
        return out if dtype is None else out.cast(dtype, strict=False)

    def slice(self, offset: int, length: int | None = None) -> RecordBatch:
        table = self.table.slice(offset, length)
        if self._payloads is None:
            return RecordBatch(table)
        start = min(max(offset, 0), len(self))
        return self._cut(table, slice(start, start + table.num_rows))

    def filter(self, mask: pa.Array | pa.ChunkedArray) -> RecordBatch:
        table = self.table.filter(mask)
        if self._payloads is None:
            return RecordBatch(table)
        keep = pc.indices_nonzero(pc.fill_null(mask, False))
        return self._cut(table, keep.to_pylist())

    def of_kinds(self, kinds: Sequence[str]) -> RecordBatch:
        mask = pc.is_in(self.table["kind"], pa.array(list(kinds), pa.string()))
        selected = pc.sum(mask).as_py() or 0
        if selected == len(self):
            return self
        return self.slice(0, 0) if selected == 0 else self.filter(mask)

    def with_column(self, name: str, values: Any) -> RecordBatch:
        i = SCHEMA.get_field_index(name)
        f = SCHEMA.field(i)
        if isinstance(values, pa.Array | pa.ChunkedArray):
            column = values.cast(f.type)  # pa.array() would walk an Arrow array in Python
        else:
            column = pa.array(values, f.type)
        table = self.table.set_column(i, f, column)
        return RecordBatch(table, None if name == "payload" else self._payloads)

    @staticmethod
    def concat(batches: Sequence[RecordBatch]) -> RecordBatch:
        """One batch of all; payloads stay typed only if every batch has the same type."""
        batches = [b for b in batches if len(b)] or list(batches[:1])
        if not batches:
            return RecordBatch.empty()
        types = {b.table.schema.field("payload").type for b in batches}
        if len(types) > 1:
            batches = [b.as_json() for b in batches]
        table = pa.concat_tables([b.table for b in batches])
        parts = [b._payloads for b in batches]
        if any(p is None for p in parts):
            return RecordBatch(table)
        return RecordBatch(table, tuple(itertools.chain.from_iterable(p or () for p in parts)))

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
