"""Witnessed tree heads, attacked as an insider would: someone who holds the workspace's
files *and* the site's key file rewrites a record, cuts off the tail or forks the log, and
re-seals and re-signs everything — checkpoints and head.json included — so that `sitroom
verify --deep` says OK. A head another site co-signed earlier catches each, through
`verify --witnessed`, and the witness itself refuses to co-sign a forked head."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

import sitroom
from sitroom.adapters.heads import HeadFile
from sitroom.domain.secure import audit, merkle
from sitroom.domain.secure.identity import Secret
from sitroom.room import HEAD_FILE, LOG_FILE

from helpers import REDLINE, exchange_cards, sitroom_process

TRACKS = Path(__file__).resolve().parents[1] / "fixtures" / "tracks" / "us-iran-ceasefire.yaml"
NAME = b"Special Agent Q."
COLS = "first_seq, last_seq, kind, first_rt, last_rt, valid_min, valid_max, codec"


def run(*args: str) -> Any:
    return sitroom_process(*args)


def site(tmp: Path, name: str) -> Path:
    ws = tmp / name
    assert run("init", "-w", str(ws), "--site", name).code == 0
    return ws


def geneva_and_bern(tmp: Path) -> tuple[Path, Path]:
    """Geneva with a track and a person in one record; bern, which trusts geneva's card (and
    geneva bern's), read out of band."""
    geneva, bern = site(tmp, "geneva"), site(tmp, "bern")
    agent = tmp / "agent.yaml"
    agent.write_text(f"resources: [{{id: agent, name: {NAME.decode()}, type: person}}]\n")
    assert run("tracks", "add", "-w", str(geneva), str(TRACKS), str(agent)).code == 0
    exchange_cards(tmp, geneva, bern)
    return geneva, bern


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """geneva and bern, made once for the file (seconds of CLI runs) and never changed."""
    return geneva_and_bern(tmp_path_factory.mktemp("pair"))


@pytest.fixture
def sites(pair: tuple[Path, Path], tmp_path: Path) -> tuple[Path, Path]:
    """Fresh copies of geneva and bern, under the same names. A copy opens its site's key with
    the key file made for the original (the workspace keeps its path), which no test writes."""
    geneva, bern = (Path(shutil.copytree(ws, tmp_path / ws.name)) for ws in pair)
    return geneva, bern


def witness(tmp: Path, geneva: Path, by: Path, tag: str) -> Path:
    """Geneva's head co-signed by ``by`` and kept by geneva; the co-signed file, as ``by``
    hands it over."""
    req, signed = tmp / f"{tag}.request.json", tmp / f"{tag}.cosigned.json"
    done = run("witness", "request", "-w", str(geneva), "--for", by.name, "-o", str(req))
    assert done.code == 0, done.err
    done = run("witness", "cosign", str(req), "-w", str(by), "-o", str(signed), "--json")
    assert done.code == 0, done.err
    assert run("witness", "import", str(signed), "-w", str(geneva)).code == 0
    return signed


def card(tmp: Path, ws: Path) -> str:
    out = tmp / f"{ws.name}.card"
    assert run("keys", "export", "-w", str(ws), "-o", str(out)).code == 0
    return str(out)


def site_secret(ws: Path) -> Secret:
    """The insider has the site's key file (wherever it is kept)."""
    with sitroom.open(ws, as_site=True) as room:
        return room._site_secret()


def reseal(ws: Path, secret: Secret, change: Any = None, *, upto: int | None = None) -> None:
    """The insider's rewrite: apply ``change`` to each stored segment's bytes, drop every
    segment after ``upto``, then recompute each digest, the chain, the tree, re-sign every
    checkpoint over the new heads, and sign a new head.json — everything sitroom checks
    without a witness."""
    con = sqlite3.connect(ws / LOG_FILE)
    if upto is not None:
        con.execute("DELETE FROM segments WHERE first_seq > ?", (upto,))
        con.execute("DELETE FROM ids WHERE seq > ?", (upto,))
    con.execute("DELETE FROM snapshots")
    head, tree, at = audit.GENESIS, merkle.Frontier(), {}
    rows = con.execute(f"SELECT {COLS}, data FROM segments ORDER BY first_seq").fetchall()
    for *cols, data in rows:
        header = audit.SegmentHeader(*cols)
        data = bytes(data)
        if change is not None and header.codec == "jsonl":
            data = change(data)
        if header.kind == "audit.checkpoint":
            data = b"\n".join(resign(line, secret, at) for line in data.split(b"\n"))
        leaves = audit.line_leaves(data) if header.codec == "jsonl" else None
        digest = audit.segment_digest(header, data, leaves)
        head = audit.next_head(head, digest)
        tree.append(digest)
        at[header.last_seq] = (head, tree.size, tree.root())
        con.execute(
            "UPDATE segments SET data = ?, leaves = ?, head = ?, digest = ? WHERE first_seq = ?",
            (data, leaves, head, digest, header.first_seq),
        )
    con.commit()
    con.close()
    last = max(at)
    (ws / HEAD_FILE).unlink()
    HeadFile(ws / HEAD_FILE).keep(audit.LogHead(last, *at[last]).sign(secret))


def resign(line: bytes, secret: Secret, at: dict[int, tuple[bytes, int, bytes]]) -> bytes:
    rec = orjson.loads(line)
    body = rec["payload"]
    payload = orjson.loads(body) if isinstance(body, str) else body
    head, size, root = at[payload["seq"]]
    payload.update(audit.sign_head(secret, payload["seq"], head, (size, root)).to_json())
    rec["payload"] = orjson.dumps(payload).decode() if isinstance(body, str) else payload
    return orjson.dumps(rec)


def verify(ws: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    done = run("verify", "-w", str(ws), "--deep", "--no-checkpoint", "--json", *extra)
    return done.code, done.json()


def reasons(report: dict[str, Any]) -> set[str]:
    return {f["reason"] for f in report["findings"]}


# ------------------------------------------------------------------------------------------
def test_an_intact_log_extends_its_witnessed_heads(
    tmp_path: Path, sites: tuple[Path, Path]
) -> None:
    geneva, bern = sites
    first = witness(tmp_path, geneva, bern, "first")
    assert run("redlines", "add", "beirut", REDLINE, "-w", str(geneva)).code == 0
    second = witness(tmp_path, geneva, bern, "second")  # with a consistency proof from first
    statement = json.loads(second.read_text())
    assert statement["head"]["size"] > json.loads(first.read_text())["head"]["size"]
    code, report = verify(
        geneva,
        "--witnessed",
        str(first),
        "--witnessed",
        str(second),
        "--card",
        card(tmp_path, bern),
    )
    assert code == 0, report["findings"]
    assert [w["ok"] for w in report["witnessed"]] == [True, True, True, True][
        : len(report["witnessed"])
    ]
    assert {w["seq"] for w in report["witnessed"]} == {
        json.loads(first.read_text())["head"]["seq"],
        statement["head"]["seq"],
    }
    # bern keeps what it co-signed, and hands it over as a file.
    shown = run("witness", "show", "-w", str(bern), "--site", "geneva", "--json").json()
    assert [(h["witness"], h["seq"]) for h in shown["heads"]] == [
        ("bern", statement["head"]["seq"])
    ]


def test_the_insider_rewrite_is_caught_by_a_witnessed_head(
    tmp_path: Path, sites: tuple[Path, Path]
) -> None:
    """Change a record, recompute the chain, re-sign the checkpoints and head.json with the
    site's key: verify --deep says OK; with the head bern co-signed before, exit 7."""
    geneva, bern = sites
    assert run("verify", "-w", str(geneva)).code == 0  # a checkpoint, to re-sign later
    signed = witness(tmp_path, geneva, bern, "before")
    secret = site_secret(geneva)
    reseal(geneva, secret, lambda data: data.replace(NAME, b"Special Agent X."))
    code, report = verify(geneva)
    assert (code, report["ok"]) == (0, True)  # the attack works without a witness
    assert report["checkpoints_verified"] >= 1
    code, report = verify(geneva, "--witnessed", str(signed), "--card", card(tmp_path, bern))
    assert code == 7 and not report["ok"]
    assert reasons(report) == {"forked"}, report["findings"]
    assert report["witnessed"][0]["ok"] is False
    # ... and bern refuses to co-sign the rewritten head: it does not extend the last one.
    req = tmp_path / "after.request.json"
    assert run("witness", "request", "-w", str(geneva), "--for", "bern", "-o", str(req)).code == 0
    refused = run("witness", "cosign", str(req), "-w", str(bern), "-o", str(tmp_path / "x.json"))
    assert refused.code == 7 and "rewritten or forked" in refused.err
    assert len(refused.err.strip().splitlines()) == 1 and not (tmp_path / "x.json").exists()


def test_a_truncated_tail_is_caught_by_a_witnessed_head(
    tmp_path: Path, sites: tuple[Path, Path]
) -> None:
    geneva, bern = sites
    signed = witness(tmp_path, geneva, bern, "before")
    seq = json.loads(signed.read_text())["head"]["seq"]
    secret = site_secret(geneva)
    con = sqlite3.connect(geneva / LOG_FILE)
    (cut,) = con.execute(
        "SELECT first_seq FROM segments WHERE last_seq <= ? ORDER BY first_seq DESC LIMIT 1",
        (seq,),
    ).fetchone()
    con.close()
    reseal(geneva, secret, upto=cut - 1)  # the last segments before the head, and all after
    code, report = verify(geneva)
    assert (code, report["ok"]) == (0, True)
    code, report = verify(geneva, "--witnessed", str(signed), "--card", card(tmp_path, bern))
    assert code == 7 and reasons(report) == {"lost"}, report["findings"]
    assert "co-signed a head of" in report["first_bad"]["message"]


def test_a_fork_shown_to_two_witnesses_is_caught(tmp_path: Path, sites: tuple[Path, Path]) -> None:
    """Geneva shows bern one log and zurich, which has seen nothing yet, another: zurich
    co-signs; verify with both heads fails on the one the log does not extend."""
    geneva, bern = sites
    zurich = site(tmp_path, "zurich")
    exchange_cards(tmp_path, geneva, zurich)
    to_bern = witness(tmp_path, geneva, bern, "bern")
    secret = site_secret(geneva)
    reseal(geneva, secret, lambda data: data.replace(NAME, b"Special Agent Z."))
    to_zurich = witness(tmp_path, geneva, zurich, "zurich")
    cards = ["--card", card(tmp_path, bern), "--card", card(tmp_path, zurich)]
    code, report = verify(
        geneva, "--witnessed", str(to_bern), "--witnessed", str(to_zurich), *cards
    )
    assert code == 7 and reasons(report) == {"forked"}
    by = {w["witness"]: w["ok"] for w in report["witnessed"]}
    assert by == {"bern": False, "zurich": True}


def test_witnessed_heads_need_cards_from_outside_the_workspace(
    tmp_path: Path, sites: tuple[Path, Path]
) -> None:
    """A co-signed head is checked against the witness's card given on the command line, not
    one the workspace holds: without it, one line and exit 2; with another site's key as
    'bern', the head is forged."""
    geneva, bern = sites
    signed = witness(tmp_path, geneva, bern, "before")
    done = run("verify", "-w", str(geneva), "--witnessed", str(signed))
    assert done.code == 2 and "give its public card (--card)" in done.err
    assert len(done.err.strip().splitlines()) == 1
    impostor = site(tmp_path / "other", "bern")
    code, report = verify(geneva, "--witnessed", str(signed), "--card", card(tmp_path, impostor))
    assert code == 7 and reasons(report) == {"forged-checkpoint"}
    garbage = tmp_path / "garbage.json"
    garbage.write_text('{"format": "sitroom-cosigned-head/1", "head": 3}')
    done = run(
        "verify", "-w", str(geneva), "--witnessed", str(garbage), "--card", card(tmp_path, bern)
    )
    assert done.code == 5 and "malformed" in done.err and "Traceback" not in done.err


@pytest.mark.parametrize("tamper", ["signature", "root", "site"])
def test_the_witness_refuses_what_it_cannot_check(
    tmp_path: Path, sites: tuple[Path, Path], tamper: str
) -> None:
    geneva, bern = sites
    req = tmp_path / "request.json"
    assert run("witness", "request", "-w", str(geneva), "--for", "bern", "-o", str(req)).code == 0
    body = json.loads(req.read_text())
    if tamper == "signature":
        body["head"]["signature"] = body["head"]["signature"][::-1]
    elif tamper == "root":
        body["head"]["root"] = body["head"]["head"]
    else:
        body["head"]["site"] = "zurich"
    req.write_text(json.dumps(body))
    done = run("witness", "cosign", str(req), "-w", str(bern))
    assert done.code in (2, 5) and done.err.startswith("sitroom: error:")
    assert len(done.err.strip().splitlines()) == 1
    shown = run("witness", "show", "-w", str(bern), "--json").json()
    assert shown["heads"] == []


@pytest.mark.slow
def test_a_witness_co_signs_over_the_site_link_and_refuses_a_rewrite(
    tmp_path: Path, sites: tuple[Path, Path]
) -> None:
    """Bern's desk (HTTPS, its certificate from its site key) co-signs geneva's head when
    geneva asks over the link, signed as geneva; after the insider's rewrite it refuses
    (exit 7)."""
    geneva, bern = sites
    desk = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sitroom",
            "channels",
            "run",
            "-w",
            str(bern),
            "--listen",
            "127.0.0.1:0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        line = desk.stdout.readline() if desk.stdout else ""
        assert line.startswith("listening on "), line
        url = line.split()[2]
        assert url.startswith("https://")
        done = run("witness", "ask", "bern", "--url", url, "-w", str(geneva), "--json")
        assert done.code == 0, done.err
        head = done.json()["head"]
        assert (head["witness"], head["site"]) == ("bern", "geneva")
        kept = run("witness", "show", "-w", str(geneva), "--json").json()["heads"]
        assert [(h["witness"], h["seq"]) for h in kept] == [("bern", head["seq"])]
        reseal(geneva, site_secret(geneva), lambda d: d.replace(NAME, b"Special Agent Y."))
        refused = run("witness", "ask", "bern", "--url", url, "-w", str(geneva))
        assert refused.code == 7 and "rewritten or forked" in refused.err, refused.err
        assert len(refused.err.strip().splitlines()) == 1
    finally:
        desk.terminate()
        desk.communicate(timeout=20)


def test_a_replaced_site_key_is_named_against_a_witnessed_head(
    tmp_path: Path, sites: tuple[Path, Path]
) -> None:
    """The insider makes the site a new key, puts its card in the workspace's keystore and
    re-signs everything with it: verify alone checks the checkpoints against the new card and
    says OK; bern co-signed heads of the old key, so verify --witnessed names the swap."""
    from sitroom.adapters.keystore import KEYS_DIR, KeyStore, new_secret
    from sitroom.application.ports import Unlock

    geneva, bern = sites
    signed = witness(tmp_path, geneva, bern, "before")
    assert run("verify", "-w", str(geneva)).code == 0  # a checkpoint signed by the real key
    impostor = new_secret("geneva", "site")
    KeyStore(geneva / KEYS_DIR).replace(impostor, Unlock(key_file=tmp_path / "impostor.keyfile"))
    reseal(geneva, impostor)
    code, report = verify(geneva)
    assert (code, report["ok"]) == (0, True), report["findings"]
    code, report = verify(geneva, "--witnessed", str(signed), "--card", card(tmp_path, bern))
    assert code == 7 and "anchor-replaced" in reasons(report), report["findings"]
