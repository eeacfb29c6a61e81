"""
The load generator against a small in-process HTTPS server standing in for the VIP: it paces to the
asked rate, checks GET content against its own PUTs, counts 5xx and refused connections as failures,
and resends once (uncounted) when a kept-alive connection was closed under it.
"""

import datetime
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fileshare_bench.loadgen import FILES_PER_WORKER, LoadGenerator, Run
from fileshare_bench.target import Target

FQDN = "files.bench.test"


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, FQDN)])
    now = datetime.datetime.now(datetime.UTC)
    crt = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(FQDN)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    d = tmp_path_factory.mktemp("tls")
    (d / "crt.pem").write_bytes(crt.public_bytes(serialization.Encoding.PEM))
    (d / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return d


class FakeShare(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, cert_dir):
        super().__init__(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert_dir / "crt.pem", cert_dir / "key.pem")
        self.socket = ctx.wrap_socket(self.socket, server_side=True)
        self.files, self.hosts, self.lock = {}, set(), threading.Lock()
        self.unavailable = False  # answer 503 to everything
        self.corrupt = False  # GET answers other content than was PUT
        self.close_every = 0  # close the kept-alive connection after every Nth answer
        self.stall = 0.0  # seconds every answer waits


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _answer(self, status, body=b""):
        srv = self.server
        time.sleep(srv.stall)
        with srv.lock:
            srv.hosts.add(self.headers.get("Host"))
            srv.count = getattr(srv, "count", 0) + 1
            close = srv.close_every and srv.count % srv.close_every == 0
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        if close:  # silently, as an idle-timeout close looks to the client
            self.close_connection = True

    def _body(self):
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_MKCOL(self):
        self._answer(503 if self.server.unavailable else 201)

    def do_PUT(self):
        data = self._body()
        if self.server.unavailable:
            return self._answer(503)
        with self.server.lock:
            self.server.files[self.path] = data
        self._answer(201)

    def do_GET(self):
        if self.server.unavailable:
            return self._answer(503)
        if self.path == "/health":
            return self._answer(200, b"ok")
        data = self.server.files.get(self.path)
        if data is None:
            return self._answer(404)
        self._answer(200, b"other" if self.server.corrupt else data)

    def do_PROPFIND(self):
        self._body()
        self._answer(503 if self.server.unavailable else 207, b"<multistatus/>")


@pytest.fixture
def share(cert):
    srv = FakeShare(cert)
    th = threading.Thread(target=srv.serve_forever, daemon=True)
    th.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def target(share, cert):
    return Target(FQDN, "127.0.0.1", str(cert / "crt.pem"), "alice", "pw", port=share.server_address[1])


def test_a_healthy_share_sees_the_asked_rate_and_no_failures(share, cert):
    with LoadGenerator(target(share, cert), rate=100, workers=4, seed=1) as lg:
        time.sleep(2.0)
    s = lg.run.summary()
    assert s["failed"] == 0, s
    assert 120 <= s["requests"] <= 230, s  # 100/s for 2 s, paced (a busy machine lags a little)
    assert {r.op for r in lg.run.records} == {"put", "get", "propfind", "health"}
    assert share.hosts == {f"{FQDN}:{share.server_address[1]}"}  # spoke to the site's name, not the address


def test_prefill_writes_every_workers_files_before_the_clock_starts(share, cert):
    """The measured requests start on full folders: no PUT in the run creates a file, and GETs are
    asked from the first request on (the prefilled contents are what they check against)."""
    lg = LoadGenerator(target(share, cert), rate=100, workers=3, seed=7, prefill=True)
    lg._prepare()
    prefilled = {path for path in share.files if path.endswith(".txt")}
    assert len(prefilled) == 3 * FILES_PER_WORKER, sorted(share.files)[:5]
    lg._t0, lg.run = time.monotonic(), Run(lg.name, time.time())
    threads = [threading.Thread(target=lg._worker, args=(i,), daemon=True) for i in range(3)]
    for th in threads:
        th.start()
    time.sleep(1.0)
    lg._stop.set()
    for th in threads:
        th.join(5)
    records = lg.run.records
    assert records and not [r for r in records if r.error], records[:3]
    assert {path for path in share.files if path.endswith(".txt")} == prefilled  # overwrites only
    first = sorted(records)[: len(records) // 4]
    assert any(r.op == "get" for r in first)


def test_an_outage_is_counted_and_its_window_measured(share, cert):
    with LoadGenerator(target(share, cert), rate=100, workers=4, seed=2) as lg:
        time.sleep(0.5)
        lg.mark("outage")
        share.unavailable = True
        time.sleep(1.0)
        share.unavailable = False
        lg.mark("back")
        time.sleep(0.5)
    s = lg.run.summary()
    assert 50 <= s["failed"] <= 160, s
    assert 0.6 <= s["error_window_seconds"] <= 1.6, s
    assert [label for _, label in lg.run.marks] == ["outage", "back"]


def test_content_that_differs_from_the_last_put_is_a_failure(share, cert):
    share.corrupt = True
    with LoadGenerator(target(share, cert), rate=80, workers=2, seed=3) as lg:
        time.sleep(1.0)
    bad = [r for r in lg.run.records if r.error]
    assert bad and all(r.op == "get" and "content differs" in r.error for r in bad)


def test_a_closed_kept_alive_connection_is_resent_once_and_not_counted(share, cert):
    share.close_every = 3
    with LoadGenerator(target(share, cert), rate=80, workers=2, seed=4) as lg:
        time.sleep(1.5)
    assert lg.run.summary()["failed"] == 0


def test_nothing_listening_is_a_failure_not_a_crash(share, cert):
    t = target(share, cert)
    lg = LoadGenerator(t, rate=50, workers=2, seed=5)
    lg.start()
    share.close_every = 1  # the open connections close too
    share.shutdown()
    share.server_close()
    time.sleep(1.0)
    run = lg.stop()
    assert run.summary()["failed"] > 0
    assert all(r.status is None for r in run.records if r.error)


def test_a_stalled_worker_skips_its_missed_slots_instead_of_bursting(share, cert):
    with LoadGenerator(target(share, cert), rate=40, workers=2, seed=6) as lg:
        time.sleep(0.3)
        share.stall = 2.0
        time.sleep(2.5)
        share.stall = 0.0
        time.sleep(1.0)
    run = lg.run
    assert run.skipped >= 40, run.skipped  # ~2 s x 40/s missed, minus the two stalled requests
    sent = sorted(r.t for r in run.records)
    busiest = max(sum(1 for t in sent if a <= t < a + 0.25) for a in sent)
    assert busiest <= 40 * 0.25 + 2 + 2, busiest  # the rate plus one catch-up request per worker
