"""The Merkle tree against a reference written here from RFC 9162's text, independently of
the module's code: MTH (§2.1.1), PATH (§2.1.3.1) and PROOF/SUBPROOF (§2.1.4.1) as the RFC
writes them — recursive definitions over slices — with SHA-256."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sitroom.domain.secure import merkle


# The reference: each function is the RFC's definition, word for word. ----------------------
def H(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def k_of(n: int) -> int:
    """ "the largest power of two smaller than n (i.e., k < n <= 2k)"."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def MTH(D: list[bytes]) -> bytes:
    n = len(D)
    if n == 0:
        return H(b"")
    if n == 1:
        return H(b"\x00" + D[0])
    k = k_of(n)
    return H(b"\x01" + MTH(D[0:k]) + MTH(D[k:n]))


def PATH(m: int, D: list[bytes]) -> list[bytes]:
    n = len(D)
    if n == 1:
        return []
    k = k_of(n)
    if m < k:
        return [*PATH(m, D[0:k]), MTH(D[k:n])]
    return [*PATH(m - k, D[k:n]), MTH(D[0:k])]


def SUBPROOF(m: int, D: list[bytes], b: bool) -> list[bytes]:
    n = len(D)
    if m == n:
        return [] if b else [MTH(D)]
    k = k_of(n)
    if m <= k:
        return [*SUBPROOF(m, D[0:k], b), MTH(D[k:n])]
    return [*SUBPROOF(m - k, D[k:n], False), MTH(D[0:k])]


def PROOF(m: int, D: list[bytes]) -> list[bytes]:
    return SUBPROOF(m, D, True)


def entries(n: int) -> list[bytes]:
    return [f"segment {i}".encode() for i in range(n)]


# ------------------------------------------------------------------------------------------
def test_the_rfc_empty_and_single_leaf_heads() -> None:
    # Known values: SHA-256 of nothing, and of 0x00 alone (an empty entry).
    assert merkle.Tree([]).root().hex() == (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    assert merkle.Tree([b""]).root().hex() == (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    )


@pytest.mark.parametrize("n", range(0, 40))
def test_heads_paths_and_proofs_match_the_rfc_for_every_small_tree(n: int) -> None:
    D = entries(n)
    tree = merkle.Tree(D)
    for size in range(n + 1):
        assert tree.root(size) == MTH(D[:size]) == merkle.root_of(D[:size])
        for m in range(size):
            path = tree.inclusion(m, size)
            assert path == PATH(m, D[:size])
            assert merkle.included(D[m], m, size, path, MTH(D[:size]))
        for m in range(1, size + 1):
            proof = tree.consistency(m, size)
            assert proof == PROOF(m, D[:size])
            assert merkle.consistent(m, MTH(D[:m]), size, MTH(D[:size]), proof)


@settings(max_examples=200, deadline=None)
@given(
    n=st.integers(2, 300),
    data=st.data(),
)
def test_a_changed_leaf_head_or_proof_never_checks(n: int, data: st.DataObject) -> None:
    D = entries(n)
    tree = merkle.Tree(D)
    size = data.draw(st.integers(2, n), label="size")
    m = data.draw(st.integers(0, size - 1), label="leaf")
    root = MTH(D[:size])
    path = PATH(m, D[:size])
    assert merkle.included(D[m], m, size, path, root)
    assert not merkle.included(D[m] + b"!", m, size, path, root)  # another entry
    assert not merkle.included(D[m], m, size, path, H(root))  # another head
    if size > 1:
        assert not merkle.included(D[m], (m + 1) % size, size, path, root)  # another place
    if path:
        i = data.draw(st.integers(0, len(path) - 1), label="hash")
        bad = [H(p) if j == i else p for j, p in enumerate(path)]
        assert not merkle.included(D[m], m, size, bad, root)
        assert not merkle.included(D[m], m, size, path[:-1], root)
        assert not merkle.included(D[m], m, size, [*path, path[0]], root)

    old = data.draw(st.integers(1, size - 1), label="old")
    proof = tree.consistency(old, size)
    assert proof == PROOF(old, D[:size])
    assert merkle.consistent(old, MTH(D[:old]), size, root, proof)
    # The old tree with one leaf changed (a rewrite), or the new one: no longer consistent.
    forked = [*D[: old - 1], b"rewritten", *D[old:size]]
    assert not merkle.consistent(old, MTH(forked[:old]), size, root, proof)
    assert not merkle.consistent(old, MTH(D[:old]), size, MTH(forked), proof)
    # A fork: the witness's old head against the forked tree's head, with its own proof.
    assert not merkle.consistent(old, MTH(D[:old]), size, MTH(forked), PROOF(old, forked))
    assert not merkle.consistent(old, MTH(D[:old]), size, root, proof[:-1])
    assert not merkle.consistent(size, root, old, MTH(D[:old]), proof)  # shrinking


def test_the_frontier_keeps_the_head_as_leaves_arrive() -> None:
    D = entries(100)
    f = merkle.Frontier()
    for i, e in enumerate(D):
        assert f.root() == MTH(D[:i])
        f.append(e)
    assert f.size == 100 and f.root() == MTH(D)


def test_proofs_outside_the_tree_are_refused() -> None:
    tree = merkle.Tree(entries(5))
    with pytest.raises(ValueError):
        tree.inclusion(5)
    with pytest.raises(ValueError):
        tree.consistency(6)
    with pytest.raises(ValueError):
        tree.root(6)
    assert not merkle.included(b"x", 0, 0, [], merkle.EMPTY_ROOT)
