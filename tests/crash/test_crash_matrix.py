"""The crash matrix (issue 18): the real CLI, killed with SIGKILL at random points of an ingest, a
re-ingest, a fold that writes snapshots at close, a key rotation, a new identity's keys, the
signature that completes an agreement, and a desk receiving messages. After each kill:

- `sitroom verify --deep` passes, and SQLite's integrity check;
- nothing acknowledged is lost: what a command printed as done is in the log, every message the
  desk answered with an ack is in the log, and re-running the killed command reaches the same
  state as an unkilled reference run (records of each kind, their ids, the world picture);
- nothing is duplicated: the segments hold as many records as the id index holds ids, all
  distinct;
- the re-run succeeds, and what was being made is usable: a message sealed after a killed
  rotation opens, a killed identity's saved key is the one published, an agreement whose last
  signature was killed completes and verifies.

Each kill is drawn from the measured duration of an unkilled run on this machine (see
crashing.py), with a fixed seed; each test reports where its kills landed and checks that most
landed while the work ran (one writer at a time: the desk is stopped before anything else
writes its log). More trials, or other ones::

    SITROOM_CRASH_TRIALS=25 SITROOM_CRASH_SEED=7 PYTHONPATH=src \\
        python -m pytest tests/crash -x -q -s -p no:cacheprovider

(``-s`` shows each operation's tally: how many kills landed mid-work, when, and what the log
held then). The defaults are 3 trials per operation and seed 18.
"""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from sitroom import open as open_room
from sitroom.adapters.keystore import KeyStore
from sitroom.adapters.site_tls import pinned_context
from sitroom.application.sealing import Keyring
from sitroom.cli import run
from sitroom.domain.secure.identity import Identity, Secret
from sitroom.testing import MemoryChains

from conftest import V2_FILES
from crashing import (
    TRIALS,
    Kills,
    Mark,
    census,
    copy,
    db,
    grown,
    integrity,
    kill,
    kind_count,
    opened,
    reference,
    snapshot_count,
)
from helpers import peer_site, signed_headers, sitroom

pytestmark = pytest.mark.slow

EVENT = "gdelt.event"
FILES, ROWS = 6, 12_000  # an append per file: a kill may land between any two
PASSPHRASE = "correct horse battery staple"


# shared workspaces --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def gdelt(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """GDELT 2.0 export files resampled from the real samples, every event id new."""
    folder = tmp_path_factory.mktemp("gdelt")
    rows = [line for f in V2_FILES for line in f.read_text(encoding="utf-8").splitlines()]
    draw = random.Random(5)
    files = []
    for n in range(FILES):
        path = folder / f"part{n}.export.CSV"
        with path.open("w", encoding="utf-8") as out:
            for i in range(n * ROWS, (n + 1) * ROWS):
                fields = rows[draw.randrange(len(rows))].split("\t")
                fields[0] = str(2_000_000_000 + i)
                out.write("\t".join(fields) + "\n")
        files.append(path)
    return files


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ws = tmp_path_factory.mktemp("fresh") / "ws"
    assert run(["init", "-w", str(ws), "--site", "washington"]) == 0
    return ws


def ingest_args(ws: Path, files: list[Path]) -> list[str]:
    return ["ingest", "gdelt", "-w", str(ws), *map(str, files), "--json", "--no-progress"]


def reingested(
    capfd: pytest.CaptureFixture[str],
    ws: Path,
    gdelt: list[Path],
    held: int,
    want: Any,
    trial: str,
) -> None:
    """Re-running the killed ingest adds exactly what the log did not hold, the log verifies,
    and the room settles where an unkilled run left it."""
    again = sitroom(capfd, *ingest_args(ws, gdelt))
    assert again.code == 0, (trial, again.err)
    totals = again.json()["totals"]
    assert (totals["duplicates"], totals["accepted"]) == (held, FILES * ROWS - held), trial
    verified(capfd, ws, trial + ", after the rerun")
    assert settled(ws) == want, trial


# what every trial checks --------------------------------------------------------------------
def verified(capfd: pytest.CaptureFixture[str], ws: Path, trial: str) -> None:
    """`sitroom verify --deep` passes (it signs nothing: the log stays as the trial left it)."""
    v = sitroom(capfd, "verify", "-w", str(ws), "--deep", "--no-checkpoint", "--json")
    assert v.code == 0, (trial, v.out, v.err)
    assert integrity(ws) == "ok", trial


def sound(capfd: pytest.CaptureFixture[str], ws: Path, trial: str) -> None:
    """The log after a kill: its audit chain, its records and its ids whole, nothing twice."""
    verified(capfd, ws, trial)
    c = census(ws)
    assert c.stored == c.indexed == c.distinct, (trial, c.stored, c.indexed, c.distinct)


def picture(state: dict[str, Any]) -> dict[str, Any]:
    """What `sitroom state --json` says the workspace knows, but the times it was said at and
    the audit checkpoints (the log signs its head at positions a crash may move)."""
    checkpoints = state["by_kind"].pop("audit.checkpoint", 0)
    state["by_source"]["sitroom"] = state["by_source"].get("sitroom", 0) - checkpoints
    return {
        "records": state["records"] - checkpoints,
        "sources": {n: s["records"] for n, s in state["sources"].items() if n != "sitroom"},
        **{k: state[k] for k in ("by_kind", "by_source", "quarantined", "alerts", "valid_span")},
        "events": state["events"],
    }


def settled(ws: Path) -> tuple[dict[str, int], frozenset[str], dict[str, Any]]:
    """Where a workspace stands: records per kind, their ids, and its world picture (no
    more records than a reference that holds the same ids: nothing twice)."""
    c = census(ws, distinct=False)
    with open_room(ws, as_site=True) as room:
        state = room.world.state().to_json()
    return c.acknowledged, c.ids, picture(state)


# ingest and re-ingest -----------------------------------------------------------------------
def test_an_ingest_killed_anywhere_reruns_to_the_same_log(
    gdelt: list[Path], fresh: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """Killed between or inside its appends, an ingest leaves whole files only; the rerun
    counts those as duplicates, adds the rest, and ends where an unkilled ingest does."""
    ref_ws = copy(fresh, tmp_path / "reference")
    ref = reference(ingest_args(ref_ws, gdelt), mark=grown(kind_count(ref_ws, EVENT), 0))
    want = settled(ref_ws)
    assert want[0][EVENT] == FILES * ROWS
    kills = Kills.after("ingest", ref)
    for n in range(TRIALS):
        ws = copy(fresh, tmp_path / f"trial{n}")
        events = kind_count(ws, EVENT)
        delay = kills.delay()
        ran = kill(ingest_args(ws, gdelt), delay, after=grown(events, 0))
        held = events()
        trial = f"ingest trial {n}: killed {delay:.2f}s into the work, {held} events in"
        kills.add(ran, f", {held} events in")
        sound(capfd, ws, trial)
        assert held % ROWS == 0, trial  # each file is one append: whole or absent
        if ran.code == 0:  # it said it was done: all of it is there
            assert json.loads(ran.out)["totals"]["accepted"] == held == FILES * ROWS, trial
        reingested(capfd, ws, gdelt, held, want, trial)
    kills.check()


@pytest.fixture
def snapshots_often(monkeypatch: pytest.MonkeyPatch) -> str:
    """Projection snapshots every 1,000 records: a fold writes many, and each kill may land in
    one (the killed processes inherit the setting, the in-process reruns read it too)."""
    monkeypatch.setenv("SITROOM_SNAPSHOT_EVERY", "1000")
    return "1000"


def test_a_reingest_killed_anywhere_adds_each_record_once(
    gdelt: list[Path],
    fresh: Path,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    snapshots_often: str,
) -> None:
    """Every other file is in the log already: the killed re-ingest goes through the id
    index's duplicate path and the append path in turn, with snapshots written as it folds."""
    half = copy(fresh, tmp_path / "half")
    assert sitroom(capfd, *ingest_args(half, gdelt[::2])).code == 0
    before = kind_count(half, EVENT)()
    assert before == len(gdelt[::2]) * ROWS
    ref_ws = copy(half, tmp_path / "reference")
    ref = reference(ingest_args(ref_ws, gdelt), mark=grown(kind_count(ref_ws, EVENT), before))
    want = settled(ref_ws)
    kills = Kills.after("re-ingest", ref)
    for n in range(TRIALS):
        ws = copy(half, tmp_path / f"trial{n}")
        events = kind_count(ws, EVENT)
        delay = kills.delay()
        ran = kill(ingest_args(ws, gdelt), delay, after=grown(events, before))
        held = events()
        trial = f"re-ingest trial {n}: killed {delay:.2f}s into the work, {held} events in"
        kills.add(ran, f", {held} events in")
        sound(capfd, ws, trial)
        assert held % ROWS == 0 and held >= before, trial
        reingested(capfd, ws, gdelt, held, want, trial)
    kills.check()


# snapshots at close -------------------------------------------------------------------------
def test_a_fold_killed_while_it_snapshots_leaves_states_that_fold_alike(
    gdelt: list[Path],
    fresh: Path,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    snapshots_often: str,
) -> None:
    """`sitroom state` on a log of 72,000 events and no snapshots folds it all and writes
    each projection's snapshot as it closes; killed during either, the log is untouched and
    the next `state` — from whatever snapshots were committed — says what the reference says."""
    cold = copy(fresh, tmp_path / "cold")
    assert sitroom(capfd, *ingest_args(cold, gdelt)).code == 0
    con = sqlite3.connect(db(cold))
    con.execute("DELETE FROM snapshots")  # snapshots are a cache: the log alone is the truth
    con.commit()
    con.close()
    held = census(cold, distinct=False)
    args = ["state", "--json"]
    ref_ws = copy(cold, tmp_path / "reference")
    ref = reference([*args, "-w", str(ref_ws)], mark=opened(ref_ws))
    want = picture(json.loads(ref.out))
    assert want["events"]["count"] == FILES * ROWS
    assert snapshot_count(ref_ws)() > 0, "the reference run writes snapshots at close"
    kills = Kills.after("state, snapshots at close", ref)
    for n in range(TRIALS):
        ws = copy(cold, tmp_path / f"trial{n}")
        delay = kills.delay()
        ran = kill([*args, "-w", str(ws)], delay, after=opened(ws))
        snaps = snapshot_count(ws)()
        trial = f"state trial {n}: killed {delay:.2f}s after opening, {snaps} snapshots in"
        kills.add(ran, f", {snaps} snapshots")
        sound(capfd, ws, trial)
        assert census(ws, distinct=False) == held, trial  # a read: the log is as it was
        for attempt in ("rerun", "from the rerun's snapshots"):
            again = sitroom(capfd, *args, "-w", str(ws))
            assert again.code == 0, (trial, attempt, again.err)
            assert picture(again.json()) == want, (trial, attempt)
        assert snapshot_count(ws)() > 0, trial
    kills.check()


# keys ---------------------------------------------------------------------------------------
TRACK = "tracks:\n  - {id: us-iran, name: US-Iran talks, parties: [USA, IRN], venue: Geneva}\n"


def _epochs(ws: Path, track: str) -> list[int]:
    with open_room(ws, as_site=True) as room:
        return [e["epoch"] for e in room.session.state("secure")["epochs"].get(track, [])]


def _sealed_after_opens(ws: Path, track: str) -> int:
    """Seal a message as the site on the track's current epoch and open it as alice, a member:
    the epoch's copies were sealed to them whole. The epoch it used."""
    with open_room(ws, as_site=True) as room:
        state = lambda: room.session.state("secure")  # noqa: E731
        site = Keyring(state, room.keys.unlock(room.site), chains=MemoryChains())
        alice = Keyring(state, room.keys.unlock("alice", PASSPHRASE), chains=MemoryChains())
        body = site.seal(track, "after-the-crash", b"still readable", room.session.now_ms())
        opened = alice.open(body, track)
        assert opened.plaintext == b"still readable"
        return opened.header.epoch


def test_a_key_rotation_killed_anywhere_leaves_keys_that_seal_and_open(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The epoch is one record: after the kill it is there or not; a rotation that said it was
    done is there; rotating again issues the next epoch, and it seals and opens."""
    monkeypatch.setenv("SITROOM_PASSPHRASE", PASSPHRASE)
    monkeypatch.delenv("SITROOM_USER", raising=False)
    base = tmp_path / "base"
    tracks = tmp_path / "tracks.yaml"
    tracks.write_text(TRACK)
    for step in (
        ["init", "-w", str(base), "--site", "washington"],
        ["tracks", "add", "-w", str(base), str(tracks)],
        ["users", "add", "-w", str(base), "alice", "--role", "admin"],
        ["-u", "alice", "users", "grant", "-w", str(base), "alice", "us-iran"],
    ):
        assert sitroom(capfd, *step).code == 0, step
    first = _epochs(base, "us-iran")
    assert first == [1]
    args = ["-u", "alice", "keys", "rotate", "us-iran", "--json"]
    ref_ws = copy(base, tmp_path / "reference")
    ref = reference([*args, "-w", str(ref_ws)], mark=opened(ref_ws))
    assert json.loads(ref.out)["epoch"] == 2
    kills = Kills.after("key rotation", ref)
    for n in range(TRIALS):
        ws = copy(base, tmp_path / f"trial{n}")
        delay = kills.delay()
        ran = kill([*args, "-w", str(ws)], delay, after=opened(ws))
        epochs = _epochs(ws, "us-iran")
        trial = f"rotation trial {n}: killed {delay:.2f}s after opening, epochs {epochs}"
        kills.add(ran, f", epochs {epochs}")
        sound(capfd, ws, trial)
        assert epochs in ([1], [1, 2]), trial
        if ran.code == 0:  # it said it was done
            assert json.loads(ran.out)["epoch"] == 2 and epochs == [1, 2], trial
        assert _sealed_after_opens(ws, "us-iran") == epochs[-1], trial
        again = sitroom(capfd, *args, "-w", str(ws))
        assert again.code == 0, (trial, again.err)
        assert again.json()["epoch"] == len(epochs) + 1, trial
        assert again.json()["members"] == ["alice", "washington"], trial
        assert _epochs(ws, "us-iran") == [*epochs, len(epochs) + 1], trial
        assert _sealed_after_opens(ws, "us-iran") == len(epochs) + 1, trial
        verified(capfd, ws, trial + ", after the rerun")
    kills.check()


def _identities(ws: Path) -> dict[str, str]:
    """Each published identity's fingerprint, by name."""
    with open_room(ws, as_site=True) as room:
        return {
            name: versions[-1]["fingerprint"]
            for name, versions in room.session.state("secure")["identities"].items()
        }


def _exists(path: Path) -> Mark:
    return path.exists


def test_a_new_identity_killed_anywhere_is_published_by_the_rerun(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`keys init NAME` saves the private keys, then publishes the public half in the log: the
    kills are drawn from the moment the key file appears. Whatever the kill left, running it
    again leaves one identity whose published key is the saved one, which opens with the
    passphrase (or, if it was published already, says so)."""
    monkeypatch.setenv("SITROOM_PASSPHRASE", PASSPHRASE)
    monkeypatch.delenv("SITROOM_USER", raising=False)
    base = tmp_path / "base"
    assert sitroom(capfd, "init", "-w", str(base), "--site", "washington").code == 0
    args = ["keys", "init", "dana", "--json"]
    ref_ws = copy(base, tmp_path / "reference")
    ref = reference([*args, "-w", str(ref_ws)], mark=_exists(ref_ws / "keys" / "dana.key"))
    assert json.loads(ref.out)["created"]
    kills = Kills.after("identity creation", ref)
    for n in range(TRIALS):
        ws = copy(base, tmp_path / f"trial{n}")
        key = ws / "keys" / "dana.key"
        delay = kills.delay()
        ran = kill([*args, "-w", str(ws)], delay, after=_exists(key))
        saved, published = key.exists(), "dana" in _identities(ws)
        trial = f"identity trial {n}: killed {delay:.3f}s after the key file appeared"
        kills.add(ran, f", key saved {saved}, published {published}")
        trial += f", key saved {saved}, published {published}"
        sound(capfd, ws, trial)
        if ran.code == 0:  # it said it was done
            assert _identities(ws).get("dana") == json.loads(ran.out)["fingerprint"], trial
        again = sitroom(capfd, *args, "-w", str(ws))
        assert again.code == (2 if published else 0), (trial, again.err)
        with open_room(ws, as_site=True) as room:
            opened = room.keys.unlock("dana", PASSPHRASE).identity.fingerprint
        assert _identities(ws) == {"washington": _identities(base)["washington"], "dana": opened}
        assert census(ws, distinct=False).by_kind["identity"] == 2, trial
        verified(capfd, ws, trial + ", after the rerun")
    kills.check()


# agreements ---------------------------------------------------------------------------------
PARTIES = ("washington", "tehran", "muscat")
TEXT = "Article 1. The parties meet in Geneva on 15 December.\nArticle 2. Muscat mediates.\n"


def test_the_last_signature_killed_anywhere_still_completes_the_agreement(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two parties have signed; the third's signature and the agreed record are one append,
    killed anywhere: both are there or neither; signing again completes it (or says it was
    signed), and the agreement verifies."""
    monkeypatch.setenv("SITROOM_PASSPHRASE", PASSPHRASE)
    monkeypatch.delenv("SITROOM_USER", raising=False)
    base = tmp_path / "base"
    text = tmp_path / "geneva.txt"
    text.write_text(TEXT)
    tracks = tmp_path / "tracks.yaml"
    tracks.write_text(TRACK)
    w = str(base)
    steps = [
        ["init", "-w", w],
        ["tracks", "add", "-w", w, str(tracks)],
        *(["keys", "init", name, "-w", w] for name in PARTIES),
        ["agreements", "propose", "Geneva framework", "--id", "geneva", "--text-file", str(text),
         *(x for name in PARTIES for x in ("--party", name)), "--track", "us-iran", "-w", w],
        *(["agreements", "sign", "geneva", "--party", name, "-w", w] for name in PARTIES[:2]),
    ]  # fmt: skip
    for step in steps:
        assert sitroom(capfd, *step).code == 0, step
    args = ["agreements", "sign", "geneva", "--party", "muscat", "--json"]
    ref_ws = copy(base, tmp_path / "reference")
    ref = reference([*args, "-w", str(ref_ws)], mark=opened(ref_ws))
    assert json.loads(ref.out)["status"] == "agreed"
    kills = Kills.after("agreement signing", ref)
    for n in range(TRIALS):
        ws = copy(base, tmp_path / f"trial{n}")
        delay = kills.delay()
        ran = kill([*args, "-w", str(ws)], delay, after=opened(ws))
        kinds = census(ws).by_kind
        signed, agreed = kinds["agreement.signed"], kinds.get("agreement.agreed", 0)
        trial = f"signing trial {n}: killed {delay:.2f}s after opening, {signed} signed"
        kills.add(ran, f", {signed} signatures")
        sound(capfd, ws, trial)
        assert (signed, agreed) in ((2, 0), (3, 1)), trial  # one append: both or neither
        if ran.code == 0:  # it said it was done
            assert json.loads(ran.out)["status"] == "agreed" and (signed, agreed) == (3, 1), trial
        again = sitroom(capfd, *args, "-w", str(ws))
        assert again.code == 0, (trial, again.err)
        done = again.json()
        assert (done["status"], done["signed"], done["already"]) == ("agreed", 3, signed == 3)
        kinds = census(ws).by_kind
        assert (kinds["agreement.signed"], kinds["agreement.agreed"]) == (3, 1), trial
        checked = sitroom(capfd, "agreements", "verify", "geneva", "-w", str(ws), "--json")
        assert checked.code == 0 and checked.json()["ok"], (trial, checked.out)
        verified(capfd, ws, trial + ", after the rerun")
    kills.check()


# the desk -----------------------------------------------------------------------------------
MESSAGES, SENDERS = 60, 2


class DeskProcess:
    """`sitroom channels run` as a real process, serving on a free port."""

    def __init__(self, ws: Path) -> None:
        self.p = subprocess.Popen(
            [sys.executable, "-m", "sitroom", "channels", "run", "-w", str(ws), "--listen",
             "127.0.0.1:0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        line = self.p.stdout.readline() if self.p.stdout else ""
        if not line.startswith("listening on "):
            self.p.kill()
            self.p.wait()
            raise AssertionError(f"the desk did not start: {line!r}")
        self.url = line.split()[2]

    def stop(self, sig: int = signal.SIGTERM) -> int:
        self.p.send_signal(sig)
        self.p.communicate(timeout=60)
        return self.p.returncode


def message(i: int) -> dict[str, Any]:
    return {"id": f"m-{i:04d}", "channel": "direct", "priority": "ROUTINE",
            "body": f"text {i}", "sent_ms": 1}  # fmt: skip


SENDER: list[Secret] = []  # Washington's keys, whose card the desk's workspace holds
TEHRAN_CARD: list[Identity] = []  # the desk's card, which its certificate carries


def deliver(url: str, ids: range) -> dict[str, bool]:
    """Send the messages from ``SENDERS`` threads, in turn, each signed as Washington over TLS
    pinned to Tehran's card; each answered with an ack, and whether it was a duplicate. A
    sender stops at its first failure (the desk is gone)."""
    acked: dict[str, bool] = {}
    (washington,) = SENDER
    pin = pinned_context(TEHRAN_CARD[0])

    def send(part: range) -> None:
        with httpx.Client(timeout=20, verify=pin) as client:
            for i in part:
                data = orjson.dumps(message(i))
                headers = signed_headers(washington, "tehran", data)
                try:
                    r = client.post(f"{url}/deliver", content=data, headers=headers)
                except httpx.HTTPError:
                    return
                body = r.json()
                if r.status_code // 100 == 2 and body.get("ack") is True:
                    acked[body["message"]] = bool(body["duplicate"])

    threads = [threading.Thread(target=send, args=(ids[k::SENDERS],)) for k in range(SENDERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return acked


def received(ws: Path) -> list[str]:
    with open_room(ws, as_site=True) as room:
        return [str(r.payload["message"]) for r in room.session.records(kinds=["channel.receive"])]


def test_a_desk_killed_while_receiving_keeps_every_message_it_acked(
    fresh: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """Every message the desk acknowledged before the kill is in its log; restarted, it takes
    all of them again and records each once (those it had: duplicates)."""
    tehran = tmp_path / "tehran"
    assert run(["init", "-w", str(tehran), "--site", "tehran"]) == 0
    with open_room(tehran, as_site=True) as room:  # Washington's card, and its channel here
        SENDER[:] = [peer_site(room, "washington")]
        room.channels.add("direct", counterpart="washington")
    TEHRAN_CARD[:] = [KeyStore(tehran / "keys").public("tehran")]
    ref_ws = copy(tehran, tmp_path / "reference")
    desk = DeskProcess(ref_ws)
    t0 = time.monotonic()
    acked = deliver(desk.url, range(MESSAGES))
    sending = time.monotonic() - t0
    assert desk.stop() == 0
    assert len(acked) == MESSAGES and not any(acked.values())
    assert sorted(received(ref_ws)) == sorted(acked)
    kills = Kills("desk receive", sending)
    for n in range(TRIALS):
        ws = copy(tehran, tmp_path / f"trial{n}")
        desk = DeskProcess(ws)
        delay = kills.delay()
        timer = threading.Timer(delay, desk.p.send_signal, (signal.SIGKILL,))
        t0 = time.monotonic()
        timer.start()
        acked = deliver(desk.url, range(MESSAGES))
        took = time.monotonic() - t0  # to the kill, or to the last ack if all came first
        timer.join()
        desk.p.communicate(timeout=60)
        trial = f"desk trial {n}: killed at {delay:.2f}s, {len(acked)} of {MESSAGES} acked"
        done = len(acked) == MESSAGES
        kills.note(took, f", {len(acked)} acked", took=took if done else None)
        sound(capfd, ws, trial)
        held = received(ws)
        assert len(held) == len(set(held)), trial
        assert set(acked) <= set(held), (trial, sorted(set(acked) - set(held))[:5])
        desk = DeskProcess(ws)  # restarted, and the sender sends everything again
        again = deliver(desk.url, range(MESSAGES))
        assert desk.stop() == 0, trial
        assert len(again) == MESSAGES, trial
        assert {m for m, dup in again.items() if dup} == set(held), trial
        after = received(ws)
        assert len(after) == MESSAGES and set(after) == {message(i)["id"] for i in
                                                        range(MESSAGES)}, trial  # fmt: skip
        verified(capfd, ws, trial + ", after the restart")
    kills.check()
