"""`sitroom demo`: the seed's case, played on a virtual clock.

A scenario (``data/scenario/us-iran-geneva.yaml``; format in docs/demo.md) is a start, the
tracks, red lines and settings the room begins with, timed steps (an analyst report, a forecast
question and a judgment, a channel trace, sealed traffic, new holdings, real event files) and the
postponement. :func:`run` builds it in a fresh workspace and plays it: the clock is set to each
step's time, stopping on the way at every moment a detector is due (a holding that starts, a
reply that becomes overdue), exactly as a live room ticking would. Every alert the detectors
raise is collected with the virtual time it fired; the result says how long before the
postponement each one came.

Everything the scenario feeds in goes through the room's ordinary services (the files it
writes into ``<workspace>/scenario/`` are what `sitroom tracks add`, `reports add` and
`ingest` would read), so the demo shows the product, not a stand-in for it. Nothing reaches a
network: the far end of the sealed channel is an in-process wire that acknowledges.
"""

from __future__ import annotations

import csv
import datetime as dt
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from sitroom.adapters import yamlsafe
from sitroom.adapters.clock import ManualClock
from sitroom.application.results import Result
from sitroom.domain import hlc
from sitroom.domain.kinds import ALERT
from sitroom.domain.places import place
from sitroom.domain.risk.questions import Place
from sitroom.domain.timeutil import MS_PER_DAY, parse_duration, parse_time
from sitroom.domain.timeutil import iso as iso_or_none
from sitroom.errors import UserInputError, WorkspaceError
from sitroom.room import Room, init, is_room
from sitroom.room import _refuse_lost_log as refuse_lost_log
from sitroom.settings import CONFIG_FILE, Settings

MARKER = "sitroom-demo.json"  # in a workspace the demo built: it may build it again
DEFAULT_SCENARIO = "us-iran-geneva.yaml"
STEP_KINDS = ("report", "question", "judge", "events", "channels", "sealed", "holdings", "status")


def default_scenario() -> Path:
    return Path(str(resources.files("sitroom").joinpath("data", "scenario", DEFAULT_SCENARIO)))


def sample_file(name: str) -> Path:
    """A real sample shipped in the package (data/demo), by file name."""
    path = Path(str(resources.files("sitroom").joinpath("data", "demo", name)))
    if not path.is_file():
        raise UserInputError(f"no sample file {name!r} in sitroom's data/demo")
    return path


# results ----------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class DemoAlert(Result):
    id: str
    at: str  # when it fired, on the virtual clock
    detector: str
    key: str
    severity: str
    title: str
    evidence: tuple[str, ...]
    lead_ms: int  # how long before the postponement (negative: after)
    lead: str


@dataclass(frozen=True, kw_only=True)
class DemoRun(Result):
    scenario: str
    title: str
    workspace: str
    start: str
    postponed_at: str
    postponement: str
    alerts: tuple[DemoAlert, ...]
    invented: tuple[str, ...]
    records: int


@dataclass(frozen=True)
class Step:
    at_ms: int
    say: str
    kind: str
    spec: Any


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    site: str
    start_ms: int
    postponed_ms: int
    postponement: Mapping[str, Any]
    settings: Mapping[str, Any]
    tracks: Mapping[str, Any]
    redlines: Sequence[Mapping[str, Any]]
    steps: tuple[Step, ...]
    invented: tuple[str, ...]


# reading a scenario -----------------------------------------------------------------------
def load(path: Path | None = None) -> Scenario:
    """Read and check a scenario file (default: the shipped one). UserInputError naming the
    file and the field for a mistake."""
    path = path or default_scenario()
    label = path.name
    try:
        text = yamlsafe.read_text(path)
    except OSError as e:
        raise UserInputError(f"cannot read scenario {path}: {e.strerror or e}") from None
    raw = yamlsafe.load(text, label, error=UserInputError)
    if not isinstance(raw, dict):
        raise UserInputError(f"{label}: a scenario is a mapping (name, start, steps...)")

    def need(field: str, where: Mapping[str, Any] = raw, at: str = "") -> Any:
        if where.get(field) in (None, ""):
            raise UserInputError(f"{label}: {at}'{field}' is required")
        return where[field]

    def when(value: Any, at: str) -> int:
        try:
            return parse_time(_text(value), now_ms=0)
        except (ValueError, UserInputError) as e:
            raise UserInputError(f"{label}: {at}: {e}") from None

    start = when(need("start"), "start")
    post = need("postponement")
    if not isinstance(post, dict):
        raise UserInputError(f"{label}: 'postponement' is {{at, track, status}}")
    postponed = when(need("at", post, "postponement."), "postponement.at")
    need("track", post, "postponement.")
    steps = []
    for n, s in enumerate(raw.get("steps") or [], 1):
        where = f"steps[{n}]"
        if not isinstance(s, dict):
            raise UserInputError(f"{label}: {where}: a step is a mapping with 'at'")
        kinds = [k for k in STEP_KINDS if k in s]
        if len(kinds) != 1:
            raise UserInputError(f"{label}: {where}: one of {', '.join(STEP_KINDS)}")
        at = when(need("at", s, f"{where}."), f"{where}.at")
        if not start <= at < postponed:
            raise UserInputError(
                f"{label}: {where}.at: {iso(at)} is outside the scenario (start to postponement)"
            )
        steps.append(Step(at, str(s.get("say") or kinds[0]), kinds[0], s[kinds[0]]))
    steps.sort(key=lambda s: s.at_ms)
    for this, after in zip(steps, [*steps[1:], None], strict=True):
        end = this.at_ms + _span(this, label)
        limit = postponed if after is None else after.at_ms
        if end > limit:
            raise UserInputError(
                f"{label}: the step at {iso(this.at_ms)} ({this.kind}) runs to {iso(end)}, "
                f"past the next step or the postponement ({iso(limit)})"
            )
    return Scenario(
        name=str(raw.get("name") or path.stem),
        title=str(raw.get("title") or path.stem),
        site=str(raw.get("site") or "demo"),
        start_ms=start,
        postponed_ms=postponed,
        postponement=post,
        settings=raw.get("settings") or {},
        tracks=raw.get("tracks") or {},
        redlines=raw.get("redlines") or [],
        steps=tuple(steps),
        invented=tuple(str(i) for i in raw.get("invented") or ()),
    )


def _span(step: Step, label: str) -> int:
    """How long a step plays on the clock: a channel trace its ``until``, sealed traffic
    its count of intervals; the rest is one moment."""
    spec = step.spec if isinstance(step.spec, dict) else {}
    try:
        if step.kind == "channels":
            return parse_duration(str(spec.get("until", "1d")))
        if step.kind == "sealed":
            return (int(spec.get("count", 1)) - 1) * parse_duration(str(spec.get("every", "1h")))
    except ValueError as e:
        raise UserInputError(f"{label}: the step at {iso(step.at_ms)}: {e}") from None
    return 0


# the workspace ----------------------------------------------------------------------------
def prepare(path: Path) -> None:
    """Make ``path`` ready for a new demo: absent, empty, or a demo built before (emptied).
    WorkspaceError for anything else: the demo never writes over someone's workspace."""
    if not path.exists():
        return
    if not path.is_dir():
        raise WorkspaceError(f"{path} is a file, not a folder for the demo")
    if not any(path.iterdir()):
        return
    if not (path / MARKER).is_file():
        refuse_lost_log(path)  # a workspace that lost its log says so first
        what = "a sitroom workspace" if is_room(path) else "files"
        raise WorkspaceError(
            f"{path} holds {what} the demo did not make: give another folder with -w"
        )
    shutil.rmtree(path)


def _write_settings(path: Path, scenario: Scenario) -> None:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        settings = Settings(site=scenario.site, **dict(scenario.settings))
    except TypeError as e:
        raise UserInputError(f"scenario settings: {e}") from None
    (path / CONFIG_FILE).write_text(settings.to_toml())


# the far end of the sealed channel --------------------------------------------------------
class AckingWire:
    """The counterpart's desk, in process: every envelope is acknowledged at once."""

    def deliver(self, url: str, envelope: Mapping[str, Any], timeout_s: float) -> dict[str, Any]:
        return {"ack": True, "message": envelope.get("id")}

    def ping(self, url: str, timeout_s: float) -> None:
        return None

    def heard(self, url: str, timeout_s: float) -> int | None:
        return 0

    def close(self) -> None:
        return None


# playing ----------------------------------------------------------------------------------
OnAlert = Callable[[DemoAlert], None]
OnStep = Callable[[int, int, str, str], None]  # step number, steps, virtual time, what


def run(
    path: Path,
    scenario: Scenario | None = None,
    *,
    day_seconds: float = 0.0,
    sleep: Callable[[float], None] = time.sleep,
    on_alert: OnAlert | None = None,
    on_step: OnStep | None = None,
) -> DemoRun:
    """Build ``scenario`` in the fresh workspace ``path`` and play it to the postponement:
    ``day_seconds`` of real time per virtual day (0: as fast as it goes)."""
    scenario = scenario or load()
    if day_seconds < 0:
        raise UserInputError("a virtual day lasts 0 seconds or more")
    prepare(path)
    _write_settings(path, scenario)
    clock = ManualClock(scenario.start_ms)
    room = init(path, clock=clock)
    (path / MARKER).write_text(f'{{"scenario": "{scenario.name}"}}\n')
    player = _Player(room, clock, scenario, path / "scenario", day_seconds, sleep, on_alert)
    with room:
        player.play(on_step)
        records = room.session.last_seq()
    return DemoRun(
        scenario=scenario.name,
        title=scenario.title,
        workspace=str(path.resolve()),
        start=iso(scenario.start_ms),
        postponed_at=iso(scenario.postponed_ms),
        postponement=f"{scenario.postponement['track']} {scenario.postponement.get('status')}",
        alerts=tuple(player.alerts),
        invented=scenario.invented,
        records=records,
    )


class _Player:
    def __init__(
        self,
        room: Room,
        clock: ManualClock,
        scenario: Scenario,
        files: Path,
        day_seconds: float,
        sleep: Callable[[float], None],
        on_alert: OnAlert | None,
    ) -> None:
        self.room, self.clock, self.sc, self.files = room, clock, scenario, files
        self.day_seconds, self.sleep, self.on_alert = day_seconds, sleep, on_alert
        self.alerts: list[DemoAlert] = []
        self.seen = room.session.last_seq()
        self.paced_to = clock.now_ms()
        self.tracks = {k: list(v) for k, v in scenario.tracks.items()}
        files.mkdir(parents=True, exist_ok=True)

    # time ---------------------------------------------------------------------------------
    def pace(self, to_ms: int) -> None:
        if self.day_seconds > 0 and to_ms > self.paced_to:
            self.sleep((to_ms - self.paced_to) / MS_PER_DAY * self.day_seconds)
        self.paced_to = max(self.paced_to, to_ms)

    def advance(self, to_ms: int) -> None:
        """To ``to_ms``, stopping at every moment a detector is due on the way."""
        s = self.room.session
        while True:
            due = s.next_due(self.clock.now_ms())
            if due is None or due >= to_ms:
                break
            self.pace(due)
            self.clock.set(due)
            s.tick()
            self.collect()
        self.pace(to_ms)
        self.clock.set(max(to_ms, self.clock.now_ms()))

    def collect(self) -> None:
        """Every alert appended since the last look, with the virtual time it fired."""
        s = self.room.session
        for r in s.records(kinds=[ALERT], after_seq=self.seen):
            p = r.payload
            fired = hlc.wall_ms(int(r.recorded_time or 0))
            lead = self.sc.postponed_ms - fired
            a = DemoAlert(
                id=r.id,
                at=iso(fired),
                detector=p["detector"],
                key=p["key"],
                severity=p["severity"],
                title=p["title"],
                evidence=tuple(p.get("evidence") or ()),
                lead_ms=lead,
                lead=_lead(lead),
            )
            self.alerts.append(a)
            if self.on_alert:
                self.on_alert(a)
        self.seen = s.last_seq()

    # the play -----------------------------------------------------------------------------
    def play(self, on_step: OnStep | None) -> None:
        sc = self.sc
        total = len(sc.steps) + 2
        if on_step:
            on_step(1, total, iso(sc.start_ms), "the tracks, the red lines")
        self.room.tracks.add([self._track_file()])
        for line in sc.redlines:
            self.room.world.add_redline(
                str(line["name"]), str(line["rule"]), severity=str(line.get("severity", "warning"))
            )
        self.collect()
        for n, step in enumerate(sc.steps, 2):
            self.advance(step.at_ms)
            if on_step:
                on_step(n, total, iso(step.at_ms), step.say)
            getattr(self, f"_{step.kind}")(step)
            self.collect()
        self.advance(sc.postponed_ms)
        if on_step:
            on_step(total, total, iso(sc.postponed_ms), "the postponement")
        post = sc.postponement
        self.room.tracks.set_status(str(post["track"]), str(post.get("status") or "postponed"))
        self.collect()

    def _track_file(self) -> str:
        path = self.files / "tracks.yaml"
        path.write_text(yaml.safe_dump(self.tracks, sort_keys=False, allow_unicode=True))
        return str(path)

    def _holdings(self, step: Step) -> None:
        self.tracks.setdefault("holdings", []).extend(step.spec)
        self.room.tracks.add([self._track_file()])

    def _status(self, step: Step) -> None:
        self.room.tracks.set_status(str(step.spec["track"]), str(step.spec["status"]))

    def _report(self, step: Step) -> None:
        meta = dict(step.spec)
        body = str(meta.pop("body", "") or "")
        text = "---\n" + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True) + "---\n" + body
        folder = self.files / "reports"
        folder.mkdir(exist_ok=True)
        path = folder / f"{iso(step.at_ms)[:10]}-{_slug(str(meta.get('title') or 'report'))}.md"
        path.write_text(text)
        self.room.ingest.reports([str(path)])

    def _question(self, step: Step) -> None:
        q = step.spec
        near = [Place(str(p), place(str(p)).lat, place(str(p)).lon) for p in q.get("near") or ()]
        self.room.risk.add_question(
            str(q["text"]),
            id=str(q["id"]),
            until_ms=parse_time(_text(q["until"]), now_ms=step.at_ms),
            track=q.get("track"),
            places=near,
            reference=q.get("reference"),
            hits=int(q.get("hits", 0)),
            of=int(q.get("of", 0)),
        )

    def _judge(self, step: Step) -> None:
        j = step.spec
        as_them = self.room.acting_as(str(j["by"]))
        as_them.risk.judge(str(j["question"]), float(j["p"]), rationale=str(j.get("rationale", "")))

    def _events(self, step: Step) -> None:
        e = step.spec
        source = sample_file(str(e["file"]))
        if e.get("from") or e.get("until"):
            source = self._ucdp_rows(source, str(e.get("from") or ""), str(e.get("until") or "~"))
        self.room.ingest.feeds(str(e["format"]), [str(source)], once=True)

    def _ucdp_rows(self, source: Path, since: str, until: str) -> Path:
        """The sample's rows whose event starts in [since, until), values as given."""
        folder = self.files / "events"
        folder.mkdir(exist_ok=True)
        out = folder / f"{source.stem}-{since}-{until}.csv".replace("~", "end")
        with source.open(newline="") as f, out.open("w", newline="") as g:
            rows = csv.reader(f)
            write = csv.writer(g)
            header = next(rows)
            at = header.index("date_start")
            write.writerow(header)
            write.writerows(r for r in rows if since <= r[at][:10] < until)
        return out

    def _channels(self, step: Step) -> None:
        trace = {"start": iso(step.at_ms), **step.spec}
        path = self.files / f"channels-{iso(step.at_ms)[:10]}.yaml"
        path.write_text(yaml.safe_dump(trace, sort_keys=False, allow_unicode=True))
        until = step.at_ms + parse_duration(str(step.spec.get("until", "1d")))
        self.room.channels.simulate(path, record=True)
        self.collect()
        self.pace(until)
        self.clock.set(max(until, self.clock.now_ms()))

    def _sealed(self, step: Step) -> None:
        spec = step.spec
        ch = dict(spec["channel"])
        channels = self.room.channels_over(AckingWire)
        channels.add(
            str(ch["id"]),
            counterpart=str(ch["counterpart"]),
            name=str(ch.get("name", "")),
            url=str(ch.get("url", "demo://tehran-desk")),
            track=ch.get("track"),
            heartbeat_ms=24 * 3_600_000,  # a link without a rhythm: its breaker watches it
        )
        every = parse_duration(str(spec.get("every", "1h")))
        for n in range(1, int(spec.get("count", 1)) + 1):
            at = step.at_ms + (n - 1) * every
            if at >= self.sc.postponed_ms:
                break
            self.advance(at)
            body = str(spec.get("body", "message {n}")).format(n=n)
            channels.send(str(ch["id"]), body, msg_id=f"{ch['id']}-{n}", wait_ms=60_000)
            self.collect()


def iso(ms: int) -> str:
    return iso_or_none(ms) or ""


def _text(value: Any) -> str:
    """A time as YAML gave it (a date or datetime is read as one) back as ISO text."""
    if isinstance(value, dt.datetime):
        return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _slug(text: str) -> str:
    return "-".join("".join(c if c.isalnum() else " " for c in text.lower()).split())[:48]


def _lead(ms: int) -> str:
    after = ms < 0
    ms = abs(ms)
    days, rest = divmod(ms, MS_PER_DAY)
    hours, rest = divmod(rest, 3_600_000)
    minutes = rest // 60_000
    parts = [f"{days}d"] if days else []
    if hours or days:
        parts.append(f"{hours}h")
    if not days:
        parts.append(f"{minutes}m")
    text = " ".join(parts)
    return f"{text} after" if after else f"{text} before"
