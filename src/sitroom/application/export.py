"""Export the log as JSON Lines: one record per line, in log order, payload as a JSON object."""

from __future__ import annotations

from typing import BinaryIO

import orjson

from sitroom.application.engine import Engine
from sitroom.application.queries import resolve_as_of
from sitroom.domain import hlc
from sitroom.domain.records import ENVELOPE
from sitroom.domain.timeutil import iso


def export_jsonl(engine: Engine, out: BinaryIO, as_of_ms: int | None = None) -> int:
    at = resolve_as_of(engine, as_of_ms)
    n = 0
    for batch in engine.log.read(upto_seq=at.seq):
        envelopes = batch.table.select(list(ENVELOPE)).to_pylist()
        payloads = batch.payload_json().to_pylist()
        lines = []
        for env, payload in zip(envelopes, payloads, strict=True):
            env["recorded_at"] = iso(hlc.wall_ms(env["recorded_time"]))
            # The payload is already compact JSON: splice it in rather than parse and re-dump it.
            lines.append(orjson.dumps(env)[:-1] + b',"payload":' + payload.encode() + b"}\n")
        out.write(b"".join(lines))
        n += len(lines)
    return n
