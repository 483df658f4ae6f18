"""The wires a desk can send on pass the Wire contract (sitroom.testing): HTTP, against a real
local server (the one `sitroom channel run` and `channel relay` serve) and through a relay,
and the in-memory wire tests and simulations use."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from sitroom.adapters.channel_http import HttpWire, Relay, Request, Route, serve
from sitroom.application.ports import Wire, WireError
from sitroom.testing import MemoryWire, WireContract
from sitroom.testing.wire_contract import ENVELOPE, Deliver, Heard, ack


def http_far_end(deliver: Deliver, heard: Heard) -> tuple[str, Callable[[], None]]:
    """A desk's endpoints, as channel_http serves them, on a free local port."""
    gone = threading.Event()

    def route(answer: Callable[[dict[str, Any]], dict[str, Any]]) -> Route:
        def handle(request: Request) -> dict[str, Any]:
            # A stopped server still serves the keep-alive connections it accepted (their
            # threads live on): hang up on them, as a far end whose process ended would.
            if gone.is_set():
                raise ConnectionAbortedError("the far end stopped")
            return answer(request.body)

        return handle

    server = serve(
        {
            ("POST", "/deliver"): route(lambda body: dict(deliver(body))),
            ("GET", "/ping"): route(lambda _: {"ok": True}),
            ("GET", "/heard"): route(lambda _: {"heard_ago_ms": heard()}),
        },
        "127.0.0.1",
        0,
    )

    def stop() -> None:
        gone.set()
        server.shutdown()

    return server.url, stop


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


class TestHttpWire(WireContract):
    def make_wire(self) -> Wire:
        return HttpWire()

    def start_far_end(
        self, wire: Wire, deliver: Deliver, heard: Heard
    ) -> tuple[str, Callable[[], None]]:
        return http_far_end(deliver, heard)

    def refused_url(self, wire: Wire) -> str:
        return f"http://127.0.0.1:{free_port()}"


class TestHttpWireThroughARelay(TestHttpWire):
    """The same contract when the far end sits behind an intermediary's relay: the relay
    passes envelopes on and gives back the far end's answer; its own /heard says when it last
    heard the far end, so here it vouches with the far end's number."""

    def start_far_end(
        self, wire: Wire, deliver: Deliver, heard: Heard
    ) -> tuple[str, Callable[[], None]]:
        desk_url, stop_desk = http_far_end(deliver, heard)
        hop_wire = HttpWire()
        relay = Relay(hop_wire, desk_url)
        routes = {**relay.routes(), ("GET", "/heard"): lambda _: {"heard_ago_ms": heard()}}
        server = serve(routes, "127.0.0.1", 0)

        def stop() -> None:
            desk = threading.Thread(target=stop_desk)  # both at once: each takes a while
            desk.start()
            server.shutdown()
            hop_wire.close()
            desk.join()

        return server.url, stop


class TestMemoryWire(WireContract):
    def make_wire(self) -> Wire:
        return MemoryWire()

    def start_far_end(
        self, wire: Wire, deliver: Deliver, heard: Heard
    ) -> tuple[str, Callable[[], None]]:
        assert isinstance(wire, MemoryWire)
        url = wire.listen(deliver=deliver, heard=heard)
        return url, lambda: wire.hang_up(url)

    def refused_url(self, wire: Wire) -> str:
        return "memory://nobody-listens-here"


# what the contract does not cover ---------------------------------------------------------
@pytest.fixture
def http() -> Iterator[HttpWire]:
    wire = HttpWire()
    yield wire
    wire.close()


def test_a_relay_whose_far_end_is_down_answers_502_a_wire_error(http: HttpWire) -> None:
    relay_wire = HttpWire()
    server = serve(Relay(relay_wire, f"http://127.0.0.1:{free_port()}").routes(), "127.0.0.1", 0)
    try:
        url = server.url
        with pytest.raises(WireError, match="502"):
            http.deliver(url, ENVELOPE, 5.0)
        with pytest.raises(WireError, match="502"):
            http.ping(url, 5.0)
        assert http.heard(url, 5.0) is None  # it never heard its far end
    finally:
        server.shutdown()
        relay_wire.close()


def test_a_watching_relay_vouches_for_its_far_end(http: HttpWire) -> None:
    desk_url, stop_desk = http_far_end(ack, lambda: 0)
    relay_wire = HttpWire()
    relay = Relay(relay_wire, desk_url, every_s=0.05)
    server = serve(relay.routes(), "127.0.0.1", 0)
    url = server.url
    stop = threading.Event()
    watcher = threading.Thread(target=relay.watch, args=(stop,), daemon=True)
    try:
        assert http.heard(url, 5.0) is None
        watcher.start()
        deadline = time.monotonic() + 5
        while relay.last_heard is None and time.monotonic() < deadline:
            time.sleep(0.01)
        ago = http.heard(url, 5.0)
        assert ago is not None and 0 <= ago < 2000
        stop_desk()  # the far end goes away: the relay's last word on it ages
        time.sleep(0.3)
        assert (http.heard(url, 5.0) or 0) >= 200
    finally:
        stop.set()
        watcher.join(5)
        server.shutdown()
        relay_wire.close()


def test_an_answer_that_is_not_an_object_is_refused_by_the_memory_wire() -> None:
    wire = MemoryWire()
    url = wire.listen(deliver=lambda e: ["not", "an", "ack"])  # type: ignore[arg-type, return-value]
    with pytest.raises(WireError, match="not a JSON object"):
        wire.deliver(url, ENVELOPE, 1.0)


def test_the_memory_wire_logs_what_it_carried() -> None:
    wire = MemoryWire()
    url = wire.listen("memory://tehran/")
    assert url == "memory://tehran"
    answer = wire.deliver("memory://tehran/", {**ENVELOPE, "id": "m-9"}, 1.0)
    assert answer == {"ack": True, "message": "m-9", "duplicate": False}
    wire.ping(url, 1.0)
    assert wire.calls == [("deliver", url), ("ping", url)]
    ((where, envelope),) = wire.delivered
    assert where == url and envelope == {**ENVELOPE, "id": "m-9"}
    envelope["body"] = "changed"  # the far end's copy is its own
    assert wire.delivered[0][1]["body"] == "changed" and ENVELOPE["body"] != "changed"


def test_two_desks_can_talk_over_one_memory_wire() -> None:
    """How a test wires two sites together: each listens, each delivers to the other."""
    wire = MemoryWire()
    inbox: dict[str, list[Any]] = {"washington": [], "tehran": []}

    def desk(name: str) -> Deliver:
        def receive(envelope: dict[str, Any]) -> dict[str, Any]:
            inbox[name].append(envelope["body"])
            return ack(envelope)

        return receive

    w = wire.listen("memory://washington", desk("washington"))
    t = wire.listen("memory://tehran", desk("tehran"))
    assert wire.deliver(t, {**ENVELOPE, "body": "proposal"}, 1.0)["ack"]
    assert wire.deliver(w, {**ENVELOPE, "id": "m-2", "body": "counter"}, 1.0)["message"] == "m-2"
    assert inbox == {"washington": ["counter"], "tehran": ["proposal"]}
