"""`sitroom keys replace SITE`: the site's own key replaced with a key transition signed by
the old key and the new. verify holds across it (old checkpoints under the old key, new ones
under the new), every track is re-keyed by the new key and its records, sealed at rest before
and after, still open; a witness and a peer take the new card only with the transition signed
by the key they pinned, and refuse each forgery in one line, recording nothing."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import orjson
import pytest

import sitroom
from sitroom.adapters.heads import HeadFile
from sitroom.adapters.keystore import KEYS_DIR, KeyStore, new_secret
from sitroom.adapters.log_sqlite import SqliteLog
from sitroom.domain.secure.codec import b64, canonical
from sitroom.room import HEAD_FILE, LOG_FILE
from sitroom.settings import key_files

from helpers import PASS, exchange_cards, sealed_track_room
from helpers import sitroom as run


def _stored(w: Path, kind: str) -> list[Any]:
    log = SqliteLog(w / LOG_FILE)
    try:
        return [r.payload for b in log.read(kinds=[kind]) for r in b.rows()]
    finally:
        log.close()


def _count(w: Path, table: str) -> int:
    with sqlite3.connect(w / LOG_FILE) as db:
        return int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def _verify(capfd: pytest.CaptureFixture[str], w: Path, *extra: str) -> tuple[int, Any]:
    r = run(capfd, "verify", "-w", str(w), "--deep", "--json", *extra)
    return r.code, r.json()


@pytest.fixture
def room(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SITROOM_PASSPHRASE", PASS)
    monkeypatch.delenv("SITROOM_USER", raising=False)
    return sealed_track_room(tmp_path / "room", snapshot_every=5, grant_dana=True)


def test_the_site_key_is_replaced_and_everything_holds_across_it(
    room: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    w = str(room)
    before = run(capfd, "-u", "alice", "tracks", "status", "us-iran", "paused", "-w", w)
    assert before.code == 0, before.err
    assert _verify(capfd, room)[0] == 0  # a checkpoint signed by the old key
    old = json.loads(run(capfd, "-u", "alice", "keys", "export", "-w", w).out)["fingerprint"]
    out = tmp_path / "transition.json"
    r = run(capfd, "-u", "alice", "keys", "replace", "washington", "-w", w, "--out", str(out),
            "--json")  # fmt: skip
    assert r.code == 0, r.err
    done = r.json()
    assert (done["revoked"], done["lost"], done["repin"]) == (old, False, None)
    assert done["fingerprint"] != old and done["transition"] == str(out)
    assert {e["track"] for e in done["epochs"]} == {"us-iran", "ceasefire"}
    assert all("washington" in e["members"] for e in done["epochs"])
    statement = json.loads(out.read_text())
    assert statement["old_key"] == "signed" and set(statement["signatures"]) == {"old", "new"}
    assert (statement["old"]["fingerprint"], statement["new"]["fingerprint"]) == (
        old,
        done["fingerprint"],
    )
    # The new head is signed by the new key; the old key's snapshots are gone.
    kept = HeadFile(room / HEAD_FILE).last()
    assert kept is not None and kept.fingerprint == done["fingerprint"]
    assert kept.seq == done["head_seq"] > done["seq"]
    # verify: old checkpoints under the old key, new ones under the new, the transition named.
    code, report = _verify(capfd, room)
    assert (code, report["ok"]) == (0, True), report["findings"]
    assert report["checkpoints_verified"] == report["checkpoints"] == 1  # the old key's
    assert any(f"replaced at seq {done['seq']}" in n and "old key" in n for n in report["notes"])
    # Members read the message from before and one sent after; records sealed at rest after
    # the replacement are under the new epoch, and the site opens old and new alike.
    sent = run(capfd, "-u", "alice", "channels", "send", "-w", w, "direct", "after", "--id",
               "m-2", "--wait", "0s")  # fmt: skip
    assert sent.code == 3, sent.err
    for user in ("alice", "dana"):
        for msg, text in (("m-1", "meet on the 14th"), ("m-2", "after")):
            read = run(capfd, "-u", user, "channels", "read", "-w", w, msg, "--json")
            assert (read.code, read.json()["text"]) == (0, text), read.err
    after = run(capfd, "-u", "alice", "tracks", "status", "us-iran", "negotiating", "-w", w)
    assert after.code == 0, after.err
    sealed = [p["sealed"] for p in _stored(room, "track.status") if set(p) == {"sealed"}]
    epochs = [s["epoch"] for s in sealed if s["track"] == "us-iran"]
    new_epoch = next(e["epoch"] for e in done["epochs"] if e["track"] == "us-iran")
    assert epochs[-1] == new_epoch and len(set(epochs)) == 2
    with sitroom.open(room, as_site=True) as site:
        statuses = [r.payload["status"] for b in site.session.read(kinds=["track.status"])
                    for r in b.rows() if r.compartment == "us-iran"]  # fmt: skip
        assert statuses[-2:] == ["paused", "negotiating"]
        assert site.notes == []
    with sitroom.open(room, as_site=True) as again:
        again.tracks.check()
        assert again.notes == []  # snapshots saved after are signed by the new key
    code, report = _verify(capfd, room)
    assert code == 0 and report["checkpoints_verified"] == report["checkpoints"] == 2


def _geneva_and_bern(tmp: Path, capfd: pytest.CaptureFixture[str]) -> tuple[Path, Path]:
    geneva, bern = tmp / "geneva", tmp / "bern"
    for ws in (geneva, bern):
        assert run(capfd, "init", "-w", str(ws), "--site", ws.name).code == 0
    exchange_cards(tmp, geneva, bern)
    return geneva, bern


def _witness(tmp: Path, capfd: pytest.CaptureFixture[str], geneva: Path, bern: Path, tag: str
             ) -> tuple[int, str, Path]:  # fmt: skip
    req, signed = tmp / f"{tag}.request.json", tmp / f"{tag}.cosigned.json"
    assert run(capfd, "witness", "request", "-w", str(geneva), "--for", "bern", "-o",
               str(req)).code == 0  # fmt: skip
    done = run(capfd, "witness", "cosign", str(req), "-w", str(bern), "-o", str(signed))
    if done.code == 0:
        assert run(capfd, "witness", "import", str(signed), "-w", str(geneva)).code == 0
    return done.code, done.err, signed


def _replace(tmp: Path, capfd: pytest.CaptureFixture[str], geneva: Path, *extra: str) -> Path:
    out = tmp / "transition.json"
    r = run(capfd, "keys", "replace", "geneva", "-w", str(geneva), "--out", str(out), *extra)
    assert r.code == 0, r.err
    return out


def test_a_witness_co_signs_after_importing_the_transition_and_refuses_without(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    geneva, bern = _geneva_and_bern(tmp_path, capfd)
    assert _witness(tmp_path, capfd, geneva, bern, "first")[0] == 0
    first = tmp_path / "first.cosigned.json"
    bern_card = tmp_path / "bern.card"
    assert run(capfd, "keys", "export", "-w", str(bern), "-o", str(bern_card)).code == 0
    out = _replace(tmp_path, capfd, geneva)
    code, err, _ = _witness(tmp_path, capfd, geneva, bern, "refused")
    assert code != 0 and "import its key transition" in err and len(err.strip().splitlines()) == 1
    imported = run(capfd, "keys", "import", str(out), "-w", str(bern), "--json")
    assert imported.code == 0, imported.err
    assert _stored(bern, "key.transition")[-1]["site"] == "geneva"
    assert _witness(tmp_path, capfd, geneva, bern, "second")[0] == 0
    # verify --witnessed with the old-key head: no anchor-replaced, the transition named.
    code, report = _verify(capfd, geneva, "--no-checkpoint", "--witnessed", str(first),
                           "--card", str(bern_card))  # fmt: skip
    assert (code, report["ok"]) == (0, True), report["findings"]
    assert any("by a transition signed by the old key" in n for n in report["notes"])


def _forge(out: Path, how: str, tmp: Path) -> Path:
    body = json.loads(out.read_text())
    unrelated = new_secret("geneva", "site")
    message = canonical({k: v for k, v in body.items() if k not in ("signatures", "proofs")})
    if how == "new-only":
        del body["signatures"]["old"]
        body["old_key"] = "signed"
    elif how == "unrelated":
        body["signatures"]["old"] = b64(unrelated.sign(message))
    elif how == "edited":
        body["reason"] = "routine"
    elif how == "head":
        body["head"]["size"] -= 1
        body["head"]["root"] = b64(b"\0" * 32)
        unsigned = {k: v for k, v in body.items() if k not in ("signatures", "proofs")}
        # Re-signed by the new key alone: the old one's signature no longer covers it.
        body["signatures"]["old"] = b64(unrelated.sign(canonical(unsigned)))
    forged = tmp / f"{how}.json"
    forged.write_bytes(orjson.dumps(body))
    return forged


@pytest.mark.parametrize(
    ("how", "says"),
    [
        ("new-only", "malformed"),
        ("unrelated", "the old key's signature"),
        ("edited", "the new key's signature"),
        ("head", "signature"),
    ],
)
def test_a_forged_transition_is_refused_in_one_line_and_nothing_is_recorded(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], how: str, says: str
) -> None:
    geneva, bern = _geneva_and_bern(tmp_path, capfd)
    assert _witness(tmp_path, capfd, geneva, bern, "first")[0] == 0
    out = _replace(tmp_path, capfd, geneva)
    records = _count(bern, "ids")
    r = run(capfd, "keys", "import", str(_forge(out, how, tmp_path)), "-w", str(bern))
    assert r.code == 5 and says in r.err, r.err
    assert len(r.err.strip().splitlines()) == 1
    assert _count(bern, "ids") == records


def test_a_transition_whose_head_the_witness_did_not_see_extend_is_refused(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """The witness co-signed a head the site's transition does not extend: a proof from
    another size (or none) does not do."""
    geneva, bern = _geneva_and_bern(tmp_path, capfd)
    assert _witness(tmp_path, capfd, geneva, bern, "first")[0] == 0
    out = _replace(tmp_path, capfd, geneva)
    body = json.loads(out.read_text())
    body["proofs"]["bern"]["proof"] = [b64(b"\1" * 32)]
    bad = tmp_path / "bad-proof.json"
    bad.write_bytes(orjson.dumps(body))
    records = _count(bern, "ids")
    r = run(capfd, "keys", "import", str(bad), "-w", str(bern))
    assert r.code == 5 and "does not extend the one bern co-signed" in r.err, r.err
    assert _count(bern, "ids") == records


def test_lost_the_old_key_signs_nothing_and_everyone_must_re_pin(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    geneva, bern = _geneva_and_bern(tmp_path, capfd)
    assert _witness(tmp_path, capfd, geneva, bern, "first")[0] == 0
    refused = run(capfd, "keys", "replace", "geneva", "-w", str(geneva), "--lost", "--out",
                  str(tmp_path / "x.json"))  # fmt: skip
    assert refused.code == 2 and "opens here" in refused.err
    assert not (tmp_path / "x.json").exists()
    keyfile = KeyStore(geneva / KEYS_DIR, key_files(geneva)).stored_key_file("geneva")
    assert keyfile is not None
    keyfile.unlink()
    no_lost = run(capfd, "keys", "replace", "geneva", "-w", str(geneva), "--out",
                  str(tmp_path / "y.json"))  # fmt: skip
    assert no_lost.code == 5 and "--lost" in no_lost.err
    out = tmp_path / "lost.json"
    r = run(capfd, "keys", "replace", "geneva", "-w", str(geneva), "--lost", "--out", str(out),
            "--json")  # fmt: skip
    assert r.code == 0, r.err
    done = r.json()
    assert done["lost"] and "re-pin" in done["repin"]
    body = json.loads(out.read_text())
    assert body["old_key"] == "lost" and set(body["signatures"]) == {"new"}
    code, report = _verify(capfd, geneva, "--no-checkpoint")
    assert code == 0 and any("vouched for by the new key alone" in n for n in report["notes"])
    refused = run(capfd, "keys", "import", str(out), "-w", str(bern))
    assert refused.code == 5 and "re-pin the new card" in refused.err
    # Re-pinned out of band: the new card with its fingerprint.
    card = tmp_path / "geneva-new.card"
    assert run(capfd, "keys", "export", "-w", str(geneva), "-o", str(card)).code == 0
    still = run(capfd, "keys", "import", str(card), "-w", str(bern), "--fingerprint",
                done["fingerprint"])  # fmt: skip
    assert still.code == 5 and "already known here with another key" in still.err


def test_a_peer_takes_the_new_card_only_with_the_transition(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    geneva, bern = _geneva_and_bern(tmp_path, capfd)
    out = _replace(tmp_path, capfd, geneva)
    card = tmp_path / "geneva-new.card"
    assert run(capfd, "keys", "export", "-w", str(geneva), "-o", str(card)).code == 0
    fingerprint = json.loads(card.read_text())["fingerprint"]
    alone = run(capfd, "keys", "import", str(card), "-w", str(bern), "--fingerprint",
                fingerprint)  # fmt: skip
    assert alone.code == 5 and "refusing to replace it silently" in alone.err
    other = tmp_path / "other.card"
    assert run(capfd, "keys", "export", "-w", str(bern), "-o", str(other)).code == 0
    wrong = run(capfd, "keys", "import", str(other), "-w", str(bern), "--transition", str(out))
    assert wrong.code == 5 and "not the card's" in wrong.err
    r = run(capfd, "keys", "import", str(card), "-w", str(bern), "--transition", str(out),
            "--json")  # fmt: skip
    assert r.code == 0, r.err
    assert r.json()["identity"]["fingerprint"] == fingerprint
    status = run(capfd, "keys", "-w", str(bern), "--json").json()
    (row,) = [i for i in status["identities"] if i["name"] == "geneva"]
    assert (row["fingerprint"], row["key_changes"]) == (fingerprint, 1)
    again = run(capfd, "keys", "import", str(card), "-w", str(bern), "--transition", str(out))
    assert again.code == 5 and "new key" in again.err and "already" in again.err


def test_a_replacement_stopped_before_the_log_took_it_is_finished_by_the_next_run(
    room: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The keys are stored first (the new one as the site's, the old kept), then the log takes
    the transition: a run killed between the two leaves a log exactly as it was and a key this
    log never published. The next run goes on with the keys it stored — it does not make a
    third — and the transition it records is signed by the old key."""
    from sitroom.application.keys import Keys

    w = str(room)
    old = json.loads(run(capfd, "-u", "alice", "keys", "export", "-w", w).out)["fingerprint"]
    records = _count(room, "ids")

    def killed(*args: object, **kwargs: object) -> object:
        raise KeyboardInterrupt  # as a SIGINT would, after the keystore was written

    with monkeypatch.context() as m:
        m.setattr(Keys, "rekey_all", killed)
        stopped = run(capfd, "-u", "alice", "keys", "replace", "washington", "-w", w,
                      "--out", str(tmp_path / "first.json"))  # fmt: skip
    assert stopped.code != 0
    assert _count(room, "ids") == records  # the log is exactly as it was
    stored = KeyStore(room / KEYS_DIR, key_files(room)).public("washington")
    assert stored.fingerprint != old

    out = tmp_path / "transition.json"
    r = run(capfd, "-u", "alice", "keys", "replace", "washington", "-w", w, "--out", str(out),
            "--json")  # fmt: skip
    assert r.code == 0, r.err
    assert (r.json()["revoked"], r.json()["fingerprint"]) == (old, stored.fingerprint)
    statement = json.loads(out.read_text())
    assert statement["old_key"] == "signed" and set(statement["signatures"]) == {"old", "new"}
    code, report = _verify(capfd, room)
    assert code == 0, report
