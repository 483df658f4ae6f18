"""The UCDP GED connector, fuzzed: garbage, the real sample's rows with damaged fields (extra
and missing columns, quotes, NULs, dates out of range), the real file with damaged bytes. Each
is read (every row accepted or quarantined) or refused in one line; never a traceback."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from sitroom.adapters import ucdp
from sitroom.adapters.inputs import Input

from conftest import UCDP_FILE
from fuzzing import fuzz
from mutations import damaged, read_or_refused, with_fields_changed

LINES = UCDP_FILE.read_bytes().split(b"\n")
HEADER, ROWS = LINES[0], [r for r in LINES[1:40] if r]
HEAD = b"\n".join([HEADER, *ROWS[:10]]) + b"\n"


def read(data: bytes) -> bool:
    inp = Input("ged.csv", data)
    return read_or_refused(lambda: ucdp.chunks(inp, chunk_rows=5))


@fuzz()
@given(st.binary(max_size=3000))
def test_garbage(data: bytes) -> None:
    read(data)


@fuzz()
@given(st.binary(max_size=2000))
def test_garbage_under_a_real_header(data: bytes) -> None:
    read(HEADER + b"\n" + data)


@fuzz(examples=60)
@given(with_fields_changed(ROWS, b","))
def test_real_rows_with_damaged_fields(rows: bytes) -> None:
    read(HEADER + b"\n" + rows)


@fuzz(examples=60)
@given(damaged(HEAD))
def test_the_real_file_with_damaged_bytes(data: bytes) -> None:
    read(data)
