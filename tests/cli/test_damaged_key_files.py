"""A damaged key file, every way it can be damaged, is one line naming the file and what is
wrong, exit 5: never a traceback (``n must be a power of 2``, ``KeyError: 'salt'``), and never
scrypt asked for N = 2^40 (a MemoryError, or 128 TiB)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from test_keys_cli import room  # noqa: F401  (the fixture: washington, alice the admin, dana)

from sitroom.domain.secure.codec import b64

from helpers import Result
from helpers import sitroom as run

# root's capabilities to read any file whatever its mode, dropped
NOT_PRIVILEGED = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]

Damage = Callable[[Path], None]


def _edit(change: Callable[[dict[str, Any]], None]) -> Damage:
    def damage(path: Path) -> None:
        body = json.loads(path.read_text())
        change(body)
        path.write_text(json.dumps(body))

    return damage


def _set(*where: str, value: Any) -> Damage:
    def change(body: dict[str, Any]) -> None:
        for key in where[:-1]:
            body = body[key]
        body[where[-1]] = value

    return _edit(change)


def _drop(*where: str) -> Damage:
    def change(body: dict[str, Any]) -> None:
        for key in where[:-1]:
            body = body[key]
        del body[where[-1]]

    return _edit(change)


def _bytes(data: bytes) -> Damage:
    return lambda path: path.write_bytes(data)


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _folder(path: Path) -> None:
    path.unlink()
    path.mkdir()


def _unreadable(path: Path) -> None:
    path.chmod(0)


# (what is done to the file, what the error says is wrong). The person's key is under scrypt.
PERSON: dict[str, tuple[Damage, str]] = {
    "not JSON": (_bytes(b"{'this is': not json"), "is not JSON"),
    "empty": (_bytes(b""), "is empty"),
    "truncated": (_truncate, "is not JSON (damaged or cut short)"),
    "a JSON list": (_bytes(b"[1, 2]"), "is not a JSON object"),
    "another format": (_set("format", value="sitroom-key/9"), "is not a sitroom key file"),
    "salt missing": (_drop("protection", "salt"), "has no salt"),
    "salt a number": (_set("protection", "salt", value=5), "its salt is not text"),
    "protection missing": (_drop("protection"), "says nothing of how its keys are protected"),
    "protection a list": (_set("protection", value=[]), "says nothing of how"),
    "unknown kdf": (_set("protection", "kdf", value="argon2"), "unknown protection 'argon2'"),
    "n not a power of 2": (_set("protection", "n", value=1000), "scrypt n is 1000, not a power"),
    "n = 2^40": (_set("protection", "n", value=2**40), "scrypt n is 1099511627776"),
    "n too small": (_set("protection", "n", value=2), "scrypt n is 2, not a power of 2"),
    "n as text": (_set("protection", "n", value="32768"), "scrypt n is '32768', not a whole"),
    "n a float": (_set("protection", "n", value=32768.0), "scrypt n is 32768.0"),
    "n true": (_set("protection", "n", value=True), "scrypt n is True"),
    "r zero": (_set("protection", "r", value=0), "scrypt r is 0, not 1 to 16"),
    "r huge": (_set("protection", "r", value=2**31), "scrypt r is 2147483648"),
    "p too big": (_set("protection", "p", value=99), "scrypt p is 99, not 1 to 4"),
    "p negative": (_set("protection", "p", value=-1), "scrypt p is -1"),
    "too much memory": (_set("protection", "n", value=2**20), "would take 1,024 MiB"),
    "nonce missing": (_drop("nonce"), "has no nonce"),
    "nonce not base64": (_set("nonce", value="!!!!AAAAAAAAAAAAAAAA"), "nonce is not base64url"),
    "nonce too short": (_set("nonce", value=b64(b"12345")), "its nonce must be 12 bytes"),
    "sealed too short": (_set("sealed", value=b64(b"x" * 40)), "its sealed keys must be 80"),
    "sealed a list": (_set("sealed", value=[1]), "its sealed is not text"),
    "signing key short": (_set("sign", value=b64(b"k" * 31)), "public card is damaged"),
    "role unknown": (_set("role", value="king"), "public card is damaged"),
    "someone else's": (_set("name", value="mallory"), "holds mallory's keys, not alice's"),
    "a folder": (_folder, "cannot be read"),
    "unreadable": (_unreadable, "cannot be read (Permission denied)"),
}
# The site's key is under a key file.
SITE: dict[str, tuple[Damage, str]] = {
    "key file unnamed": (_drop("protection", "key_file"), "has no key_file"),
    "key file empty": (_set("protection", "key_file", value=""), "names an empty key file"),
    "key file a number": (_set("protection", "key_file", value=7), "its key_file is not text"),
    "salt not base64": (_set("protection", "salt", value="***"), "its salt is not base64url"),
    "truncated": (_truncate, "is not JSON"),
    "a folder": (_folder, "cannot be read"),
}


def _refused(r: Any, key: Path, what: str) -> None:
    assert r.code == 5, (r.code, r.err)
    assert r.err.startswith("sitroom: error: ") and r.err.count("\n") == 1, r.err
    assert str(key) in r.err and what in r.err, r.err
    assert "Traceback" not in r.err + r.out


@pytest.mark.parametrize("case", sorted(PERSON))
def test_a_damaged_persons_key_file_is_one_line_exit_5(
    room: Path,  # noqa: F811
    capfd: pytest.CaptureFixture[str],
    case: str,
) -> None:
    damage, what = PERSON[case]
    key = room / "keys" / "alice.key"
    damage(key)
    if case == "unreadable" and os.geteuid() == 0:
        # root reads a file whatever its mode: the command runs as root without the
        # capabilities that let it (as test_site_key_outside.py runs the analyst's)
        if shutil.which("setpriv") is None:
            pytest.skip("root reads a file whatever its mode, and setpriv is not here")
        p = subprocess.run(
            [*NOT_PRIVILEGED, sys.executable, "-m", "sitroom", "-u", "alice", "keys", "-w",
             str(room)],
            capture_output=True,
            text=True,
            timeout=120,
        )  # fmt: skip
        _refused(Result(p.returncode, p.stdout, p.stderr), key, what)
        return
    _refused(run(capfd, "-u", "alice", "keys", "-w", str(room)), key, what)


@pytest.mark.parametrize("case", sorted(SITE))
def test_a_damaged_site_key_file_is_one_line_exit_5(
    room: Path,  # noqa: F811
    capfd: pytest.CaptureFixture[str],
    case: str,
) -> None:
    damage, what = SITE[case]
    key = room / "keys" / "washington.key"
    damage(key)
    _refused(run(capfd, "-u", "alice", "keys", "rotate", "-w", str(room), "us-iran"), key, what)


def test_an_intact_key_file_still_opens(
    room: Path,  # noqa: F811
    capfd: pytest.CaptureFixture[str],
) -> None:
    """The control: the same commands on files left as written."""
    assert run(capfd, "-u", "alice", "keys", "-w", str(room)).code == 0
    r = run(capfd, "-u", "alice", "keys", "rotate", "-w", str(room), "us-iran")
    assert r.code == 0, r.err
