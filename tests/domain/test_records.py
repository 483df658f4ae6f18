import polars as pl
import pyarrow as pa
import pytest

from sitroom.domain.records import Record, RecordBatch, feed_item_id
from sitroom.errors import RecordError
from sitroom.testing import make_record


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("kind", "sitroom.domain.records.Record", "stable kind"),
        ("kind", "", "stable kind"),
        ("kind_version", 0, "kind_version"),
        ("confidence", 101, "confidence"),
        ("confidence", -1, "confidence"),
        ("id", "", "id"),
    ],
)
def test_record_envelope_rules(field: str, value: object, message: str) -> None:
    with pytest.raises(RecordError, match=message):
        make_record(1, **{field: value})


def test_valid_time_must_not_end_before_it_starts() -> None:
    with pytest.raises(RecordError, match="ends before"):
        make_record(1, valid_from=10, valid_to=5)


def test_batch_validation_names_the_offending_record() -> None:
    batch = RecordBatch.from_records([make_record(1), make_record(2)])
    bad = batch.with_column("confidence", pa.array([50, 120], pa.int8()))
    with pytest.raises(RecordError, match="test:2"):
        bad.validate()


def test_rows_round_trip_through_a_batch() -> None:
    recs = [make_record(i, payload={"x": [i, "ü"]}, confidence=i) for i in range(3)]
    back = list(RecordBatch.from_records(recs).rows())
    assert back == recs


def test_feed_item_id_is_stable_and_distinguishes_sources() -> None:
    assert feed_item_id("gdelt-v2", "881990832") == "gdelt-v2:881990832"
    assert feed_item_id("gdelt-v1", "881990832") != feed_item_id("gdelt-v2", "881990832")


def test_record_is_immutable() -> None:
    r = make_record(1)
    with pytest.raises(AttributeError):
        r.id = "other"  # type: ignore[misc]
    assert isinstance(r, Record)


def test_payload_field_reads_typed_and_json_payloads_alike() -> None:
    payloads = [{"a": {"b": 1, "c": "x"}}, {"a": {"b": None, "c": "y"}}]
    typed = RecordBatch.from_columns(
        id=["t:1", "t:2"],
        kind="t.k",
        kind_version=1,
        source="t",
        compartment="",
        payload=pa.array(payloads),
    )
    plain = RecordBatch.from_records([make_record(i, payload=p) for i, p in enumerate(payloads)])
    for batch in (typed, plain):
        assert batch.payload_field("a.b", pl.Int64).to_list() == [1, None]
        assert batch.payload_field("a.c").to_list() == ["x", "y"]
        assert batch.payload_field("a.nope").to_list() == [None, None]
    assert [r.payload for r in typed.rows()] == payloads == [r.payload for r in plain.rows()]


def test_a_parsed_batch_gives_the_same_rows_and_keeps_them_when_cut() -> None:
    recs = [make_record(i, payload={"x": [i, "ü"], "k": {"a": i}}) for i in range(6)]
    plain = RecordBatch.from_records(recs)
    parsed = plain.parsed()
    assert parsed.parsed() is parsed
    assert list(parsed.rows()) == list(plain.rows()) == recs
    mask = pa.array([True, False, None, True, True, False])
    cuts = [
        lambda b: b.filter(mask),
        lambda b: b.slice(2),
        lambda b: b.slice(1, 3),
        lambda b: b.slice(9, 2),
        lambda b: b.of_kinds(["test.item"]),
        lambda b: b.of_kinds(["other"]),
        lambda b: b.with_column("seq", list(range(6))),
        lambda b: RecordBatch.concat([b, b.slice(3, 2)]),
    ]
    for cut in cuts:
        kept = cut(parsed)
        assert kept._payloads is not None
        assert list(kept.rows()) == list(cut(plain).rows())
    # A new payload column drops the parsed payloads with it.
    retyped = parsed.with_column("payload", ['{"y": 1}'] * 6)
    assert retyped._payloads is None
    assert [r.payload for r in retyped.rows()] == [{"y": 1}] * 6
