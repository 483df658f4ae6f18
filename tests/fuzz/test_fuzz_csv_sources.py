"""The CSV connectors (ACLED, UCDP GED), fuzzed alike: garbage, garbage under a real header,
real rows with damaged fields (quotes, NULs, extra and missing columns, dates out of range),
real exports with damaged bytes. Each is read (every row accepted or quarantined) or refused
in one line; never a traceback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sitroom.adapters import acled, ucdp
from sitroom.adapters.inputs import Input

from conftest import UCDP_FILE
from fuzzing import fuzz
from mutations import damaged, read_or_refused, with_fields_changed

ACLED_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "acled"


@dataclass(frozen=True)
class Format:
    """A CSV source as the fuzzers feed it: its reader, header, rows and whole samples."""

    label: str
    chunks: Callable[..., Iterator[Any]]
    chunk_rows: int
    samples: tuple[bytes, ...]  # whole real files (or a real file's first rows)

    @property
    def header(self) -> bytes:
        return self.samples[0].split(b"\n", 1)[0]

    @property
    def rows(self) -> list[bytes]:
        return [r for f in self.samples for r in f.split(b"\n")[1:] if r]

    def read(self, data: bytes) -> bool:
        inp = Input(self.label, data)
        return read_or_refused(lambda: self.chunks(inp, chunk_rows=self.chunk_rows))


_UCDP = UCDP_FILE.read_bytes().split(b"\n")
FORMATS = [
    Format(
        "export.csv",
        acled.chunks,
        3,
        tuple(
            (ACLED_FIXTURES / name).read_bytes()
            for name in ("export-2024-06-14.csv", "export-2019-old-format.csv")
        ),
    ),
    Format("ged.csv", ucdp.chunks, 5, (b"\n".join(_UCDP[:41]) + b"\n",)),
]
formats = pytest.mark.parametrize("fmt", FORMATS, ids=["acled", "ucdp"])


@formats
@fuzz()
@given(data=st.binary(max_size=3000))
def test_garbage(fmt: Format, data: bytes) -> None:
    fmt.read(data)


@formats
@fuzz()
@given(data=st.binary(max_size=2000))
def test_garbage_under_a_real_header(fmt: Format, data: bytes) -> None:
    fmt.read(fmt.header + b"\n" + data)


@formats
@fuzz(examples=60)
@given(data=st.data())
def test_real_rows_with_damaged_fields(fmt: Format, data: st.DataObject) -> None:
    rows = data.draw(with_fields_changed(fmt.rows, b","))
    fmt.read(fmt.header + b"\n" + rows)


@formats
@fuzz(examples=60)
@given(data=st.data())
def test_real_exports_with_damaged_bytes(fmt: Format, data: st.DataObject) -> None:
    fmt.read(data.draw(st.sampled_from(fmt.samples).flatmap(damaged)))
