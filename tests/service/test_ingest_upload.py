"""Files sent to the server: `POST /ingest/FORMAT` takes the file as the body — the server
reads no path a user names — and ingests it as the user who sent it (signed by them). A viewer,
a format nobody knows, a body past the limit, a name that is a path, bytes that are no GDELT
export: each refused in the one error shape, the log as it was."""

from __future__ import annotations

from pathlib import Path

import sitroom.room
from sitroom.testing.samples import GDELT_V2_FILES

from serving import serve_in_thread


def _seq(room: Path) -> int:
    return int(sitroom.room.verify(room, checkpoint=False).seq)


def test_a_file_sent_is_ingested_as_its_sender(team_room: Path) -> None:
    sample = Path(GDELT_V2_FILES[0])
    served = serve_in_thread(team_room)
    try:
        alice = served.as_user("alice")
        r = alice.post("/ingest/gdelt", params={"name": sample.name}, content=sample.read_bytes())
        assert r.status_code == 200, r.text
        accepted = r.json()["totals"]["accepted"]
        assert accepted > 100
        assert alice.get("/healthz").json()["last_seq"] > accepted
    finally:
        served.stop()
    report = sitroom.room.verify(team_room, checkpoint=False)
    assert report.ok and report.author_signatures >= 1  # alice signed what she sent


def test_what_cannot_be_ingested_is_refused_and_nothing_is_written(team_room: Path) -> None:
    toml = team_room / "sitroom.toml"
    toml.write_text(toml.read_text().replace("= 268435456", "= 4096"))
    served = serve_in_thread(team_room)
    try:
        before = served.as_user("alice").get("/healthz").json()["last_seq"]
        vic, alice = served.as_user("vic"), served.as_user("alice")
        small = b"not a GDELT export\tat all\n" * 10
        cases = [
            (vic, "/ingest/gdelt", {}, b"x" * 5000, 403, "access_denied"),
            (alice, "/ingest/klingon", {}, small, 404, "not_found"),
            (alice, "/ingest/gdelt", {}, b"x" * 5000, 413, "too_large"),
            (alice, "/ingest/gdelt", {"name": "../../etc/passwd"}, small, 422, "invalid"),
            (alice, "/ingest/gdelt", {}, small, 422, "source"),
        ]
        for client, path, params, body, status, kind in cases:
            r = client.post(path, params=params, content=body)
            assert r.status_code == status, (path, params, r.text)
            assert r.json()["error"]["type"] == kind, r.text
            assert "sitroom-upload" not in r.text  # the server's own folders are not said
        unauthenticated = served.client().post("/ingest/gdelt", content=small)
        assert unauthenticated.status_code == 401
        after = alice.get("/healthz").json()["last_seq"]
        # Only the recorded refusal of the viewer was written.
        assert after - before == 1
    finally:
        served.stop()
