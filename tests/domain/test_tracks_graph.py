"""Tarjan's strongly connected components against a brute-force reachability computation."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from sitroom.domain.tracks import strongly_connected


def brute(nodes: list[str], edges: dict[str, list[str]]) -> set[frozenset[str]]:
    reach = {n: {n} for n in nodes}
    changed = True
    while changed:
        changed = False
        for n in nodes:
            for m in list(reach[n]):
                for k in edges.get(m, []):
                    if k not in reach[n]:
                        reach[n].add(k)
                        changed = True
    return {frozenset(m for m in nodes if m in reach[n] and n in reach[m]) for n in nodes}


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 12), st.integers(0, 12)), max_size=40))
def test_components_match_mutual_reachability(pairs: list[tuple[int, int]]) -> None:
    nodes = [f"n{i}" for i in range(13)]
    edges: dict[str, list[str]] = {}
    for a, b in pairs:
        edges.setdefault(f"n{a}", []).append(f"n{b}")
    got = {frozenset(c) for c in strongly_connected(nodes, edges)}
    assert got == brute(nodes, edges)
    assert sum(len(c) for c in got) == len(nodes)


def test_a_long_chain_does_not_hit_the_recursion_limit() -> None:
    nodes = [f"n{i}" for i in range(50_000)]
    edges = {f"n{i}": [f"n{i + 1}"] for i in range(49_999)}
    edges["n49999"] = ["n0"]
    (cycle,) = strongly_connected(nodes, edges)
    assert len(cycle) == 50_000


def test_a_status_recorded_late_for_an_earlier_time_does_not_undo_a_newer_one() -> None:
    from sitroom.domain.records import RecordBatch
    from sitroom.domain.tracks import TracksProjection, status_record

    p = TracksProjection()
    newer = status_record("us-iran", "agreed", now_ms=2_000)
    older = status_record("us-iran", "paused", now_ms=1_000)  # learned second
    state = p.apply(p.initial(), RecordBatch.from_records([newer, older]))
    assert state["status"]["us-iran"] == {"status": "agreed", "since": 2_000}
    # ... and in the other order the same
    state = p.apply(p.initial(), RecordBatch.from_records([older, newer]))
    assert state["status"]["us-iran"] == {"status": "agreed", "since": 2_000}
