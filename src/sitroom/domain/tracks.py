"""Negotiation tracks, the people and assets they share, and what they wait on.

A team runs several tracks at once; they share decision-makers, teams, secure links and venues,
and one track's precondition is another's outcome. Everything is a record (``track``,
``resource``, ``holding``, ``track.status``), so history and as-of work as everywhere else. This
module holds the pure part: the ``tracks`` projection, the wait-for graph with its deadlocks
explained in words, and contention (a resource held beyond its capacity, window by window).

The wait-for graph, at a time t:
- a track waits for another track when one of its preconditions ("the ceasefire reaches
  agreed") is not met by that track's status;
- a track waits for a resource it needs when the resource is fully held, at t, by other tracks;
- a fully held resource waits for each track that holds it (it is free when they let go).
A cycle — a strongly connected component of two or more nodes — is a deadlock: nobody on it can
move until someone outside changes something.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from sitroom.domain.kinds import (
    ALERT,
    CALENDAR,
    HOLDING,
    MEETING,
    RESOURCE,
    SCHEDULE,
    TRACK,
    TRACK_FILE,
    TRACK_STATUS,
    WITHDRAWN,
)
from sitroom.domain.places import find_place
from sitroom.domain.projection import AlertDraft, Sees, joint, keep
from sitroom.domain.records import Record, RecordBatch
from sitroom.domain.timeutil import iso
from sitroom.errors import UserInputError

# What each kind of track-file entry is called, and the projection's table of them.
ENTRIES = {TRACK: "track", RESOURCE: "resource", HOLDING: "holding", MEETING: "meeting"}
TABLES = {"track": "tracks", "resource": "resources", "holding": "holdings", "meeting": "meetings"}


def holding_key(payload: Mapping[str, Any], valid_from: int | None) -> str:
    """A holding is known by its track, resource and start: the same person held by one track
    in two periods is two holdings, and a changed end replaces the holding."""
    return f"{payload['track']}|{payload['resource']}|{'' if valid_from is None else valid_from}"


def entry_key(r: Record) -> str:
    """``what/id`` of a track-file entry, as the projection knows it."""
    p = r.payload
    return f"{ENTRIES[r.kind]}/{holding_key(p, r.valid_from) if r.kind == HOLDING else p['id']}"


@dataclass(frozen=True)
class TrackFile:
    """A track file's records, and where each is written (record id -> "file:line: meeting
    'x'"), so a problem found later names the line."""

    name: str
    records: list[Record]
    where: dict[str, str]


class TracksProjection:
    """Tracks, resources and meetings by id, holdings by track, resource and start (the latest
    definition wins; every version stays in the log), each track's status, each resource's
    imported calendars (the latest import of a calendar replaces the one before), what each
    track file declares, and the latest solved schedule. A withdrawn entry leaves the picture
    (a withdrawn track takes its holdings and meetings with it)."""

    name = "tracks"
    # 3: holdings by start, statuses from a file, withdrawals, files; 4: alerts; 5: raised
    # alerts keep their compartment; 6: a status stands by its valid time, not its arrival
    version = 6
    kinds: tuple[str, ...] | None = (
        TRACK,
        RESOURCE,
        HOLDING,
        TRACK_STATUS,
        MEETING,
        CALENDAR,
        SCHEDULE,
        WITHDRAWN,
        TRACK_FILE,
        ALERT,
    )

    def initial(self) -> dict[str, Any]:
        return {
            "tracks": {},
            "resources": {},
            "holdings": {},
            "status": {},
            "meetings": {},
            "busy": {},
            "schedule": None,
            "files": {},
            "raised": {},  # condition -> the alert raised for it and not cleared
            "episodes": {},  # condition -> how many times it has been raised
        }

    def apply(self, state: dict[str, Any], batch: RecordBatch) -> dict[str, Any]:
        for r in batch.rows():
            p = r.payload
            if r.kind == TRACK:
                was = state["tracks"].get(p["id"])
                state["tracks"][p["id"]] = p
                # A status the file changes is the track's status now; one set since by
                # `tracks status` stands while the file still says what it said.
                if was is None or was.get("status") != p["status"]:
                    _set_status(state, p["id"], p["status"], r.valid_from)
            elif r.kind == RESOURCE:
                state["resources"][p["id"]] = p
            elif r.kind == HOLDING:
                state["holdings"][holding_key(p, r.valid_from)] = {
                    **p,
                    "from": r.valid_from,
                    "until": r.valid_to,
                }
            elif r.kind == TRACK_STATUS:
                _set_status(state, p["track"], p["status"], r.valid_from)
            elif r.kind == MEETING:
                state["meetings"][p["id"]] = p
            elif r.kind == CALENDAR:
                state["busy"][f"{p['resource']}|{p['calendar']}"] = p
            elif r.kind == SCHEDULE:
                state["schedule"] = p
            elif r.kind == WITHDRAWN:
                _withdraw(state, p["what"], p["id"])
            elif r.kind == TRACK_FILE:
                state["files"].setdefault(p["file"], {})[r.compartment or ""] = p["entries"]
            elif r.kind == ALERT and (cond := (p.get("detail") or {}).get("condition")):
                if p["detail"].get("cleared"):
                    state["raised"].pop(cond, None)
                else:
                    episode = state["episodes"][cond] = state["episodes"].get(cond, 0) + 1
                    state["raised"][cond] = {
                        "alert": r.id,
                        "title": p["title"],
                        "episode": episode,
                        "compartment": r.compartment or "",
                    }
        return state

    def restrict(self, state: dict[str, Any], sees: Sees) -> dict[str, Any]:
        """A track is its own compartment: its definition, status, holdings and meetings,
        what files declare in it, and its meetings' places in the schedule. Resources and
        calendars are general."""
        schedule = state["schedule"]
        if schedule is not None:
            placed = keep(schedule["meetings"], lambda _, m: sees(m.get("track") or ""))
            schedule = {**schedule, "meetings": placed}
        return {
            **state,
            "tracks": keep(state["tracks"], lambda tid, _: sees(tid)),
            "status": keep(state["status"], lambda tid, _: sees(tid)),
            "holdings": keep(state["holdings"], lambda _, h: sees(h["track"])),
            "meetings": keep(state["meetings"], lambda _, m: sees(m["track"])),
            "files": {f: keep(c, lambda comp, _: sees(comp)) for f, c in state["files"].items()},
            "schedule": schedule,
        }

    def encode(self, state: Any) -> bytes:
        return orjson.dumps(state)

    def decode(self, data: bytes) -> Any:
        return orjson.loads(data)


def _set_status(state: dict[str, Any], track: str, status: str, since: int | None) -> None:
    """A track's status is the one that took effect last in the world (its valid time), not
    the one learned last: a status recorded late for an earlier time does not undo a newer
    one, and sites that learn two in either order (a partition) agree on which stands. Equal
    times: the one learned last."""
    was = state["status"].get(track)
    if was is None or (since or 0) >= (was.get("since") or 0):
        state["status"][track] = {"status": status, "since": since}


def _withdraw(state: dict[str, Any], what: str, key: str) -> None:
    state[TABLES[what]].pop(key, None)
    if what == "track":
        state["status"].pop(key, None)
        for table in ("holdings", "meetings"):
            for k in [k for k, x in state[table].items() if x["track"] == key]:
                del state[table][k]


def unknown_references(
    records: Sequence[Record], state: Mapping[str, Any]
) -> list[tuple[str, str]]:
    """(record id, what is wrong) for each reference in ``records`` to a track, resource or
    meeting that neither they nor ``state`` define, and each that points at itself."""
    tracks = set(state["tracks"]) | {r.payload["id"] for r in records if r.kind == TRACK}
    resources = set(state["resources"]) | {r.payload["id"] for r in records if r.kind == RESOURCE}
    meetings = set(state["meetings"]) | {r.payload["id"] for r in records if r.kind == MEETING}
    problems: list[tuple[str, str]] = []
    for r in records:
        p = r.payload
        found: list[str] = []
        if r.kind == TRACK:
            for pre in p["preconditions"]:
                if pre["track"] == p["id"]:
                    found.append("has a precondition on itself")
                elif pre["track"] not in tracks:
                    found.append(f"has a precondition on unknown track {pre['track']!r}")
            found += [f"needs unknown resource {x!r}" for x in p["needs"] if x not in resources]
        elif r.kind in (HOLDING, MEETING) and p["track"] not in tracks:
            found.append(f"is on unknown track {p['track']!r}")
        if r.kind == HOLDING and p["resource"] not in resources:
            found.append(f"holds unknown resource {p['resource']!r}")
        if r.kind == MEETING:
            for field, verb in (("required", "requires"), ("optional", "invites")):
                found += [f"{verb} unknown {x!r}" for x in p[field] if x not in resources]
            for m in p["after"]:
                if m == p["id"]:
                    found.append("comes after itself")
                elif m not in meetings:
                    found.append(f"comes after unknown meeting {m!r}")
            venue = p.get("venue")
            if venue and venue not in resources and find_place(venue) is None:
                found.append(f"is at unknown venue {venue!r} (a venue resource or a known city)")
        problems += [(r.id, why) for why in found]
    return problems + _after_cycles(records, state)


def _after_cycles(records: Sequence[Record], state: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Meetings that must each come after the other (through any chain of ``after``): no
    horizon holds them, so they are refused when added rather than found infeasible later."""
    mine = {r.payload["id"]: r for r in records if r.kind == MEETING}
    after = {mid: list(m.get("after") or []) for mid, m in state["meetings"].items()}
    after |= {mid: list(r.payload["after"]) for mid, r in mine.items()}
    out = []
    for knot in strongly_connected(sorted(after), after):
        if len(knot) > 1 and (first := next((m for m in sorted(knot) if m in mine), None)):
            ring = cycle_through([first], after, set(knot))
            out.append((mine[first].id, f"comes after itself: {' after '.join([*ring, first])}"))
    return out


def status_record(track: str, status: str, *, now_ms: int, source: str = "tracks") -> Record:
    """A track's new status, from ``now_ms`` on: in the track's own compartment."""
    status = status.strip()
    if not track or not status:
        raise UserInputError("a track's status is a word, such as agreed")
    return TRACK_STATUS.record(
        id=f"{TRACK_STATUS}:{track}:{status}:{now_ms}",
        source=source,
        valid_from=now_ms,
        compartment=track,
        payload={"track": track, "status": status},
    )


@dataclass(frozen=True)
class Edge:
    source: str  # node ids: "track:<id>" or "resource:<id>"
    target: str
    why: str  # the sentence that explains it


# The order a negotiation's statuses usually come in; a precondition "ceasefire agreed" is met
# by agreed and by anything after it. A track may declare its own (``statuses:`` in its file).
LADDER = (
    "proposed",
    "planned",
    "scheduled",
    "negotiating",
    "met",
    "agreed",
    "signed",
    "implemented",
)


def reached(track: Mapping[str, Any] | None, status: str | None, wanted: str) -> bool:
    """Whether a track at ``status`` has reached ``wanted``: on its ladder (its own, or
    :data:`LADDER`), at or past it; off the ladder ("suspended"), only the status itself."""
    if status is None:
        return False
    ladder = list((track or {}).get("statuses") or LADDER)
    if status in ladder and wanted in ladder:
        return ladder.index(status) >= ladder.index(wanted)
    return status == wanted


def status_of(state: Mapping[str, Any], tid: str) -> str | None:
    entry = state["status"].get(tid)
    return entry["status"] if entry else None


def _active(h: Mapping[str, Any], at: int) -> bool:
    start, end = h["from"], h["until"]
    return (start is None or start <= at) and (end is None or at < end)


def _name(state: Mapping[str, Any], node: str) -> str:
    kind, _, ident = node.partition(":")
    table = state["tracks"] if kind == "track" else state["resources"]
    return str(table.get(ident, {}).get("name") or ident)


def wait_for(state: Mapping[str, Any], at: int) -> list[Edge]:
    edges: list[Edge] = []
    for tid, t in sorted(state["tracks"].items()):
        for pre in t.get("preconditions") or []:
            other = pre["track"]
            now = status_of(state, other)
            if not reached(state["tracks"].get(other), now, pre["status"]):
                edges.append(
                    Edge(
                        f"track:{tid}",
                        f"track:{other}",
                        f"{t['name']} waits for {_name(state, 'track:' + other)} to reach "
                        f"'{pre['status']}' (now '{now or 'unknown'}')",
                    )
                )
    holders: dict[str, list[Mapping[str, Any]]] = {}
    for h in state["holdings"].values():
        if _active(h, at):
            holders.setdefault(h["resource"], []).append(h)
    for rid, held in sorted(holders.items()):
        capacity = int(state["resources"].get(rid, {}).get("capacity", 1))
        if sum(int(h.get("amount", 1)) for h in held) < capacity:
            continue  # not fully held: nobody has to wait for it
        for h in sorted(held, key=lambda h: h["track"]):
            until = f" until {str(iso(h['until']))[:10]}" if h["until"] is not None else ""
            edges.append(
                Edge(
                    f"resource:{rid}",
                    f"track:{h['track']}",
                    f"{_name(state, 'resource:' + rid)} is held by "
                    f"{_name(state, 'track:' + h['track'])}{until}",
                )
            )
        holding_tracks = {h["track"] for h in held}
        for tid, t in sorted(state["tracks"].items()):
            if rid in (t.get("needs") or []) and tid not in holding_tracks:
                edges.append(
                    Edge(
                        f"track:{tid}",
                        f"resource:{rid}",
                        f"{t['name']} waits for {_name(state, 'resource:' + rid)}",
                    )
                )
    return edges


def strongly_connected(nodes: list[str], edges: Mapping[str, list[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative (no recursion limit), linear in nodes + edges."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for root in nodes:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, i = work[-1]
            if i == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            succ = edges.get(node, [])
            if i < len(succ):
                work[-1] = (node, i + 1)
                nxt = succ[i]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    component.append(w)
                    if w == node:
                        break
                out.append(component)
    return out


@dataclass(frozen=True)
class Deadlock:
    nodes: list[str]  # one cycle, in wait-for order, starting from its first track
    explanation: list[str]  # one sentence per edge of that cycle
    waits: list[str] = field(default_factory=list)  # every wait inside the knot
    ways_out: list[list[str]] = field(default_factory=list)  # the smallest sets of waits to end
    knot: list[str] = field(default_factory=list)  # every node of it (sorted)

    @property
    def key(self) -> str:
        return "|".join(self.knot or sorted(self.nodes))

    def sentence(self) -> str:
        return "; ".join(self.explanation)


# A knot with more waits than this is not searched for its smallest ways out (its waits are
# listed instead); the knots tracks make have a handful.
WAYS_OUT_EDGES = 24


def deadlocks(state: Mapping[str, Any], at: int) -> list[Deadlock]:
    """Each knot of the wait-for graph (a strongly connected component): one cycle through it
    in words, every wait inside it, and the smallest sets of waits whose end ends it — a
    knot of several cycles is not undone by breaking the one its explanation names."""
    edges = wait_for(state, at)
    graph: dict[str, list[str]] = {}
    why: dict[tuple[str, str], str] = {}
    for e in edges:
        graph.setdefault(e.source, []).append(e.target)
        why[(e.source, e.target)] = e.why
    nodes = sorted({e.source for e in edges} | {e.target for e in edges})
    found = []
    for component in strongly_connected(nodes, graph):
        members = set(component)
        if len(component) < 2 and (component[0], component[0]) not in why:
            continue
        cycle = cycle_through(
            sorted(n for n in component if n.startswith("track:")) or sorted(component),
            graph,
            members,
        )
        inner = sorted(pair for pair in why if pair[0] in members and pair[1] in members)
        found.append(
            Deadlock(
                cycle,
                [why[(a, b)] for a, b in zip(cycle, [*cycle[1:], cycle[0]], strict=True)],
                [why[pair] for pair in inner],
                [[why[pair] for pair in way] for way in ways_out(inner)],
                sorted(members),
            )
        )
    return sorted(found, key=lambda d: d.key)


def ways_out(edges: Sequence[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    """The smallest sets of edges whose removal leaves the graph without a cycle (each of the
    fewest edges that can do it); none searched above :data:`WAYS_OUT_EDGES` edges."""
    if len(edges) > WAYS_OUT_EDGES:
        return []
    for size in range(1, len(edges) + 1):
        found = [
            list(cut)
            for cut in itertools.combinations(edges, size)
            if _acyclic([e for e in edges if e not in cut])
        ]
        if found:
            return found
    return []


def _acyclic(edges: Sequence[tuple[str, str]]) -> bool:
    """Kahn: every node can be removed in order of no incoming edges."""
    incoming: dict[str, int] = {}
    out: dict[str, list[str]] = {}
    for a, b in edges:
        out.setdefault(a, []).append(b)
        incoming[b] = incoming.get(b, 0) + 1
        incoming.setdefault(a, 0)
    ready = [n for n, k in incoming.items() if k == 0]
    seen = 0
    while ready:
        n = ready.pop()
        seen += 1
        for m in out.get(n, ()):
            incoming[m] -= 1
            if incoming[m] == 0:
                ready.append(m)
    return seen == len(incoming)


def cycle_through(
    starts: list[str], graph: Mapping[str, list[str]], members: set[str]
) -> list[str]:
    """One simple cycle through the component, found by walking from its first track back to
    itself (breadth-first inside the component, so the explanation is as short as it can be)."""
    start = starts[0]
    parent: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt = []
        for node in frontier:
            for succ in sorted(graph.get(node, [])):
                if succ not in members:
                    continue
                if succ == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(parent[path[-1]])
                    return path[::-1]
                if succ not in parent:
                    parent[succ] = node
                    nxt.append(succ)
        frontier = nxt
    return [start]


@dataclass(frozen=True)
class Overload:
    resource: str
    start: int
    end: int | None
    demand: int
    capacity: int
    tracks: list[str]


def to_release(state: Mapping[str, Any], tracks: Sequence[str]) -> str | None:
    """Which of the ``tracks`` over-booking a resource should let go, by track priority: the
    least important (the highest number), or None when they rank the same."""
    ranked = sorted(tracks, key=lambda t: int(state["tracks"].get(t, {}).get("priority", 3)))
    if len(ranked) < 2:
        return None
    rank = [int(state["tracks"].get(t, {}).get("priority", 3)) for t in ranked]
    return ranked[-1] if rank[-1] > rank[-2] else None


def contention(state: Mapping[str, Any]) -> list[Overload]:
    """Every window in which a resource is held beyond its capacity, with the tracks holding it
    and by how much (a sweep over the holdings' start and end times)."""
    by_resource: dict[str, list[Mapping[str, Any]]] = {}
    for h in state["holdings"].values():
        by_resource.setdefault(h["resource"], []).append(h)
    out: list[Overload] = []
    for rid, held in sorted(by_resource.items()):
        capacity = int(state["resources"].get(rid, {}).get("capacity", 1))
        times = sorted(
            {h["from"] for h in held if h["from"] is not None}
            | {h["until"] for h in held if h["until"] is not None}
        )
        if not times:
            continue
        bounds = [*times, None]
        for lo, hi in itertools.pairwise(bounds):
            assert lo is not None
            inside = [h for h in held if _active(h, lo)]
            demand = sum(int(h.get("amount", 1)) for h in inside)
            if demand > capacity:
                tracks = sorted({h["track"] for h in inside})
                last = out[-1] if out else None
                if (
                    last is not None
                    and last.resource == rid
                    and last.end == lo
                    and last.tracks == tracks
                    and last.demand == demand
                ):
                    out[-1] = Overload(rid, last.start, hi, demand, capacity, tracks)
                else:
                    out.append(Overload(rid, lo, hi, demand, capacity, tracks))
    return out


DEADLOCK = "deadlock"
CONTENTION = "contention"


class TracksDetector:
    """A deadlock (a knot of the wait-for graph) and an over-booked resource (held beyond its
    capacity in a window not yet over): each raised once when a change to tracks, statuses,
    holdings or withdrawals, or the clock reaching a holding's start or end, makes it, and
    cleared by an alert of its own when it goes. One that comes back is a new episode."""

    name = "tracks"
    reads: tuple[str, ...] = ("tracks",)

    def on_records(
        self, views: Mapping[str, Any], batch: RecordBatch, now_ms: int
    ) -> list[AlertDraft]:
        if not len(batch.of_kinds([TRACK, RESOURCE, HOLDING, TRACK_STATUS, WITHDRAWN])):
            return []
        return self._drafts(views["tracks"], now_ms)

    def on_tick(self, views: Mapping[str, Any], now_ms: int) -> list[AlertDraft]:
        return self._drafts(views["tracks"], now_ms)

    def next_due(self, views: Mapping[str, Any], now_ms: int) -> int | None:
        edges = [
            t
            for h in views["tracks"]["holdings"].values()
            for t in (h["from"], h["until"])
            if t is not None and t > now_ms
        ]
        return min(edges, default=None)

    def _drafts(self, state: Mapping[str, Any], now_ms: int) -> list[AlertDraft]:
        now = {f"{DEADLOCK}:{d.key}": _deadlock(d) for d in deadlocks(state, now_ms)}
        now |= {
            f"{CONTENTION}:{o.resource}:{o.start}": _overload(state, o)
            for o in contention(state)
            if o.end is None or o.end > now_ms
        }
        raised = state["raised"]
        drafts = []
        for cond, (title, severity, evidence, detail) in sorted(now.items()):
            if cond not in raised:
                episode = state["episodes"].get(cond, 0) + 1
                drafts.append(
                    AlertDraft(
                        detector=cond.split(":", 1)[0],
                        key=f"{cond.split(':', 1)[1]}#{episode}",
                        title=title,
                        severity=severity,
                        evidence=evidence,
                        detail={**detail, "condition": cond},
                        compartment=_about(evidence),
                    )
                )
        for cond, was in sorted(raised.items()):
            if cond not in now:
                what = "Deadlock" if cond.startswith(DEADLOCK) else "Over-booking"
                drafts.append(
                    AlertDraft(
                        detector=cond.split(":", 1)[0],
                        key=f"{cond.split(':', 1)[1]}#{was['episode']}:cleared",
                        title=f"{what} cleared: {was['title'].split(': ', 1)[-1]}",
                        severity="info",
                        evidence=[was["alert"]],
                        detail={"condition": cond, "cleared": was["alert"]},
                        compartment=was.get("compartment", ""),
                    )
                )
        return drafts


def _about(evidence: Sequence[str]) -> str:
    """The compartment of a finding about these tracks and resources: the tracks' joint one
    (a track is its own compartment), so that only whoever is cleared for each of them reads
    a deadlock or a contention that names them."""
    return joint(e.removeprefix("track:") for e in evidence if e.startswith("track:"))


def _deadlock(d: Deadlock) -> tuple[str, str, list[str], dict[str, Any]]:
    ways = (
        f"; ends if any of: {' | '.join(' and '.join(w) for w in d.ways_out)}"
        if len(d.waits) > len(d.nodes) and d.ways_out
        else ""
    )
    detail = {
        "cycle": d.nodes,
        "explanation": d.explanation,
        "waits": d.waits,
        "ways_out": d.ways_out,
    }
    return f"Deadlock: {d.sentence()}{ways}", "critical", list(d.knot or d.nodes), detail


def _overload(state: Mapping[str, Any], o: Overload) -> tuple[str, str, list[str], dict[str, Any]]:
    name = _name(state, "resource:" + o.resource)
    until = f" to {str(iso(o.end))[:16]}" if o.end is not None else " on"
    title = (
        f"Over-booked: {name} is held {o.demand} times for a capacity of {o.capacity} from "
        f"{str(iso(o.start))[:16]}{until} ({', '.join(o.tracks)})"
    )
    release = to_release(state, o.tracks)
    if release is not None:
        title += f"; by priority, {_name(state, 'track:' + release)} should let go"
    detail = {
        "resource": o.resource,
        "since": o.start,
        "until": o.end,
        "tracks": o.tracks,
        "release": release,
    }
    return title, "warning", [f"resource:{o.resource}", *(f"track:{t}" for t in o.tracks)], detail
