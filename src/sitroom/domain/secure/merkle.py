"""A Merkle tree over the log's segments, as RFC 9162 (Certificate Transparency 2.0) defines
it: leaf and node hashes with domain separation, the tree head of any size, inclusion proofs
(a leaf is in the tree) and consistency proofs (a tree is a prefix of a larger one).

The leaves are the segments' digests (domain/secure/audit.py), in seq order. The hash chain
there says which segment was changed; this tree lets the site prove things to others who
hold only a signed head: that a record is in the log (an inclusion proof, log2(n) hashes),
and that the log only grew since a head they hold (a consistency proof). A witness that
co-signs heads checks the second before it signs, so a log rewritten, cut short or forked
after a witnessed head can no longer be made consistent with it.

Everything here is pure. Proofs are produced from :class:`Tree` (every level kept: the
segments of a log are few enough — one per append — to hold 32 bytes each) and checked
with the RFC's verification algorithms (§2.1.3.2, §2.1.4.2), which need only the heads.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

HASH_SIZE = 32
_LEAF, _NODE = b"\x00", b"\x01"
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(_LEAF + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(_NODE + left + right).digest()


class Frontier:
    """The roots of the perfect subtrees a tree of ``size`` leaves splits into, largest first
    (a compact range): enough to append the next leaf and give the tree's head at any time,
    in O(log n) memory — what a walk over the log keeps."""

    def __init__(self) -> None:
        self.size = 0
        self._stack: list[tuple[int, bytes]] = []  # (leaves, hash) of each perfect subtree

    def append(self, entry: bytes) -> None:
        node = (1, leaf_hash(entry))
        while self._stack and self._stack[-1][0] == node[0]:
            left = self._stack.pop()
            node = (left[0] * 2, node_hash(left[1], node[1]))
        self._stack.append(node)
        self.size += 1

    def root(self) -> bytes:
        # MTH splits at the largest power of two below n, so the tree is the perfect subtrees
        # joined from the right.
        if not self._stack:
            return EMPTY_ROOT
        root = self._stack[-1][1]
        for _, h in reversed(self._stack[:-1]):
            root = node_hash(h, root)
        return root


class Tree:
    """All of a tree's levels, from its leaves' entries: its head and proofs at any size up
    to its own (a proof for an earlier head is a proof within the prefix tree)."""

    def __init__(self, entries: Iterable[bytes]) -> None:
        # _levels[j][i]: the head of the perfect subtree of leaves i·2^j to (i+1)·2^j - 1.
        level = [leaf_hash(e) for e in entries]
        self._levels = [level]
        while len(level) > 1:
            level = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
            self._levels.append(level)

    @property
    def size(self) -> int:
        return len(self._levels[0])

    def root(self, size: int | None = None) -> bytes:
        n = self._check(size)
        return EMPTY_ROOT if n == 0 else self._node(0, n)

    def inclusion(self, index: int, size: int | None = None) -> list[bytes]:
        """The audit path of leaf ``index`` in the tree of ``size`` leaves (RFC 9162 PATH)."""
        n = self._check(size)
        if not 0 <= index < n:
            raise ValueError(f"leaf {index} is not in a tree of {n}")
        path: list[bytes] = []
        a, b = 0, n
        while b - a > 1:
            k = _split(b - a)
            if index < a + k:
                path.append(self._node(a + k, b))
                b = a + k
            else:
                path.append(self._node(a, a + k))
                a += k
        return path[::-1]  # the RFC lists the path from the leaf up

    def consistency(self, old: int, size: int | None = None) -> list[bytes]:
        """The proof that the tree of ``old`` leaves is a prefix of the tree of ``size``
        (RFC 9162 PROOF/SUBPROOF)."""
        n = self._check(size)
        if not 0 <= old <= n:
            raise ValueError(f"a tree of {old} is not a prefix of one of {n}")
        if old in (0, n):
            return []
        proof: list[bytes] = []
        a, b, whole = 0, n, True  # the subtree D[a:b]; whether D[a:a+old'] is the old tree
        m = old
        while m != b - a:
            k = _split(b - a)
            if m <= k:
                proof.append(self._node(a + k, b))
                b = a + k
            else:
                proof.append(self._node(a, a + k))
                a, m, whole = a + k, m - k, False
        if not whole:
            proof.append(self._node(a, b))
        return proof[::-1]

    def _check(self, size: int | None) -> int:
        n = self.size if size is None else size
        if not 0 <= n <= self.size:
            raise ValueError(f"the tree has {self.size} leaves, not {n}")
        return n

    def _node(self, a: int, b: int) -> bytes:
        """MTH(D[a:b]), for the subtrees proofs need: perfect ones are kept; one that is
        not (the right edge of a smaller tree) is joined from them, in log2(n) steps."""
        size = b - a
        if size & (size - 1) == 0:
            return self._levels[size.bit_length() - 1][a // size]
        k = _split(size)
        return node_hash(self._node(a, a + k), self._node(a + k, b))


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_of(entries: Sequence[bytes]) -> bytes:
    f = Frontier()
    for e in entries:
        f.append(e)
    return f.root()


# checking (RFC 9162 §2.1.3.2 and §2.1.4.2): only heads and the proof are needed -----------
def included(entry: bytes, index: int, size: int, path: Sequence[bytes], root: bytes) -> bool:
    """Whether ``path`` proves that ``entry`` is leaf ``index`` of the tree of ``size``
    leaves whose head is ``root``."""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf_hash(entry)
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def consistent(
    old_size: int, old_root: bytes, size: int, root: bytes, proof: Sequence[bytes]
) -> bool:
    """Whether ``proof`` proves that the tree of ``old_size`` leaves with head ``old_root``
    is a prefix of the tree of ``size`` leaves with head ``root``."""
    if old_size == size:
        return not proof and old_root == root
    if old_size == 0:
        return not proof  # every tree extends the empty one
    if not 0 < old_size < size or not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # an exact power of two: the old head is a node
        path.insert(0, old_root)
    fn, sn = old_size - 1, size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == old_root and sr == root and sn == 0
