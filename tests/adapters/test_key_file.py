"""The key file parser: whatever bytes it is given, it returns a key file whose every field is
in range, or raises one SecureError naming the file; nothing else escapes it, and no scrypt
cost it lets through is out of bounds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sitroom.adapters.keyfile import (
    SCRYPT_LOG2_N,
    SCRYPT_MAX_BYTES,
    SCRYPT_RANGE,
    KeyFile,
    parse_key_file,
)
from sitroom.adapters.keystore import KeyStore, new_secret
from sitroom.application.ports import Unlock
from sitroom.errors import SecureError

PATH = Path("/workspace/keys/alice.key")
PASSPHRASE = "correct horse battery"


def _written(tmp: Path, how: str) -> dict[str, Any]:
    store = KeyStore(tmp / "keys")
    unlock = Unlock(passphrase=PASSPHRASE) if how == "scrypt" else Unlock(key_file=tmp / "k")
    body: dict[str, Any] = json.loads(store.save(new_secret("alice", "person"), unlock).read_text())
    return body


@pytest.fixture(scope="module")
def bodies(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """A key file as sitroom writes it, under each protection."""
    return {how: _written(tmp_path_factory.mktemp(how), how) for how in ("scrypt", "key-file")}


def _checked(data: bytes, name: str | None = "alice") -> KeyFile | None:
    """The parse of ``data``: a key file in range, or None for one SecureError naming the
    file (anything else fails the test)."""
    try:
        found = parse_key_file(data, PATH, name)
    except SecureError as e:
        assert str(e).startswith(f"{PATH}: ") and "\n" not in str(e), str(e)
        return None
    p = found.protection
    assert p["kdf"] in ("scrypt", "key-file")
    if p["kdf"] == "scrypt":
        n, r = p["n"], p["r"]
        assert 2 ** SCRYPT_LOG2_N[0] <= n <= 2 ** SCRYPT_LOG2_N[1] and n & (n - 1) == 0
        assert all(lo <= p[k] <= hi for k, (lo, hi) in SCRYPT_RANGE.items())
        assert 128 * n * r <= SCRYPT_MAX_BYTES
    assert (len(found.salt), len(found.nonce), len(found.sealed)) == (16, 12, 80)
    assert name is None or found.identity.name == name
    return found


def test_what_sitroom_writes_it_reads(bodies: dict[str, dict[str, Any]]) -> None:
    for how, body in bodies.items():
        found = _checked(json.dumps(body).encode())
        assert found is not None and found.kdf == how
        assert _checked(json.dumps(body).encode(), "bob") is None  # someone else's name


def test_every_prefix_of_a_key_file_is_refused_in_one_line(
    bodies: dict[str, dict[str, Any]],
) -> None:
    data = json.dumps(bodies["scrypt"], indent=2).encode()
    for end in range(len(data)):
        assert _checked(data[:end]) is None


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_any_bytes_are_a_key_file_or_one_secure_error(data: bytes) -> None:
    _checked(data)


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=6,
)
FIELDS = ["format", "name", "role", "sign", "kex", "nonce", "sealed", "protection"]
PROTECTION = ["kdf", "salt", "n", "r", "p", "key_file"]


@settings(max_examples=400, deadline=None)
@given(
    how=st.sampled_from(["scrypt", "key-file"]),
    changes=st.lists(
        st.tuples(
            st.sampled_from(["top", "protection"]),
            st.sampled_from(FIELDS + PROTECTION),
            st.none() | JSON,  # None: the field is dropped
        ),
        min_size=1,
        max_size=4,
    ),
)
def test_a_key_file_with_fields_changed_or_dropped_is_read_or_refused(
    bodies: dict[str, dict[str, Any]], how: str, changes: list[tuple[str, str, Any]]
) -> None:
    body = json.loads(json.dumps(bodies[how]))
    for where, field, value in changes:
        target = body if where == "top" or not isinstance(body.get("protection"), dict) else None
        target = target if target is not None else body["protection"]
        if value is None:
            target.pop(field, None)
        else:
            target[field] = value
    _checked(json.dumps(body).encode())


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(min_value=0, max_value=2**64),
    r=st.integers(min_value=-1, max_value=2**40),
    p=st.integers(min_value=-1, max_value=2**40),
)
def test_scrypt_costs_out_of_bounds_are_refused_before_scrypt_runs(
    bodies: dict[str, dict[str, Any]], n: int, r: int, p: int
) -> None:
    body = json.loads(json.dumps(bodies["scrypt"]))
    body["protection"].update(n=n, r=r, p=p)
    _checked(json.dumps(body).encode())
