"""Deadlock check on a wait-for graph of 100,000 edges: find every strongly connected component
and explain one cycle through each, as `sitroom tracks check` does.

The graph mixes what track graphs hold: long chains of tracks waiting on tracks, resources held
by tracks, and a few hundred planted cycles of 2-12 nodes. Baseline, measured in the same run on
the same graph: networkx's strongly_connected_components plus simple_cycles (capped at one cycle
per component, so the baseline does the same job). Goal: at most 200 ms.

    python bench/deadlock_check.py [--edges 100000] [--runs 5]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

import networkx as nx

from sitroom.domain.tracks import cycle_through, strongly_connected


def make_graph(n_edges: int, seed: int = 3) -> dict[str, list[str]]:
    rng = random.Random(seed)
    n_nodes = n_edges // 3
    nodes = [f"track:{i}" if i % 3 else f"resource:{i}" for i in range(n_nodes)]
    edges: dict[str, list[str]] = {}
    count = 0
    # Mostly acyclic: edges point from a node to a later one...
    while count < n_edges - 2_000:
        a = rng.randrange(n_nodes - 1)
        b = rng.randrange(a + 1, min(n_nodes, a + 50))
        edges.setdefault(nodes[a], []).append(nodes[b])
        count += 1
    # ...plus planted cycles.
    while count < n_edges:
        size = rng.randrange(2, 13)
        start = rng.randrange(n_nodes - size)
        ring = nodes[start : start + size]
        for x, y in zip(ring, [*ring[1:], ring[0]], strict=True):
            edges.setdefault(x, []).append(y)
            count += 1
    return edges


def sitroom_check(nodes: list[str], edges: dict[str, list[str]]) -> int:
    found = 0
    for component in strongly_connected(nodes, edges):
        if len(component) > 1:
            members = set(component)
            cycle_through(sorted(component), edges, members)
            found += 1
    return found


def networkx_check(g: nx.DiGraph) -> int:
    found = 0
    for component in nx.strongly_connected_components(g):
        if len(component) > 1:
            next(nx.simple_cycles(g.subgraph(component)))
            found += 1
    return found


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--edges", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    edges = make_graph(args.edges)
    nodes = sorted({n for a, bs in edges.items() for n in (a, *bs)})
    g = nx.DiGraph()
    g.add_edges_from((a, b) for a, bs in edges.items() for b in bs)
    ours, theirs = [], []
    for _ in range(args.runs):
        s = time.perf_counter()
        a = sitroom_check(nodes, edges)
        ours.append((time.perf_counter() - s) * 1000)
        s = time.perf_counter()
        b = networkx_check(g)
        theirs.append((time.perf_counter() - s) * 1000)
        assert a == b, (a, b)
    n_edges = sum(len(v) for v in edges.values())
    print(f"wait-for graph: {len(nodes):,} nodes, {n_edges:,} edges, {a} deadlocked components")
    print(
        f"sitroom (iterative Tarjan + one explained cycle per component): median "
        f"{statistics.median(ours):.0f} ms, max {max(ours):.0f} ms   [goal <= 200 ms]"
    )
    print(
        f"baseline networkx strongly_connected_components + simple_cycles: median "
        f"{statistics.median(theirs):.0f} ms"
    )
    print(f"ratio baseline / sitroom: {statistics.median(theirs) / statistics.median(ours):.1f}x")


if __name__ == "__main__":
    main()
