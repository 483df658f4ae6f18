"""The GDELT parser and connector (1.0 and 2.0 exports, their zip archives), fuzzed: garbage,
real rows with damaged fields, real files with damaged bytes, damaged archives. Each is read
(every line accepted or quarantined) or refused in one line; never a traceback."""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from sitroom.adapters.gdelt import connector
from sitroom.adapters.gdelt.lookups import load_lookups
from sitroom.adapters.inputs import Input

from conftest import V1_FILE, V2_FILES
from fuzzing import assert_one_line, fuzz
from mutations import damaged, read_or_refused, with_fields_changed

LOOKUPS = load_lookups()
V2_ROWS = [r for f in V2_FILES for r in f.read_bytes().split(b"\n")[:40] if r]
V1_ROWS = [r for r in V1_FILE.read_bytes().split(b"\n")[:40] if r]
HEAD = b"\n".join(V2_ROWS[:12] + V1_ROWS[:4]) + b"\n"


def read(data: bytes, label: str = "20250101000000.export.CSV", chunk_rows: int = 7) -> bool:
    """Small chunks by default, so that chunk boundaries fall everywhere."""
    inp = Input(label, data)
    return read_or_refused(lambda: connector.chunks(inp, LOOKUPS, chunk_rows=chunk_rows))


@fuzz()
@given(st.binary(max_size=4000))
def test_garbage(data: bytes) -> None:
    read(data)


@fuzz(examples=60)
@given(st.one_of(with_fields_changed(V2_ROWS, b"\t"), with_fields_changed(V1_ROWS, b"\t")))
def test_real_rows_with_damaged_fields(data: bytes) -> None:
    read(data)


@fuzz()
@given(damaged(HEAD))
def test_real_files_with_damaged_bytes(data: bytes) -> None:
    read(data)


@fuzz(examples=40)
@given(st.integers(0, 100_000), st.sampled_from([b"\n", b"\0", b"\t", b"\r\n", b"\xff\n"]))
def test_runs_of_one_byte_are_refused_or_kept_as_one_record(n: int, byte: bytes) -> None:
    """Real rows around a run of one byte: the run is at most a record a chunk, never a record
    a line; the same file without the real rows is refused."""
    data = HEAD + byte * n + HEAD
    inp = Input("run.CSV", data)
    chunks = list(connector.chunks(inp, LOOKUPS))
    assert sum(len(c.records) for c in chunks) <= 2 * HEAD.count(b"\n") + len(chunks)
    if n:
        assert not read(byte * n, chunk_rows=50_000)


def zipped(data: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("20250101000000.export.CSV", data)
    return buf.getvalue()


@fuzz(examples=60)
@given(damaged(zipped(HEAD), max_ops=3), st.integers(1, 4000))
def test_damaged_archives_and_small_limits(data: bytes, limit: int) -> None:
    """A zip with damaged bytes, unpacked under a byte limit: each member read or the archive
    refused in one line."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "export.CSV.zip"
        path.write_bytes(data)
        try:
            members = list(connector.open_inputs(str(path), max_bytes=limit))
        except Exception as e:
            assert_one_line(e)
            return
        for inp in members:
            assert len(inp.data) <= limit
            read(bytes(inp.data), inp.label)
