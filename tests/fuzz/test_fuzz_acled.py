"""The ACLED connector, fuzzed: garbage, real rows with damaged fields (quotes, NULs, extra
columns, dates out of range), real exports with damaged bytes. Each is read (every row accepted
or quarantined) or refused in one line; never a traceback."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from sitroom.adapters import acled
from sitroom.adapters.inputs import Input

from fuzzing import fuzz
from mutations import damaged, read_or_refused, with_fields_changed

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "acled"
CLEAN = (FIXTURES / "export-2024-06-14.csv").read_bytes()
OLD = (FIXTURES / "export-2019-old-format.csv").read_bytes()
HEADER = CLEAN.split(b"\n", 1)[0]
ROWS = [r for f in (CLEAN, OLD) for r in f.split(b"\n")[1:] if r]


def read(data: bytes) -> bool:
    inp = Input("export.csv", data)
    return read_or_refused(lambda: acled.chunks(inp, chunk_rows=3))


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
@given(st.sampled_from([CLEAN, OLD]).flatmap(damaged))
def test_real_exports_with_damaged_bytes(data: bytes) -> None:
    read(data)
