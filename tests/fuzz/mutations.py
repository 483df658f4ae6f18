"""What the connectors' fuzzers share: inputs that are garbage, and inputs that are almost right
(real rows and files, damaged a few bytes or fields at a time), so that a fuzzer reaches past
the first check; and one way to read a connector's chunks to the end.

A connector either refuses an input (one of sitroom's errors, one line) or reads it: then every
row a chunk counts stands for one record, accepted or quarantined (a quarantine record of a run
of identical rows for its ``count``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from hypothesis import strategies as st

from sitroom.application.ports import Chunk
from sitroom.domain.kinds import QUARANTINED

from fuzzing import assert_one_line

# Bytes and values that break parsers: separators, quotes, line breaks, NUL and other control
# characters, bytes that are not UTF-8, a BOM, huge and odd numbers, dates out of range.
NASTY_BYTES = [b"\0", b"\n", b"\r", b"\r\n", b'"', b",", b"\t", b"\xff", b"\xc3", b"\x1b"]
NASTY_VALUES = [
    b"",
    b"0",
    b"-1",
    b"1e309",
    b"nan",
    b"99999999",
    b"18991231",
    b"21000101",
    b"00000000",
    b"9999-12-31",
    b"1850-01-01",
    b"2024-02-30",
    b"99999999999999999999",
    b"\0",
    b"a\0b",
    b'"',
    b'""',
    b'"unclosed',
    b"\xef\xbb\xbf",
    "Ⅻ ١٢٣ ß \u202e".encode(),
    b"x" * 5000,
]


def _apply(seed: bytes, ops: Sequence[tuple[str, int, int, bytes]]) -> bytes:
    data = bytearray(seed)
    for op, at, n, value in ops:
        at = at % (len(data) + 1)
        if op == "flip" and data:
            data[min(at, len(data) - 1)] = n % 256
        elif op == "insert":
            data[at:at] = value
        elif op == "delete":
            del data[at : at + n]
        elif op == "repeat":
            data[at:at] = bytes(data[at : at + 64]) * (n % 40)
        elif op == "cut":
            del data[at:]
    return bytes(data)


def damaged(seed: bytes, max_ops: int = 6) -> st.SearchStrategy[bytes]:
    """``seed`` with a few bytes flipped, inserted, deleted, repeated, or cut short."""
    op = st.tuples(
        st.sampled_from(["flip", "insert", "delete", "repeat", "cut"]),
        st.integers(0, 1 << 20),
        st.integers(1, 300),
        st.one_of(st.sampled_from(NASTY_BYTES + NASTY_VALUES), st.binary(max_size=16)),
    )
    return st.lists(op, max_size=max_ops).map(lambda ops: _apply(seed, ops))


def with_fields_changed(
    rows: Sequence[bytes], separator: bytes, max_rows: int = 12
) -> st.SearchStrategy[bytes]:
    """Some of ``rows`` (real ones), in any order, with fields set to nasty values, dropped or
    added, rows repeated or left blank: lines joined with a line break."""

    @st.composite
    def build(draw: st.DrawFn) -> bytes:
        picked = draw(st.lists(st.sampled_from(list(rows)), min_size=1, max_size=max_rows))
        out = []
        for row in picked:
            fields = row.split(separator)
            for _ in range(draw(st.integers(0, 3))):
                i = draw(st.integers(0, max(len(fields) - 1, 0)))
                change = draw(st.sampled_from(["set", "drop", "add", "blank", "repeat"]))
                value = draw(st.one_of(st.sampled_from(NASTY_VALUES), st.binary(max_size=12)))
                if change == "set" and fields:
                    fields[i] = value
                elif change == "drop" and fields:
                    del fields[i]
                elif change == "add":
                    fields.insert(i, value)
                elif change == "blank":
                    out.append(b"")
                else:
                    out.extend([separator.join(fields)] * draw(st.integers(1, 30)))
            out.append(separator.join(fields))
        return b"\n".join(out) + draw(st.sampled_from([b"\n", b"", b"\r\n"]))

    return build()


def covered(chunks: Iterable[Chunk]) -> None:
    """Read every chunk: each row a chunk counts is one record, or counted in a run's."""
    rows = held = 0
    for chunk in chunks:
        assert chunk.rows >= 0
        rows += chunk.rows
        held += len(chunk.records)
        runs = chunk.records.of_kinds([QUARANTINED])
        if len(runs):
            held += int(runs.payload_field("count", int).fill_null(1).sum()) - len(runs)
    assert rows == held, f"the chunks count {rows} rows, their records stand for {held}"


def read_or_refused(read: Callable[[], Iterable[Chunk]]) -> bool:
    """True when the input was read (its rows covered), False when it was refused in one
    line; anything else (a traceback of another kind) fails the fuzzer."""
    try:
        covered(read())
    except AssertionError:
        raise
    except Exception as e:  # anything but a one-line SitroomError is the bug
        assert_one_line(e)
        return False
    return True
