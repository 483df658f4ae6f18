"""The sender's chain file through the CLI: each sealed message moves it on, outside the
workspace; an edited one stops sealing with one line (exit 5), and what was sent still reads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sitroom.settings import key_files

from helpers import sitroom

TRACK = "tracks:\n  - {id: us-iran, name: US-Iran talks, parties: [USA, IRN], venue: Geneva}\n"


def test_an_edited_chain_file_is_one_line_and_exit_5(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    ws, tracks = tmp_path / "washington", tmp_path / "tracks.yaml"
    tracks.write_text(TRACK)
    for args in (
        ("init", "-w", str(ws), "--site", "washington"),
        ("tracks", "add", "-w", str(ws), str(tracks)),
        ("channels", "add", "-w", str(ws), "direct", "--to", "Tehran", "--track", "us-iran"),
    ):
        assert sitroom(capfd, *args).code == 0, args
    for msg_id in ("m-1", "m-2"):  # pending (exit 3): no desk at the far end
        r = sitroom(
            capfd,
            "channels",
            "send",
            "-w",
            str(ws),
            "direct",
            msg_id,
            "--id",
            msg_id,
            "--wait",
            "0s",
        )
        assert r.code == 3, r.err
    chains = key_files(ws) / "ratchet" / "washington.json"
    body = json.loads(chains.read_text())
    assert body["format"] == "sitroom-chains/1" and not str(chains).startswith(str(ws))
    chains.write_text(json.dumps({**body, "sealed": "A" + body["sealed"][1:]}))
    r = sitroom(capfd, "channels", "send", "-w", str(ws), "direct", "m-3", "--wait", "0s")
    assert r.code == 5
    assert r.err == (
        f"sitroom: error: {chains}: was altered or damaged: it does not open with washington's "
        "key\n"
    )
    r = sitroom(capfd, "channels", "read", "-w", str(ws), "m-2", "--json")
    assert r.code == 0 and json.loads(r.out)["text"] == "m-2", r.out
