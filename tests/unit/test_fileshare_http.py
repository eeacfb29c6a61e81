"""fileshare_http: a URL asked at an address with the service's name, and the answers gate."""

import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from suite_modules import load

mod = load("_modules/fileshare_http.py", "fileshare_http_mod")
state = load("_states/fileshare_http.py", "fileshare_http_state")


@pytest.mark.parametrize(
    "url, host, expected",
    [
        (
            "http://10.0.0.41:8000/health",
            "files.example.org",
            {
                "scheme": "http",
                "address": "10.0.0.41",
                "port": 8000,
                "path": "/health",
                "host": "files.example.org",
            },
        ),
        (
            "https://10.0.0.30/health?full=1",
            None,
            {
                "scheme": "https",
                "address": "10.0.0.30",
                "port": 443,
                "path": "/health?full=1",
                "host": "10.0.0.30",
            },
        ),
        (
            "http://files.example.org",
            None,
            {
                "scheme": "http",
                "address": "files.example.org",
                "port": 80,
                "path": "/",
                "host": "files.example.org",
            },
        ),
    ],
)
def test_target_connects_to_the_url_and_names_the_host(url, host, expected):
    assert mod.target(url, host) == expected


@pytest.mark.parametrize("url", ["ftp://x/", "10.0.0.1/health", "http:///health"])
def test_target_refuses_what_is_not_an_http_url(url):
    with pytest.raises(mod.CommandExecutionError):
        mod.target(url)


@pytest.mark.parametrize(
    "code, expected, text",
    [
        (200, 200, "answered 200"),
        (503, 200, "answered 503, 200 expected"),
        (None, 200, "answered nothing, 200 expected"),
    ],
)
def test_answered_says_what_came_back(code, expected, text):
    assert mod.answered(code, expected) == text


@pytest.fixture
def server():
    """An HTTP server that answers its `codes` in turn and records each request's Host header."""
    seen, codes = [], [200]

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            seen.append((self.path, self.headers["Host"]))
            self.send_response(codes.pop(0) if len(codes) > 1 else codes[0])
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *a):
            pass

    httpd = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    httpd.seen, httpd.codes = seen, codes
    httpd.url = f"http://127.0.0.1:{httpd.server_port}/health"
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def test_status_sends_the_services_name_as_host(server):
    assert mod.status(server.url, host="files.example.org") == 200
    assert server.seen == [("/health", "files.example.org")]


def test_status_of_nothing_listening_is_none(server):
    server.shutdown()
    server.server_close()
    assert mod.status(server.url, timeout=0.5) is None


def test_wait_asks_again_until_the_expected_answer(server):
    server.codes[:] = [503, 503, 200]
    assert mod.wait(server.url, attempts=5, interval=0.01) == 200 and len(server.seen) == 3


def test_wait_fails_with_the_last_answer(server):
    server.codes[:] = [503]
    with pytest.raises(mod.CommandExecutionError, match="answered 503, 200 expected .2 attempt"):
        mod.wait(server.url, attempts=2, interval=0.01)


@pytest.fixture
def gate():
    state.__salt__ = {"fileshare_http.wait": mod.wait, "fileshare_http.status": mod.status}
    state.__opts__ = {"test": False}
    return state


def test_the_gate_passes_on_200_and_fails_naming_the_answer(gate, server):
    assert gate.answers(server.url, host="files.example.org")["result"] is True
    server.codes[:] = [500]
    ret = gate.answers(server.url, attempts=2, interval=0.01)
    assert ret["result"] is False and "answered 500" in ret["comment"] and ret["changes"] == {}


def test_the_gate_under_test_asks_once(gate, server):
    gate.__opts__["test"] = True
    server.codes[:] = [503]
    ret = gate.answers(server.url, attempts=60)
    assert ret["result"] is None and "would ask 60 time(s)" in ret["comment"] and len(server.seen) == 1


def _self_signed(tmp_path):
    import datetime  # noqa: PLC0415 - only this test makes a certificate

    from cryptography import x509  # noqa: PLC0415
    from cryptography.hazmat.primitives import hashes, serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec  # noqa: PLC0415
    from cryptography.x509.oid import NameOID  # noqa: PLC0415

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "files.example.org")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    pem = tmp_path / "cert.pem"
    pem.write_bytes(
        cert.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return pem


def test_https_is_asked_at_the_address_with_the_services_name_in_sni_and_host(tmp_path, server):
    """As `curl --resolve NAME:443:VIP -k https://NAME/health`: TLS to the VIP, the name in SNI."""
    import ssl  # noqa: PLC0415

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(_self_signed(tmp_path))
    sni = []
    context.sni_callback = lambda sock, name, ctx: sni.append(name)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    url = f"https://127.0.0.1:{server.server_port}/health"
    assert mod.status(url, host="files.example.org") == 200
    assert sni == ["files.example.org"] and server.seen == [("/health", "files.example.org")]
