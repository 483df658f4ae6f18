"""Every connector a room ingests through passes the Connector contract (sitroom.testing),
each with a good sample of its format and a garbage file of its own kind."""

from __future__ import annotations

from pathlib import Path

from sitroom.adapters.connectors import Acled, Gdelt, Rss, Stix, Ucdp, connectors
from sitroom.application.ports import Connector
from sitroom.testing import ConnectorContract
from sitroom.testing.samples import GDELT_V1_FILE, GDELT_V2_FILES, UCDP_FILE

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    return str(path)


def test_every_connector_of_a_room_is_tested_here() -> None:
    tested = {c().name for c in (Gdelt, Ucdp, Acled, Rss, Stix)}
    assert tested == set(connectors())


class TestGdeltV2(ConnectorContract):
    known_ids = ("gdelt-v2:479491239", "gdelt-v2:479493354")

    def make_connector(self) -> Connector:
        return Gdelt()

    def sample(self, tmp_path: Path) -> str:
        return str(GDELT_V2_FILES[0])

    def garbage(self, tmp_path: Path) -> str:
        """Real rows, then a short row, a row whose date is not one and a binary line."""
        good = GDELT_V2_FILES[0].read_bytes().split(b"\n")[:3]
        short = b"\t".join(good[0].split(b"\t")[:20])
        bad_date = good[1].replace(b"\t2015", b"\t20x5", 1)
        return write(
            tmp_path / "20151027221500.export.CSV",
            b"\n".join([*good, short, bad_date, bytes(range(256))]) + b"\n",
        )


class TestGdeltV1(ConnectorContract):
    known_ids = ("gdelt-v1:564111644", "gdelt-v1:230523753")

    def make_connector(self) -> Connector:
        return Gdelt()

    def sample(self, tmp_path: Path) -> str:
        return str(GDELT_V1_FILE)

    def garbage(self, tmp_path: Path) -> str:
        good = GDELT_V1_FILE.read_bytes().split(b"\n")[:2]
        return write(tmp_path / "v1.tsv", b"\n".join([*good, b"1\t2\t3", b"\t" * 56]) + b"\n")


class TestUcdp(ConnectorContract):
    known_ids = ("ucdp-ged:300380@b49ca0dcc47fcf07", "ucdp-ged:331084@b7ebdce4f37ef88e")

    def make_connector(self) -> Connector:
        return Ucdp()

    def sample(self, tmp_path: Path) -> str:
        return str(UCDP_FILE)

    def garbage(self, tmp_path: Path) -> str:
        """The real header and a real row, then rows with a word for a death count and a
        latitude off the globe."""
        lines = UCDP_FILE.read_bytes().split(b"\n")
        header, row = lines[0], lines[1]
        cells = row.split(b",")
        words = b",".join([b"999999991", *cells[1:-5], b"many", *cells[-4:]])
        off = row.replace(b"300380,", b"999999992,", 1)
        return write(tmp_path / "ged.csv", b"\n".join([header, row, words, off, b"1,2"]) + b"\n")


class TestAcled(ConnectorContract):
    known_ids = ("acled:LBN10234@1718640000", "acled:MMR64020@1718726400")

    def make_connector(self) -> Connector:
        return Acled()

    def sample(self, tmp_path: Path) -> str:
        return str(FIXTURES / "acled" / "export-2024-06-14.csv")

    def garbage(self, tmp_path: Path) -> str:
        return str(FIXTURES / "acled" / "export-bad-rows.csv")


class TestRss(ConnectorContract):
    known_ids = ("rss:wire.example.org/feeds/diplomacy.xml:wire-2025-0304-001",)

    def make_connector(self) -> Connector:
        return Rss()

    def sample(self, tmp_path: Path) -> str:
        return str(FIXTURES / "rss" / "wire.rss.xml")

    def garbage(self, tmp_path: Path) -> str:
        """A feed whose third item's date is not a date."""
        return str(FIXTURES / "rss" / "late-edition.rss.xml")


class TestStix(ConnectorContract):
    # A bundle's objects name their own authors (created_by_ref, x_sitroom_source...): there is
    # no one source for the bundle to declare.
    declares = False
    known_ids = (
        "stix:threat-actor--2c1d0e9f-8a7b-4c6d-9e5f-4a3b2c1d0e01:2026-11-21T10:30:00.000Z",
        "stix:sighting--6c5d4e3f-2a1b-4098-a7b6-c5d4e3f2a101:2026-11-23T12:00:00.000Z#sighted",
    )

    def make_connector(self) -> Connector:
        return Stix()

    def sample(self, tmp_path: Path) -> str:
        return str(FIXTURES / "stix" / "bundle.json")

    def garbage(self, tmp_path: Path) -> str:
        """A bundle whose relationship names no ends and whose opinion's refs are a number."""
        return write(
            tmp_path / "broken.json",
            b'{"type": "bundle", "id": "bundle--1", "objects": ['
            b'{"type": "relationship", "id": "relationship--1"},'
            b'{"type": "opinion", "id": "opinion--1", "object_refs": 5}]}',
        )
