"""In-memory implementations of two ports, for tests and simulations: the wire between desks
and the key store. Each passes its port's contract suite, like the real one.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import os
import secrets
import tempfile
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import orjson

from sitroom.adapters.keystore import MIN_PASSPHRASE
from sitroom.application.ports import ChainStep, Unlock, WireError
from sitroom.domain.secure.identity import Identity, Secret, check_name
from sitroom.domain.secure.ratchet import ChainState
from sitroom.domain.secure.reader import ReaderState
from sitroom.errors import AlreadyExists, SecureError, UserInputError

__all__ = ["MemoryKeyStore", "MemoryWire"]

Deliver = Callable[[dict[str, Any]], Mapping[str, Any]]
Heard = Callable[[], int | None]
_T = TypeVar("_T")


# the wire ---------------------------------------------------------------------------------
@dataclass
class _End:
    deliver: Deliver
    heard: Heard


class MemoryWire:
    """The ``Wire`` port in memory: far ends are functions listening under a URL.

    ``listen(url, deliver)`` puts a far end there (a desk's ``receive``, or a test's own
    function): ``deliver`` gets the envelope as the far end would read it off the wire (a fresh
    JSON copy) and its answer is the ack, copied back the same way. Nothing listening at a URL,
    or a far end ``hang_up`` took down, refuses every call with a :class:`WireError`, as does a far
    end that raises (any error: HTTP would answer 4xx/5xx) or that takes longer than the call's
    timeout (it still gets the envelope, as over HTTP; its ack is lost). ``calls`` logs every
    call made, as ``(what, url)``; ``delivered`` every envelope handed over, as ``(url,
    envelope)``. Safe to use from many threads, as a desk does.
    """

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.delivered: list[tuple[str, dict[str, Any]]] = []
        self._ends: dict[str, _End] = {}
        self._lock = threading.Lock()
        self._numbers = itertools.count(1)

    def listen(
        self, url: str | None = None, deliver: Deliver | None = None, *, heard: Heard | None = None
    ) -> str:
        """A far end at ``url`` (a fresh ``memory://end-N`` when None): ``deliver`` answers
        envelopes (default: ack each one), ``heard`` says how long ago (ms) it last heard its
        counterpart (default: 0, it hears itself, as a desk does). The URL, to send to."""
        with self._lock:
            url = _key(url or f"memory://end-{next(self._numbers)}")
            self._ends[url] = _End(deliver or ack, heard or (lambda: 0))
        return url

    def hang_up(self, url: str) -> None:
        """Nothing answers at ``url`` any more."""
        with self._lock:
            self._ends.pop(_key(url), None)

    # the port -----------------------------------------------------------------------------
    def deliver(self, url: str, envelope: Mapping[str, Any], timeout_s: float) -> dict[str, Any]:
        end = self._end("deliver", url)
        sent: dict[str, Any] = orjson.loads(orjson.dumps(envelope))
        with self._lock:
            self.delivered.append((_key(url), sent))
        answer = _within(timeout_s, url, lambda: end.deliver(sent))
        try:
            copy: dict[str, Any] = orjson.loads(orjson.dumps(answer))
        except TypeError as e:
            raise WireError(f"{url}: the far end's answer is not JSON: {e}") from None
        if not isinstance(copy, dict):
            raise WireError(f"{url}: the far end's answer is not a JSON object: {copy!r}")
        return copy

    def ping(self, url: str, timeout_s: float) -> None:
        self._end("ping", url)

    def heard(self, url: str, timeout_s: float) -> int | None:
        end = self._end("heard", url)
        ago = _within(timeout_s, url, end.heard)
        return None if ago is None else int(ago)

    def close(self) -> None:
        with self._lock:
            self._ends.clear()

    def _end(self, what: str, url: str) -> _End:
        with self._lock:
            self.calls.append((what, _key(url)))
            end = self._ends.get(_key(url))
        if end is None:
            raise WireError(f"{url}: connection refused (nothing listens there)")
        return end


def ack(envelope: Mapping[str, Any]) -> dict[str, Any]:
    """What a desk answers to a new message: the default far end of a :class:`MemoryWire`."""
    return {"ack": True, "message": envelope.get("id"), "duplicate": False}


def _key(url: str) -> str:
    return url.rstrip("/")


def _within(timeout_s: float, url: str, call: Callable[[], _T]) -> _T:
    """``call()`` on a thread of its own; a WireError when it fails or does not finish in
    time (it runs on: a far end finishes what it started)."""
    done: list[_T] = []
    failed: list[BaseException] = []

    def run() -> None:
        try:
            done.append(call())
        except BaseException as e:  # handed to the caller, as a WireError
            failed.append(e)

    worker = threading.Thread(target=run, daemon=True, name="sitroom-memory-wire")
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        raise WireError(f"{url}: timed out after {timeout_s:g} s")
    if failed:
        e = failed[0]
        raise WireError(f"{url}: the far end failed: {type(e).__name__}: {e}") from None
    return done[0]


# sender chains ----------------------------------------------------------------------------
class MemoryChains:
    """The ``SenderChains`` port in memory: chains live as long as the object."""

    def __init__(self) -> None:
        self._chains: dict[tuple[str, str, int], ChainState] = {}
        self._lock = threading.Lock()

    def get(self, me: Secret, track: str, epoch: int) -> ChainState | None:
        return self._chains.get((me.name, track, epoch))

    def advance(
        self, me: Secret, track: str, epoch: int, step: ChainStep
    ) -> tuple[bytes, ChainState]:
        with self._lock:
            key, after = step(self.get(me, track, epoch))
            for old in [k for k in self._chains if k[:2] == (me.name, track) and k[2] < epoch]:
                del self._chains[old]
            self._chains[(me.name, track, epoch)] = after
        return key, after


class MemoryReaders:
    """The ``ReaderStates`` port in memory: states live as long as the object."""

    def __init__(self) -> None:
        self._states: dict[str, ReaderState] = {}
        self._lock = threading.Lock()

    def get(self, me: Secret) -> ReaderState:
        return self._states.get(me.name, ReaderState())

    def change(self, me: Secret, change: Callable[[ReaderState], tuple[_T, ReaderState]]) -> _T:
        with self._lock:
            out, self._states[me.name] = change(self.get(me))
        return out


# the key store ----------------------------------------------------------------------------
@dataclass(frozen=True)
class _Stored:
    identity: Identity
    private: bytes
    salt: bytes
    check: bytes  # HMAC of the passphrase, or of the key file's bytes, under the salt
    key_file: Path | None


class MemoryKeyStore:
    """The ``KeyStore`` port in memory: keys live as long as the object. A passphrase is kept
    as a salted HMAC only; a key file is a real file (it belongs on other media than the store)
    under ``key_files`` (default: a temporary directory), made with 32 random bytes when it does
    not exist, as the disk store does."""

    def __init__(self, key_files: Path | None = None) -> None:
        self._keys: dict[str, _Stored] = {}
        self._key_files = key_files

    def exists(self, name: str) -> bool:
        return check_name(name) in self._keys

    def names(self) -> list[str]:
        return sorted(self._keys)

    def save(self, secret: Secret, how: Unlock) -> Path:
        name = check_name(secret.name)
        if name in self._keys:
            raise AlreadyExists("key", name)
        salt = secrets.token_bytes(16)
        if how.passphrase is not None:
            if len(how.passphrase) < MIN_PASSPHRASE:
                raise UserInputError(f"a passphrase needs at least {MIN_PASSPHRASE} characters")
            material, key_file = how.passphrase.encode("utf-8"), None
        else:
            assert how.key_file is not None
            key_file = how.key_file.resolve()
            if not key_file.exists():
                key_file.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                try:
                    os.write(fd, secrets.token_bytes(32))
                finally:
                    os.close(fd)
            material = _read_key_file(key_file, name)
        check = hmac.digest(salt, material, hashlib.sha256)
        self._keys[name] = _Stored(secret.identity, secret.private_bytes(), salt, check, key_file)
        return Path(f"memory://keys/{name}")

    def replace(self, secret: Secret, how: Unlock) -> Path:
        self._get(secret.name)  # a key to replace
        del self._keys[secret.name]
        return self.save(secret, how)

    def public(self, name: str) -> Identity:
        return self._get(name).identity

    def stored_key_file(self, name: str) -> Path | None:
        return self._get(name).key_file

    def default_key_file(self, name: str) -> Path:
        if self._key_files is None:
            self._key_files = Path(tempfile.mkdtemp(prefix="sitroom-memory-keys-"))
        return self._key_files / f"{check_name(name)}.keyfile"

    def unlock(self, name: str, how: Unlock) -> Secret:
        stored = self._get(name)
        if stored.key_file is None and how.passphrase is None:
            raise SecureError(f"{name}'s key is protected by a passphrase, not a key file")
        if stored.key_file is not None and how.key_file is None:
            raise SecureError(f"{name}'s key is protected by a key file, not a passphrase")
        if how.passphrase is not None:
            material, what = how.passphrase.encode("utf-8"), "passphrase"
        else:
            assert how.key_file is not None
            material, what = _read_key_file(how.key_file, name), "key file"
        if not hmac.compare_digest(
            hmac.digest(stored.salt, material, hashlib.sha256), stored.check
        ):
            raise SecureError(f"wrong {what} for {name}'s keys")
        return Secret.from_private_bytes(name, stored.identity.role, stored.private)

    def _get(self, name: str) -> _Stored:
        stored = self._keys.get(check_name(name))
        if stored is None:
            known = ", ".join(self.names()) or "none yet"
            raise SecureError(f"no keys for {name!r} (keys here: {known})")
        return stored


def _read_key_file(path: Path, name: str) -> bytes:
    try:
        material = path.read_bytes()
    except OSError as e:
        raise SecureError(f"cannot read the key file for {name}: {e}") from None
    if len(material) < 32:
        raise SecureError(f"the key file {path} is too short to be one")
    return material
