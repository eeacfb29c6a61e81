"""
Constant client load through the VIP: WebDAV PUT, GET (content checked) and PROPFIND of files, and the
database-backed GET /health, each request recorded (send time, op, status, latency, error).

Workers pace themselves to a fixed schedule (open loop): a slow or failing cluster does not lower the
offered load, so failures and latency show up instead of hiding behind fewer requests. A worker more
than MAX_BACKLOG behind skips the missed slots (counted) instead of bursting them. Connections are
kept alive like a real client's; a request that finds its kept-alive connection closed before any
answer is resent once on a new connection, as HTTP clients do for idempotent requests.
"""

from __future__ import annotations

import base64
import http.client
import random
import socket
import ssl
import threading
import time
import uuid
from dataclasses import dataclass, field

from fileshare_bench.stats import Record, summarize
from fileshare_bench.target import BenchError, Target

DEFAULT_MIX = {"put": 0.25, "get": 0.35, "propfind": 0.2, "health": 0.2}
EXPECTED = {"put": (201, 204), "get": (200,), "propfind": (207,), "health": (200,), "mkcol": (201, 405)}
FILES_PER_WORKER = 20
MAX_BACKLOG = 1.0  # seconds a worker may fall behind its schedule before it skips slots
PROPFIND_BODY = (
    b'<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:getcontentlength/>'
    b"<D:getlastmodified/></D:prop></D:propfind>"
)
STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError, ssl.SSLEOFError)


class _Connection(http.client.HTTPSConnection):
    """HTTPS to the VIP address while speaking (SNI, Host, certificate check) to the site's name."""

    def __init__(self, target: Target, context: ssl.SSLContext, timeout: float, source: str | None):
        super().__init__(target.fqdn, target.port, context=context, timeout=timeout)
        self._address, self._source, self._ctx = target.address, source, context

    def connect(self):
        sock = socket.create_connection(
            (self._address, self.port), self.timeout, (self._source, 0) if self._source else None
        )
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = self._ctx.wrap_socket(sock, server_hostname=self.host)


@dataclass
class Run:
    name: str
    started_at: float  # wall clock (epoch seconds) of t = 0
    records: list[Record] = field(default_factory=list)
    marks: list[tuple[float, str]] = field(default_factory=list)
    skipped: int = 0  # request slots a stalled worker let pass (see MAX_BACKLOG)

    def summary(self, start: float | None = None, end: float | None = None) -> dict:
        return summarize(self.records, start, end)

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "started_at": self.started_at,
            "summary": {**self.summary(), "skipped_slots": self.skipped},
            "marks": [{"t": round(t, 3), "label": label} for t, label in self.marks],
            "records": [[round(r.t, 4), r.op, r.status, round(r.latency, 4), r.error] for r in self.records],
        }


class LoadGenerator:
    """
    ``with LoadGenerator(target, rate=20) as lg: ...; lg.mark("step")`` → ``lg.run`` (a Run).
    RATE is requests per second over all WORKERS; SOURCE an address of this host to send from.
    """

    def __init__(
        self,
        target: Target,
        rate: float = 30.0,
        workers: int = 12,
        mix: dict | None = None,
        name: str = "run",
        timeout: float = 10.0,
        source: str | None = None,
        seed: int | None = None,
        prefill: bool = False,
    ):
        if rate <= 0 or workers < 1:
            raise ValueError("rate must be > 0 and workers >= 1")
        self.target, self.rate, self.workers, self.timeout, self.source = (
            target,
            rate,
            workers,
            timeout,
            source,
        )
        self.mix = dict(mix or DEFAULT_MIX)
        self.name = name
        self.prefix = f"/bench-{name}-{uuid.uuid4().hex[:8]}"
        self.seed = seed if seed is not None else random.randrange(1 << 30)
        # prefill: each worker's files are written before the clock starts, so the first seconds
        # measured are the steady state (overwrites, full folders) and not a burst of file creations.
        self.prefill = prefill
        self._written: dict[int, dict[str, bytes]] = {}
        self.context = ssl.create_default_context(cafile=target.ca_file)
        token = base64.b64encode(f"{target.user}:{target.password}".encode()).decode()
        self.auth = f"Basic {token}"
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._t0 = 0.0
        self.run: Run | None = None

    # ---- control ---------------------------------------------------------------------------------

    def __enter__(self) -> LoadGenerator:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        self._prepare()
        self._t0 = time.monotonic()
        self.run = Run(self.name, time.time())
        for i in range(self.workers):
            th = threading.Thread(target=self._worker, args=(i,), name=f"load-{i}", daemon=True)
            self._threads.append(th)
            th.start()

    def mark(self, label: str) -> None:
        """Put a marker (an upgrade step, a fault) on the run's time line."""
        with self._lock:
            self.run.marks.append((self.now(), label))

    def now(self) -> float:
        return time.monotonic() - self._t0

    def stop(self) -> Run:
        self._stop.set()
        for th in self._threads:
            th.join(self.timeout * 2 + 5)
        self._threads = []
        with self._lock:
            self.run.records.sort(key=lambda r: r.t)
        return self.run

    # ---- requests --------------------------------------------------------------------------------

    def _prepare(self) -> None:
        """The run's collections, made before the clock starts (they are not part of the measurement)."""
        conn = self._connect()
        try:
            for path in [self.prefix + "/"] + [self._folder(i) for i in range(self.workers)]:
                status, _ = self._send(conn, "MKCOL", path)
                if status not in EXPECTED["mkcol"]:
                    raise BenchError(
                        f"the service is not ready for load: MKCOL {path} through {self.target.url} "
                        f"answered HTTP {status}"
                    )
            for index in range(self.workers if self.prefill else 0):
                written = self._written.setdefault(index, {})
                for n in range(FILES_PER_WORKER):
                    path, body = self._file(index, n), f"prefill {index} {n}\n".encode()
                    status, _ = self._send(conn, "PUT", path, body, {"Content-Type": "text/plain"})
                    if status not in EXPECTED["put"]:
                        raise BenchError(f"prefill: PUT {path} answered HTTP {status}")
                    written[path] = body
        except (OSError, http.client.HTTPException) as exc:
            raise BenchError(f"the service is not reachable for load at {self.target.url}: {exc}") from exc
        finally:
            conn.close()

    def _folder(self, index: int) -> str:
        return f"{self.prefix}/w{index}/"

    def _file(self, index: int, n: int) -> str:
        """Worker INDEX's file N (0 <= N < FILES_PER_WORKER): what its PUTs overwrite and GETs read."""
        return f"{self._folder(index)}f{n}.txt"

    def _connect(self) -> _Connection:
        return _Connection(self.target, self.context, self.timeout, self.source)

    def _send(self, conn: _Connection, method: str, path: str, body: bytes | None = None, headers=None):
        hdrs = {"Authorization": self.auth, **(headers or {})}
        conn.request(method, path, body=body, headers=hdrs)
        resp = conn.getresponse()
        data = resp.read()
        if resp.getheader("connection", "").lower() == "close":
            conn.close()
        return resp.status, data

    def _worker(self, index: int) -> None:
        rng = random.Random(self.seed * 1000 + index)
        ops, weights = zip(*self.mix.items(), strict=True)
        interval = self.workers / self.rate
        next_t = rng.random() * interval  # spread the workers' phases
        known = dict(self._written.get(index, {}))  # path -> content this worker last wrote for sure
        conn, used, n = self._connect(), 0, 0
        while not self._stop.is_set():
            delay = next_t - self.now()
            if delay > 0 and self._stop.wait(delay):
                break
            if -delay > MAX_BACKLOG:
                # Behind by more than a second (a stalled answer): resume the schedule from now rather
                # than fire the missed requests in a burst, which no user does and which would trip the
                # site's per-client rate limit. The slots skipped are counted.
                missed = int(-delay / interval)
                next_t += missed * interval
                with self._lock:
                    self.run.skipped += missed
            next_t += interval
            op = rng.choices(ops, weights)[0]
            if op == "get" and not known:
                op = "put"
            n += 1
            method, path, body, headers, check = self._request(op, index, n, rng, known)
            t = self.now()
            status, error = None, ""
            for attempt in (0, 1):
                try:
                    status, data = self._send(conn, method, path, body, headers)
                    used += 1
                    error = check(status, data)
                    break
                except STALE as exc:
                    conn.close()
                    conn, reused, used = self._connect(), used > 0, 0
                    if attempt == 0 and reused:
                        continue  # the kept-alive connection was closed under us: resend once
                    error = f"{type(exc).__name__}: {exc}"
                except (OSError, http.client.HTTPException) as exc:
                    conn.close()
                    conn, used = self._connect(), 0
                    error = f"{type(exc).__name__}: {exc}"
                    break
            latency = self.now() - t
            if op == "put":
                if not error:
                    known[path] = body
                else:
                    known.pop(path, None)  # unknown whether the server stored it
            with self._lock:
                self.run.records.append(Record(t, op, status, latency, error))
        conn.close()

    def _request(self, op: str, index: int, n: int, rng: random.Random, known: dict):
        folder = self._folder(index)
        if op == "put":
            path = self._file(index, n % FILES_PER_WORKER)
            body = f"{self.name} worker {index} request {n} {rng.random()}\n".encode()
            return "PUT", path, body, {"Content-Type": "text/plain"}, self._expect(op)
        if op == "get":
            path = rng.choice(sorted(known))
            expected = known[path]

            def check(status, data):
                if status != 200:
                    return f"HTTP {status}"
                return "" if data == expected else f"GET {path}: content differs from the last PUT"

            return "GET", path, None, None, check
        if op == "propfind":
            headers = {"Depth": "1", "Content-Type": "application/xml"}
            return "PROPFIND", folder, PROPFIND_BODY, headers, self._expect(op)
        return "GET", "/health", None, None, self._expect("health")

    @staticmethod
    def _expect(op: str):
        def check(status, _data):
            return "" if status in EXPECTED[op] else f"HTTP {status}"

        return check
