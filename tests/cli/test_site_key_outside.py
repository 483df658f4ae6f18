"""The site's key is not in the workspace: an analyst cleared for one track, who can read every
file of the workspace, cannot open another track's messages — not through sitroom, not with
her own key, not by acting as the site — because the key file that opens the site's key is
the operator's, outside the workspace, and not hers to read.

The key file is the operator's (another Unix user's, uid 1000, mode 0600 in a 0700 folder) and
her process has no right to read another's files: the suite runs as root here, so hers runs
with the capabilities that let root read every file whatever its mode dropped (setpriv), as an
analyst's process on a shared host would be."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import sitroom

from helpers import PASS, sealed_track_room

OPERATOR = 1000
NOT_PRIVILEGED = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="needs root and setpriv to give the key file to another user and drop privileges",
)


@pytest.fixture
def room(tmp_path: Path) -> Path:
    """washington's room: alice (admin) cleared for us-iran, where a sealed message waits;
    dana (analyst) cleared for ceasefire only."""
    return sealed_track_room(tmp_path / "room")


def _as_dana(tmp_path: Path, room: Path) -> Path:
    """A copy of every file of the workspace, all readable by anyone."""
    copy = tmp_path / "dana" / "room"
    shutil.copytree(room, copy)
    for p in [copy.parent, copy, *copy.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    (tmp_path / "dana" / "home").mkdir()
    return copy


def _give_to_operator(key_file: Path) -> None:
    os.chown(key_file.parent, OPERATOR, OPERATOR)
    os.chown(key_file, OPERATOR, OPERATOR)
    key_file.parent.chmod(0o700)
    key_file.chmod(0o600)


ATTEMPTS = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    import sitroom
    from sitroom.adapters.keystore import KeyStore
    from sitroom.application.ports import Unlock
    from sitroom.errors import SitroomError

    copy, stored = Path(sys.argv[1]), Path(sys.argv[2])
    # 1. The key file the site's key names is the operator's: not readable here.
    try:
        stored.read_bytes()
        print("read the site's key file")
    except PermissionError:
        pass
    # 2. No file of the workspace opens the site's key.
    store = KeyStore(copy / "keys")
    for f in sorted(p for p in copy.rglob("*") if p.is_file()):
        try:
            store.unlock("washington", Unlock(key_file=f))
            print("opened the site's key with", f)
        except SitroomError:
            pass
    # 3. Acting as the site, with every file of the workspace: the message stays sealed.
    with sitroom.open(copy, as_site=True) as site:
        try:
            print("read as the site:", site.channels.read("m-1").text)
        except SitroomError as e:
            print("refused as the site:", e)
    # 4. As herself: not cleared, and her key is not among the epoch's members.
    with sitroom.open(copy, user="dana", proof=sys.argv[3]) as dana:
        try:
            print("read as dana:", dana.channels.read("m-1").text)
        except SitroomError as e:
            print("refused as dana:", type(e).__name__)
    """
)


def test_an_analyst_with_every_file_of_the_workspace_cannot_open_another_tracks_messages(
    tmp_path: Path, room: Path
) -> None:
    with sitroom.open(room, as_site=True) as site:
        stored = site.keys.key_file_of("washington")
        assert stored is not None and room.resolve() not in stored.resolve().parents
        # The operator, who holds the key file, can: the attempts below could succeed.
        assert site.channels.read("m-1").text == "meet on the 14th"
    _give_to_operator(stored)
    copy = _as_dana(tmp_path, room)
    home = tmp_path / "dana" / "home"
    done = subprocess.run(
        [*NOT_PRIVILEGED, sys.executable, "-c", ATTEMPTS, str(copy), str(stored), PASS],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "SITROOM_HOME": str(home), "HOME": str(home)},
        cwd=home,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert not [x for x in lines if x.startswith(("read ", "opened "))], lines
    assert lines == [
        lines[0],
        "refused as dana: AccessDenied",
    ] and lines[0].startswith("refused as the site: ")
    assert "meet on the 14th" not in done.stdout + done.stderr
