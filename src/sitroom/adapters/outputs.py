"""Files written where the user says (``-o``, ``--ics``, ``--plot``, a new key file): never over
a workspace's own files, and each one whole or not at all.

A path the user types can name anything, the log included: ``sitroom keys export -o sitroom.db``
in a workspace once replaced the log with a 332-byte card, and ``verify`` then passed. So every
writer of a user-named path goes through :func:`refuse_own` (here, and only here, is what a
workspace owns spelled out) and writes through :func:`atomic`.

What a workspace owns: the log and its SQLite side files, its settings, the head kept outside
the log, and the keys directory with everything in it. A target is refused if it is one of
them, resolves to one (a symbolic link, ``..``), is the same file (a hard link), is inside the
keys directory, or is the workspace folder itself — of the workspace the command was given and
of any workspace found above the target (a folder holding ``sitroom.db`` or ``sitroom.toml``),
so a command aimed at one room cannot write over another's log either.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from sitroom.errors import UserInputError
from sitroom.settings import CONFIG_FILE

LOG_FILE = "sitroom.db"
HEAD_FILE = "head.json"
KEYS_DIR = "keys"  # the keystore's folder (adapters/keystore.py)
TOKENS_FILE = "tokens.json"  # in KEYS_DIR: tokens and the keys they wrap (adapters/tokens.py)
# SQLite's files beside the log: a change to one of them is a change to the log.
LOG_SIDE_FILES = {
    "-wal": "log's write-ahead file",
    "-shm": "log's shared-memory index",
    "-journal": "log's rollback journal",
}
MARKERS = (LOG_FILE, CONFIG_FILE)  # a folder holding one of these is a workspace


@dataclass(frozen=True)
class Owned:
    """One thing a workspace owns: its path and what to call it."""

    path: Path
    what: str
    folder: bool = False


def owned(workspace: Path, whose: str = "the workspace's") -> list[Owned]:
    """What ``workspace`` owns (whether it exists yet or not)."""
    log = workspace / LOG_FILE
    return [
        Owned(log, f"{whose} log"),
        *(
            Owned(workspace / (LOG_FILE + end), f"{whose} {what}")
            for end, what in LOG_SIDE_FILES.items()
        ),
        Owned(workspace / CONFIG_FILE, f"{whose} settings"),
        Owned(workspace / HEAD_FILE, f"{whose} head kept outside its log"),
        Owned(workspace / KEYS_DIR, f"{whose} keys folder", folder=True),
    ]


def is_workspace(folder: Path) -> bool:
    return any((folder / m).exists() for m in MARKERS)


# the check --------------------------------------------------------------------------------
def refuse_own(target: Path, workspace: Path | None, *, keys_ok: bool = False) -> None:
    """UserInputError, naming the file and why, if writing ``target`` (a file, or a folder
    that files are written into) could touch what a workspace owns: the one the command was
    given, or one found at or above the target. ``keys_ok``: a key file, whose place is the
    keys folder (it is only ever created there, over nothing)."""
    plain = os.path.abspath(target)
    real = _resolved(target)
    same = _identity(target)
    for ws in _workspaces(workspace, real):
        whose = "this workspace's" if ws is workspace else "another workspace's"
        if real == _resolved(ws):
            how = "is" if plain == os.path.abspath(ws) else "resolves to"
            _refuse(target, how, f"{whose} folder", real)
        for own in owned(ws, whose):
            if own.folder and keys_ok:
                continue
            own_real = _resolved(own.path)
            if real == own_real:
                how = "is" if plain == os.path.abspath(own.path) else "resolves to"
                _refuse(target, how, own.what, own_real)
            if own.folder and own_real in real.parents:
                _refuse(target, "is inside", own.what, own_real)
            linked = _identities(own).get(same) if same is not None else None
            if linked is not None:
                what = f"a file in {own.what}" if own.folder else own.what
                _refuse(target, "is a hard link to", what, linked)


def _refuse(target: Path, how: str, what: str, where: Path) -> None:
    raise UserInputError(
        f"will not write {target}: it {how} {what} ({where}), which sitroom keeps; "
        "choose another path"
    )


def _workspaces(given: Path | None, real: Path) -> Iterator[Path]:
    """The workspace given, then each one at or above ``real``, each once."""
    seen: set[Path] = set()
    candidates = [given] if given is not None else []
    candidates += [p for p in (real, *real.parents) if is_workspace(p)]
    for ws in candidates:
        key = _resolved(ws)
        if key not in seen:
            seen.add(key)
            yield ws


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError) as e:  # a loop of links
        raise UserInputError(f"cannot write {path}: {e}") from None


def _identity(path: Path) -> tuple[int, int] | None:
    """The device and inode of the file ``path`` names (following links), if it exists."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _identities(own: Owned) -> dict[tuple[int, int], Path]:
    """The device and inode of each existing file ``own`` is (or, a folder, holds)."""
    paths = [own.path]
    if own.folder:
        paths = [p for p in own.path.rglob("*") if p.is_file()] if own.path.is_dir() else []
    return {i: p.resolve() for p in paths if (i := _identity(p)) is not None}


# writing ----------------------------------------------------------------------------------
@contextmanager
def atomic(path: Path) -> Iterator[BinaryIO]:
    """``path`` written whole or not at all: into a temporary file beside it, flushed to disk,
    renamed over it, and the rename flushed too (a failure leaves the old file as it was)."""
    folder = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as e:
        raise UserInputError(f"cannot write {path}: {e.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _sync_folder(folder)
    except OSError as e:
        raise UserInputError(f"cannot write {path}: {e.strerror}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_atomic(path: Path, data: bytes) -> None:
    with atomic(path) as f:
        f.write(data)


def write_private(path: Path, data: bytes) -> None:
    """:func:`write_atomic`, readable by its owner only (a temporary file is made so), in a
    folder made for it readable by them only: keys, key files, tokens."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_atomic(path, data)


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Alone among processes that change ``path`` through here (an advisory lock on a file
    beside it): for a read, change and write that must not interleave with another's."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    lock = os.open(path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
    finally:
        os.close(lock)


def written(path: Path, workspace: Path | None) -> AbstractContextManager[BinaryIO]:
    """:func:`atomic`, once :func:`refuse_own` has let ``path`` through."""
    refuse_own(path, workspace)
    return atomic(path)


def _sync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (not every file system lets a folder be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        with suppress(OSError):  # nor lets it be synced: the rename is then as durable as it gets
            os.fsync(fd)
    finally:
        os.close(fd)
