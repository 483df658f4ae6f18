"""CSV exports read a chunk of rows at a time, and their rows screened byte-wise before any field
is read: shared by the ACLED and UCDP connectors.

Rows are CSV records (RFC 4180): a quoted field may hold commas, doubled quotes and newlines, so
one row can span several physical lines. Row boundaries are found with numpy over the bytes (a
line break ends a row unless it lies inside quotes); :func:`screen` then rejects, with the
physical line on which each starts, rows that are not UTF-8, are empty, quote badly, hold a
bare carriage return or have another number of fields than the header: the CSV reader sees
only rows it cannot misread, so one bad row never refuses a whole file.
"""

from __future__ import annotations

import contextlib
import csv
import mmap
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl

from sitroom.adapters.inputs import Input, Rejected
from sitroom.errors import SourceError

Ints = npt.NDArray[np.int64]
Mask = npt.NDArray[np.bool_]

_NL, _CR, _QUOTE, _COMMA = ord("\n"), ord("\r"), ord('"'), ord(",")
WINDOW = 1 << 24  # bytes scanned at a time for row boundaries
_DECODE = 1 << 16  # bytes checked as UTF-8 at a time once a chunk is known to hold a bad row


@dataclass(frozen=True)
class Rows:
    start: Ints  # byte offset of each row
    end: Ints  # offset just past it, past its line break when it has one
    line: Ints  # the physical line (1-based) on which it starts


def row_ends(data: bytes | mmap.mmap, window: int) -> Iterator[tuple[Ints, Ints]]:
    """For each window of the file: where the rows ending in it end, and the line on which the
    row after each starts. A line break ends a row unless it lies inside a quoted field, that is
    after an odd number of quotes (a doubled quote counts twice, so it keeps the parity)."""
    n = len(data)
    odd = 0  # parity of the quotes before the window
    breaks = 0  # line breaks before the window
    last = 0
    for at in range(0, n, window):
        buf = np.frombuffer(data, np.uint8, count=min(window, n - at), offset=at)
        nl = np.flatnonzero(buf == _NL)
        quotes = np.flatnonzero(buf == _QUOTE)
        ending = np.flatnonzero(((np.searchsorted(quotes, nl) + odd) & 1) == 0)
        if len(ending):
            ends = (nl[ending] + at + 1).astype(np.int64)
            last = int(ends[-1])
            yield ends, (ending + breaks + 2).astype(np.int64)
        odd = (odd + len(quotes)) & 1
        breaks += len(nl)
    if last < n:  # a last row without a line break, or one whose quote never closes
        yield np.array([n], np.int64), np.array([breaks + 2], np.int64)


def rows(data: bytes | mmap.mmap, chunk_rows: int, window: int = WINDOW) -> Iterator[Rows]:
    """The header row alone, then the data rows ``chunk_rows`` at a time, cut while the rest of
    the file is still being scanned."""
    start, line = 0, 1
    pending_ends: Ints = np.empty(0, np.int64)
    pending_lines: Ints = np.empty(0, np.int64)
    want = 1

    def cut(ends: Ints, nexts: Ints) -> Rows:
        starts = np.concatenate([np.array([start], np.int64), ends[:-1]])
        lines = np.concatenate([np.array([line], np.int64), nexts[:-1]])
        return Rows(starts, ends, lines)

    for ends, nexts in row_ends(data, window):
        pending_ends = np.concatenate([pending_ends, ends])
        pending_lines = np.concatenate([pending_lines, nexts])
        while len(pending_ends) >= want:
            yield cut(pending_ends[:want], pending_lines[:want])
            start, line = int(pending_ends[want - 1]), int(pending_lines[want - 1])
            pending_ends, pending_lines = pending_ends[want:], pending_lines[want:]
            want = chunk_rows
    if len(pending_ends):
        yield cut(pending_ends, pending_lines)


def ends_with(arr: npt.NDArray[np.uint8], start: Ints, end: Ints, byte: int) -> Ints:
    ends: Ints = ((end > start) & (arr[np.maximum(end - 1, 0)] == byte)).astype(np.int64)
    return ends


def undecodable(blob: bytes, ends: Ints) -> Mask:
    """Rows that are not valid UTF-8. A valid chunk is checked by one decode; one that is not
    is checked a window of rows at a time, so that each error costs its window, not the rest of
    the chunk (a decode error copies what it was decoding)."""
    bad = np.zeros(len(ends), np.bool_)
    with contextlib.suppress(UnicodeDecodeError):
        blob.decode("utf-8")
        return bad  # the common case: one decode says every row is valid
    view, at, n = memoryview(blob), 0, len(blob)
    while at < n:
        # The window ends at a row's end, so an error in it lies in one of its rows.
        upto = int(ends[min(int(np.searchsorted(ends, at + _DECODE)), len(ends) - 1)])
        try:
            str(view[at:upto], "utf-8")
            at = upto
        except UnicodeDecodeError as e:
            row = int(np.searchsorted(ends, at + e.start, side="right"))
            bad[row] = True
            at = int(ends[row])
    return bad


def structure(
    arr: npt.NDArray[np.uint8], start: Ints, text_end: Ints, end: Ints, width: int
) -> list[tuple[Mask, str | Ints]]:
    """Row-level checks on the bytes, before any field is read: (the row is bad, why)."""
    n = len(start)
    quotes = np.flatnonzero(arr == _QUOTE)
    row_of = np.searchsorted(end, quotes, side="right")
    # A chunk starts at a row boundary, where the quote count is even: a quote's parity in the
    # chunk is its parity in its row. Even ones open a quoted field, odd ones close it.
    opening = (np.arange(len(quotes)) & 1) == 0
    before = arr[np.maximum(quotes - 1, 0)]
    after = arr[np.minimum(quotes + 1, len(arr) - 1)]
    opens_well = (quotes == start[row_of]) | (before == _COMMA) | (before == _QUOTE)
    closes_well = (quotes + 1 == text_end[row_of]) | (after == _COMMA) | (after == _QUOTE)
    misplaced = np.where(opening, ~opens_well, ~closes_well)
    bad_quoting = np.zeros(n, np.bool_)
    bad_quoting[row_of[misplaced]] = True
    bad_quoting |= (np.bincount(row_of, minlength=n) & 1) == 1
    # Separators are the commas outside quotes: a row's commas less those between each of its
    # opening quotes and the closing one. Quotes are few, commas some thirty a row, so both are
    # counted by lookups in the comma positions rather than by a pass over every byte.
    commas = np.flatnonzero(arr == _COMMA)
    opens, closes = quotes[0::2], quotes[1::2]
    if len(closes) < len(opens):  # a quote never closed runs to the end of the chunk
        closes = np.append(closes, len(arr))
    quoted = np.searchsorted(commas, closes) - np.searchsorted(commas, opens)
    in_quotes = np.bincount(row_of[0::2], weights=quoted, minlength=n).astype(np.int64)
    fields = np.searchsorted(commas, end) - np.searchsorted(commas, start) - in_quotes + 1
    # CSV readers disagree on a bare CR inside an unquoted field (a line break to some, dropped
    # by others): the value is ambiguous, so the row is not taken.
    crs = np.flatnonzero(arr == _CR)
    bare = crs[(np.searchsorted(quotes, crs) & 1) == 0]
    bare_cr = np.zeros(n, np.bool_)
    rows_of_bare = np.searchsorted(end, bare, side="right")
    bare_cr[rows_of_bare[bare != text_end[rows_of_bare]]] = True
    return [
        (text_end == start, "empty line"),
        (
            bad_quoting,
            "malformed quoting: a quote inside an unquoted field, or a quoted field never closed",
        ),
        (bare_cr, "a carriage return inside an unquoted field"),
        (fields != width, fields.astype(np.int64)),
    ]


@dataclass(frozen=True)
class Screened:
    """A chunk of rows after the byte-level checks."""

    blob: bytes  # the chunk's bytes; offsets below are into it
    start: Ints  # where each row starts
    text_end: Ints  # where its text ends, before its line break
    keep: Mask  # rows the CSV reader may read
    good: bytes  # their bytes, in order
    rejected: list[Rejected]  # the others, with their line, text and reason


def screen(data: bytes | mmap.mmap, rows: Rows, width: int) -> Screened:
    """The chunk ``rows`` of ``data`` checked byte-wise (see :func:`structure`): the rows a CSV
    reader with ``width`` columns reads as they are, and the others rejected."""
    lo = int(rows.start[0])
    blob = bytes(data[lo : int(rows.end[-1])])
    arr = np.frombuffer(blob, np.uint8)
    start, end = rows.start - lo, rows.end - lo
    text_end = end - ends_with(arr, start, end, _NL)
    text_end = text_end - ends_with(arr, start, text_end, _CR)

    bad = undecodable(blob, end)
    rejected = [
        Rejected(
            int(rows.line[i]),
            blob[start[i] : text_end[i]].decode("utf-8", "replace"),
            "not valid UTF-8",
        )
        for i in np.flatnonzero(bad)
    ]
    for mask, why in structure(arr, start, text_end, end, width):
        for i in np.flatnonzero(mask & ~bad):
            said = (
                why
                if isinstance(why, str)
                else f"expected {width} fields as in the header, got {why[i]}"
            )
            raw = blob[start[i] : text_end[i]].decode("utf-8")
            rejected.append(Rejected(int(rows.line[i]), raw, said))
        bad |= mask
    keep = ~bad
    good = blob if keep.all() else arr[np.repeat(keep, end - start)].tobytes()
    return Screened(blob, start, text_end, keep, good, rejected)


# C0 control characters but tab, line feed and carriage return (a quoted field may span lines):
# no real field holds one; a NUL is a damaged file, not a value to keep.
CONTROL = r"[\x00-\x08\x0B\x0C\x0E-\x1F]"


def control_characters(columns: Iterable[str]) -> pl.Expr:
    """Why a row is refused for a control character in one of ``columns`` (the first such
    column named), or null."""
    return pl.coalesce(
        pl.when(pl.col(c).str.contains(CONTROL).fill_null(False)).then(
            pl.lit(f"a control character (such as NUL) in {c}")
        )
        for c in columns
    )


def header(inp: Input, head: Rows) -> list[str]:
    """The names in the header row, as written (a byte-order mark dropped)."""
    raw = bytes(inp.data[int(head.start[0]) : int(head.end[0])])
    try:
        text = raw.decode("utf-8-sig")  # spreadsheet tools prepend a byte-order mark
    except UnicodeDecodeError:
        raise SourceError(f"{inp.label}: the header row is not valid UTF-8") from None
    try:
        return next(csv.reader([text.rstrip("\r\n")]), [])
    except csv.Error as e:  # a stray quote, a NUL: not a header any CSV tool wrote
        raise SourceError(f"{inp.label}: the header row is not CSV ({e})") from None
