"""`sitroom sites` as an operator and three sites use it, on a real NATS server from the wheel:
the operator's files, provisioning, peers added, a sync, each peer's status, digests compared;
and each mistake one line with its exit code, nothing recorded."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.helpers import exchange_cards, sitroom

from sitroom.adapters.nats_setup import load_credentials
from sitroom.testing.nats import NatsCluster

pytestmark = pytest.mark.slow

SITES = ("geneva", "tehran", "washington")
TRACKS = Path(__file__).resolve().parents[2] / "examples" / "tracks.yaml"


@pytest.fixture(scope="module")
def operator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, NatsCluster]]:
    """The operator's files from `sitroom sites nats-config`, and a NATS server running on
    exactly them (the account block it wrote, the passwords it made)."""
    from sitroom.cli import run

    out = tmp_path_factory.mktemp("nats") / "conf"
    assert run(["sites", "nats-config", "--sites", ",".join(SITES), "-o", str(out)]) == 0
    cluster = NatsCluster(1, tls=True)
    cluster.creds = {s: load_credentials(out / f"{s}.nats.json")[s] for s in SITES}
    cluster.operator_password = (out / "operator.password").read_text().strip()
    with cluster:
        yield out, cluster


def test_three_sites_set_up_sync_and_compare(
    capfd: pytest.CaptureFixture[str], tmp_path: Path, operator: tuple[Path, NatsCluster]
) -> None:
    conf, cluster = operator
    # the account block names one user per site, each allowed its own subjects only
    accounts = (conf / "accounts.conf").read_text()
    assert all(f'"sitroom.rec.{s}.*"' in accounts for s in SITES)
    assert (conf / "geneva.nats.json").stat().st_mode & 0o077 == 0
    made = sitroom(
        capfd,
        "sites", "provision", "--sites", ",".join(SITES), "--nats", cluster.url(1),
        "--password-file", str(conf / "operator.password"), "--replicas", "1",
        "--ca", str(cluster.ca_file), "--json",
    )  # fmt: skip
    assert made.code == 0, made.err
    assert len(json.loads(made.out)["created"]) == 3 + 6  # a stream per site, a consumer per pair

    ws = {s: tmp_path / s for s in SITES}
    for s, w in ws.items():
        assert sitroom(capfd, "init", "-w", str(w), "--site", s).code == 0
        config = w / "sitroom.toml"
        text = config.read_text().replace('nats_url = ""', f'nats_url = "{cluster.url(1)}"')
        text = text.replace('nats_ca = ""', f'nats_ca = "{cluster.ca_file}"')
        config.write_text(text.replace('nats_creds = ""', f'nats_creds = "{conf}/{s}.nats.json"'))
    for a in SITES:
        for b in SITES:
            if a < b:
                exchange_cards(tmp_path, ws[a], ws[b])
    cleared = {("geneva", "washington"): "us-iran,ceasefire"}
    for a in SITES:
        for b in SITES:
            if a != b:
                tracks = cleared.get((a, b)) or cleared.get((b, a)) or ""
                added = sitroom(capfd, "sites", "add", b, "--cleared", tracks, "-w", str(ws[a]))
                assert added.code == 0, added.err
    assert sitroom(capfd, "tracks", "add", "-w", str(ws["geneva"]), str(TRACKS)).code == 0

    for _ in range(2):
        for s in SITES:
            synced = sitroom(capfd, "sites", "sync", "-w", str(ws[s]))
            assert synced.code == 0, synced.err
    peers = json.loads(sitroom(capfd, "sites", "-w", str(ws["washington"]), "--json").out)
    geneva = next(p for p in peers["peers"] if p["name"] == "geneva")
    assert geneva["connected"] is True and geneva["pending"] == 0 and geneva["received"] > 0
    assert (geneva["behind"], geneva["behind_ms"]) == (0, 0)  # from the last bundle's headers
    assert geneva["cleared"] == ["ceasefire", "us-iran"]

    def digest(site: str, *extra: str) -> str:
        out = sitroom(capfd, "sites", "digest", "-w", str(ws[site]), *extra, "--json")
        assert out.code == 0, out.err
        return str(json.loads(out.out)["digest"])

    # washington is sent two of geneva's three tracks (not the envoy's), tehran none: each
    # holds exactly what geneva holds of what it is cleared for
    whole = digest("geneva")
    assert digest("washington") == digest("geneva", "--for", "washington") != whole
    assert digest("tehran") == digest("geneva", "--for", "tehran") != whole
    assert digest("washington") != digest("tehran")
    # the server out of reach: what the log holds is shown all the same, each peer cut off
    cut = sitroom(
        capfd, "sites", "-w", str(ws["washington"]), "--nats", "nats://127.0.0.1:9", "--json"
    )
    assert cut.code == 0, cut.err
    far = {p["name"]: p for p in json.loads(cut.out)["peers"]}
    assert {p["connected"] for p in far.values()} == {False}
    assert far["geneva"]["received"] == geneva["received"] and far["geneva"]["behind"] is None
    shown = sitroom(capfd, "sites", "-w", str(ws["tehran"]))
    assert "geneva" in shown.out and "general only" in shown.out


def test_mistakes_are_one_line_and_record_nothing(
    capfd: pytest.CaptureFixture[str], tmp_path: Path, operator: tuple[Path, NatsCluster]
) -> None:
    conf, cluster = operator
    w = tmp_path / "geneva"
    assert sitroom(capfd, "init", "-w", str(w), "--site", "geneva").code == 0
    before = (w / "sitroom.db").read_bytes()
    garbage = tmp_path / "garbage.json"
    garbage.write_text('{"format": "nope"}')
    cases = [
        (["sites", "add", "tehran", "-w", str(w)], 2, "no site card"),
        (["sites", "add", "Tehran!", "-w", str(w)], 2, "not a usable site name"),
        (["sites", "sync", "-w", str(w)], 2, "no NATS server"),
        (["sites", "digest", "-w", str(w), "--for", "tehran"], 2, "no peer site 'tehran'"),
        (
            ["sites", "sync", "-w", str(w), "--nats", cluster.url(1), "--creds", str(garbage)],
            5,
            "not a sitroom NATS credentials file",
        ),
        (
            [
                "sites",
                "sync",
                "-w",
                str(w),
                "--nats",
                cluster.url(1),
                "--creds",
                str(conf / "tehran.nats.json"),
            ],
            2,
            "no NATS credentials of site geneva",
        ),
        (
            [
                "sites",
                "sync",
                "-w",
                str(w),
                "--nats",
                "nats://127.0.0.1:9",
                "--creds",
                str(conf / "geneva.nats.json"),
            ],
            1,
            "NATS at nats://127.0.0.1:9",
        ),
        (
            [
                "sites",
                "sync",
                "-w",
                str(w),
                "--nats",
                cluster.url(1),
                "--creds",
                str(conf / "geneva.nats.json"),
            ],
            1,
            "cannot be reached by geneva",
        ),  # no CA given: the server's TLS certificate is not trusted, nothing is sent
        (["sites", "nats-config", "--sites", "geneva", "-o", str(tmp_path / "c")], 2, "two"),
        (["sites", "nats-config", "--sites", "a,b", "-o", str(conf)], 2, "is not empty"),
        (
            [
                "sites",
                "provision",
                "--sites",
                "a,b",
                "--nats",
                "nats://127.0.0.1:9",
                "--password-file",
                str(conf / "operator.password"),
            ],
            1,
            "cannot reach NATS",
        ),
    ]
    for args, code, says in cases:
        out = sitroom(capfd, *args)
        assert (out.code, out.out) == (code, ""), (args, out)
        assert says in out.err and len(out.err.strip().splitlines()) <= 2, (args, out.err)
        assert "Traceback" not in out.err
    assert (w / "sitroom.db").read_bytes() == before
