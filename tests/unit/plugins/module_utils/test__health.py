# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of module_utils/_health.py against real servers on 127.0.0.1.

HTTP and HTTPS servers (http.server) and raw socket servers run in threads;
only sleeps and name resolution are replaced.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import http.client
import http.server
import ipaddress
import json
import socket
import ssl
import sys
import threading
import time

import pytest

from ansible_collections.milos_shop.ops.plugins.module_utils import _checklist
from ansible_collections.milos_shop.ops.plugins.module_utils import _health as h
from ansible_collections.milos_shop.ops.plugins.modules.health_probe import argument_spec

JSON = {"Content-Type": "application/json"}
SERVICES = [{"id": 1, "name": "web-design"}, {"id": 2, "name": "hosting"}]


# -- helpers ----------------------------------------------------------------------

def params(url, **overrides):
    """The module's defaults (from its argument spec), the URL and the overrides."""
    values = dict((name, spec.get("default")) for name, spec in argument_spec().items())
    values["url"] = url
    values.update(overrides)
    return values


def kinds(result):
    return [alert["kind"] for alert in result["alerts"]]


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def answer(status=200, body=b"", headers=None, delay=0.0):
    """A responder that always gives the same answer."""
    if not isinstance(body, bytes):
        body = json.dumps(body).encode()
        headers = headers or JSON

    def respond(count):
        if delay:
            time.sleep(delay)
        return status, headers or {}, body

    return respond


def make_handler(respond, seen, protocol):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = protocol

        def _answer(self):
            seen.append({"method": self.command, "path": self.path,
                         "headers": dict((k.lower(), v) for k, v in self.headers.items())})
            status, headers, body = respond(len(seen))
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = _answer
        do_HEAD = _answer

        def log_message(self, *args):  # pylint: disable=arguments-differ
            pass

    return Handler


class RawServer:
    """A listening socket on 127.0.0.1; handle(conn, stop) runs in a thread per connection."""

    def __init__(self, handle):
        self.stop = threading.Event()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.handle = handle
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        while not self.stop.is_set():
            try:
                conn, _addr = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        with conn:
            conn.settimeout(5)
            try:
                self.handle(conn, self.stop)
            except OSError:
                pass

    def close(self):
        self.stop.set()
        self.thread.join(2)
        self.sock.close()


def read_head(conn):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    lines = data.split(b"\r\n\r\n", 1)[0].decode("iso-8859-1").split("\r\n")
    headers = dict((k.strip().lower(), v.strip()) for k, _sep, v in (line.partition(":") for line in lines[1:]))
    return lines[0], headers


@pytest.fixture
def serve():
    """serve(respond, protocol=..., context=...) -> (base URL, list of the requests seen)."""
    servers = []

    def start(respond, protocol="HTTP/1.0", context=None):
        seen = []
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), make_handler(respond, seen, protocol))
        if context is not None:
            server.socket = context.wrap_socket(server.socket, server_side=True)
        servers.append(server)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return "%s://127.0.0.1:%d" % ("https" if context else "http", server.server_address[1]), seen

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def raw_server():
    servers = []

    def start(handle):
        server = RawServer(handle)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


# -- HTTP answers -----------------------------------------------------------------

def test_healthy_json_answer(serve):
    base, seen = serve(answer(200, SERVICES))
    result = h.probe(params(base + "/api/services", json_assertions=["length(@) > `0`"]), sleep=pytest.fail)
    assert result["ok"] is True and result["alerts"] == [] and result["error"] is None
    assert result["status"] == 200 and result["attempts"] == 1 and result["failed_assertions"] == []
    assert 0 < result["latency_ms"] < 2000
    assert result["json"] is None  # only with return_json
    assert result["msg"] == "{0}/api/services answered 200 in {1:.0f} ms".format(base, result["latency_ms"])
    assert "tls_days_left" not in result and "websocket" not in result
    assert [r["path"] for r in seen] == ["/api/services"]


@pytest.mark.parametrize("status, codes, alert", [
    (500, [200], True),
    (503, [200, 204], True),
    (301, [200], True),  # redirects are not followed: the endpoint moved
    (204, [200, 204], False),
    (404, [404], False),
])
def test_status_against_status_codes(serve, status, codes, alert):
    base, _seen = serve(answer(status))
    result = h.probe(params(base + "/api/services", status_codes=codes))
    assert result["status"] == status and result["attempts"] == 1
    if alert:
        assert kinds(result) == ["status"] and result["ok"] is False
        assert result["alerts"][0]["value"] == status
        assert result["msg"] == "%s/api/services answered %d %s, expected %s" % (
            base, status, http.client.responses[status], ", ".join(str(c) for c in codes))
        assert result["error"] is None  # an answer came: not a transport error
    else:
        assert result["ok"] is True


# -- retries and backoff -----------------------------------------------------------

def test_retries_back_off_exponentially_and_report_the_last_attempt(serve):
    base, seen = serve(answer(503, {"message": "starting"}))
    delays = []
    result = h.probe(params(base + "/", retries=3, backoff=0.5), sleep=delays.append)
    assert delays == [0.5, 1.0, 2.0]
    assert result["attempts"] == 4 and len(seen) == 4
    assert kinds(result) == ["status"]  # one alert, of the last attempt, not one per attempt


def test_a_server_that_fails_twice_then_answers_is_ok_after_three_attempts(serve):
    def respond(count):
        return (500, {}, b"boom") if count <= 2 else (200, JSON, b"[1]")

    base, seen = serve(respond)
    delays = []
    result = h.probe(params(base + "/", retries=5, backoff=0.25, expect_json=True), sleep=delays.append)
    assert result["ok"] is True and result["alerts"] == []
    assert result["attempts"] == 3 and len(seen) == 3
    assert delays == [0.25, 0.5]


def test_transport_errors_are_retried_too():
    delays = []
    result = h.probe(params("http://127.0.0.1:%d/" % free_port(), retries=2, backoff=2), sleep=delays.append)
    assert delays == [2, 4] and result["attempts"] == 3
    assert kinds(result) == ["connection_refused"]


def test_no_sleep_without_retries(serve):
    base, _seen = serve(answer(500))
    result = h.probe(params(base + "/"), sleep=pytest.fail)
    assert result["attempts"] == 1 and kinds(result) == ["status"]


def test_a_slow_answer_is_not_retried(serve):
    base, seen = serve(answer(200, delay=0.15))
    result = h.probe(params(base + "/", retries=3, latency_threshold_ms=50), sleep=pytest.fail)
    assert kinds(result) == ["latency"] and result["attempts"] == 1 and len(seen) == 1


# -- latency -------------------------------------------------------------------------

@pytest.mark.parametrize("threshold, alert", [(100, True), (5000, False)])
def test_latency_threshold(serve, threshold, alert):
    base, _seen = serve(answer(200, SERVICES, delay=0.3))
    result = h.probe(params(base + "/api/services", latency_threshold_ms=threshold))
    assert 300 <= result["latency_ms"] < 3000
    if alert:
        assert kinds(result) == ["latency"]
        assert result["alerts"][0]["value"] == result["latency_ms"]
        assert result["msg"] == "{0}/api/services answered in {1:.0f} ms, over the 100 ms threshold".format(base, result["latency_ms"])
    else:
        assert result["ok"] is True


# -- JSON, JMESPath, body regex ----------------------------------------------------------

@pytest.mark.parametrize("overrides, alerts", [
    (dict(expect_json=True), ["not_json"]),
    (dict(json_assertions=["length(@) > `0`"]), ["not_json"]),
    (dict(return_json=True), []),  # return_json alone does not demand JSON
    (dict(), []),
])
def test_a_body_that_is_not_json(serve, overrides, alerts):
    base, _seen = serve(answer(200, b"<html>maintenance</html>", {"Content-Type": "text/html"}))
    result = h.probe(params(base + "/", **overrides))
    assert kinds(result) == alerts
    assert result["json"] is None and result["failed_assertions"] == []
    if alerts:
        assert result["msg"].startswith("%s/: body is not JSON: " % base)


@pytest.mark.parametrize("document, expression, holds", [
    ([], "length(@) > `0`", False),
    (SERVICES, "length(@) > `0`", True),
    (SERVICES, "[0].name", True),
    (SERVICES, "[?name == 'hosting'] | length(@) == `1`", True),
    ({"status": "ok"}, "status == 'ok'", True),
    ({"status": "down"}, "status == 'ok'", False),
    ({"count": 0}, "count", False),  # 0 fails, as documented
    ({"count": 3}, "count", True),
    ({"flag": True}, "flag", True),
    ({"flag": False}, "flag", False),
    ({}, "missing", False),
    ({"items": {}}, "items", False),
    ({"name": ""}, "name", False),
    ({"count": 3}, "length(count)", False),  # a type error on this document does not hold
])
def test_jmespath_assertions(serve, document, expression, holds):
    base, _seen = serve(answer(200, document))
    result = h.probe(params(base + "/", json_assertions=[expression], return_json=True))
    assert result["json"] == document
    if holds:
        assert result["ok"] is True and result["failed_assertions"] == []
    else:
        assert kinds(result) == ["assertion"] and result["failed_assertions"] == [expression]
        assert "JMESPath assertion %r does not hold (got " % expression in result["msg"]


def test_a_type_error_is_reported_as_the_value():
    _document, failed, error = h.evaluate_json(b'{"count": 3}', ["length(count)"])
    assert error is None
    assert failed[0]["assertion"] == "length(count)"
    assert failed[0]["value"].startswith("JMESPathTypeError: ")


@pytest.mark.parametrize("expression, detail", [
    ("length(@", ""),
    ("[?name ==", ""),
    ("length(@) >", ""),
    ("no_such_function(@)", "unknown function no_such_function()"),
    ("[?name == 'x'].{n: lenght(name)}", "unknown function lenght()"),  # on a branch an empty list never visits
    ("length(@, @) > `0`", "length() takes 1 arguments, got 2"),
    ("not_null()", "not_null() takes at least 1 arguments, got 0"),
])
def test_an_invalid_expression_is_a_value_error_naming_it(expression, detail):
    with pytest.raises(ValueError) as info:
        h.evaluate_json(b"[]", [expression])
    assert str(info.value).startswith("json_assertions entry %r is not valid JMESPath: %s" % (expression, detail))
    # probe() refuses it before any request, whatever the server says (nothing listens here).
    with pytest.raises(ValueError, match="json_assertions entry"):
        h.probe(params("http://127.0.0.1:%d/" % free_port(), json_assertions=["length(@) > `0`", expression]),
                sleep=pytest.fail)


@pytest.mark.parametrize("regex, alert", [
    (r'"name":\s*"hosting"', False),
    (r"^\[", False),
    (r"maintenance mode", True),
])
def test_body_regex(serve, regex, alert):
    base, _seen = serve(answer(200, SERVICES))
    result = h.probe(params(base + "/", body_regex=regex))
    if alert:
        assert kinds(result) == ["body_regex"]
        assert result["failed_assertions"] == ["body_regex: %s" % regex]
        assert result["msg"] == "%s/: body does not match %r" % (base, regex)
    else:
        assert result["ok"] is True


def test_checks_of_the_body_run_only_on_an_expected_status(serve):
    base, _seen = serve(answer(500, b"<html>oops</html>"))
    result = h.probe(params(base + "/", json_assertions=["length(@) > `0`"], body_regex="shop", latency_threshold_ms=0))
    assert kinds(result) == ["status"]


def test_return_json(serve):
    base, _seen = serve(answer(200, SERVICES))
    assert h.probe(params(base + "/", return_json=True))["json"] == SERVICES


# -- request: method and headers ------------------------------------------------------

def test_head_method(serve):
    base, seen = serve(answer(200, SERVICES))
    result = h.probe(params(base + "/api/services?active=1", method="HEAD"))
    assert result["ok"] is True and result["status"] == 200
    assert [(r["method"], r["path"]) for r in seen] == [("HEAD", "/api/services?active=1")]


def test_custom_headers_reach_the_server(serve):
    base, seen = serve(answer(200, SERVICES))
    result = h.probe(params(base + "/", headers={"X-Probe": "milos_shop.ops", "Authorization": "Bearer t0ken", "X-Count": 3}))
    assert result["ok"] is True
    got = seen[0]["headers"]
    assert got["x-probe"] == "milos_shop.ops" and got["authorization"] == "Bearer t0ken" and got["x-count"] == "3"
    assert got["host"] == base.split("://")[1]


# -- transport errors -----------------------------------------------------------------

def test_connection_refused():
    port = free_port()
    result = h.probe(params("http://127.0.0.1:%d/api/services" % port))
    assert kinds(result) == ["connection_refused"]
    assert result["status"] is None and result["latency_ms"] is None
    assert result["error"] == {"kind": "connection_refused", "message": "connection to '127.0.0.1' refused (nothing listens there?)"}
    assert result["msg"] == result["error"]["message"]


def test_dns_failure(monkeypatch):
    asked = []

    def no_such_host(host, *args, **kwargs):
        asked.append(host)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_host)
    result = h.probe(params("http://shop.invalid:5000/api/services", websocket=True))
    assert kinds(result) == ["dns", "websocket"]
    assert result["error"] == {"kind": "dns", "message": "cannot resolve host 'shop.invalid': Name or service not known"}
    assert result["alerts"][1]["message"].startswith("WebSocket dns: cannot resolve host 'shop.invalid'")
    assert asked == ["shop.invalid", "shop.invalid"]


def test_timeout(raw_server):
    def silent(conn, stop):
        conn.recv(4096)
        stop.wait(5)

    server = raw_server(silent)
    started = time.monotonic()
    result = h.probe(params("http://127.0.0.1:%d/" % server.port, timeout=0.3))
    assert time.monotonic() - started < 2
    assert kinds(result) == ["timeout"]
    assert result["error"]["message"] == "no answer from '127.0.0.1' within 0.3 s"


def test_a_server_that_closes_without_an_answer(raw_server):
    server = raw_server(lambda conn, stop: conn.recv(4096))
    result = h.probe(params("http://127.0.0.1:%d/" % server.port))
    assert kinds(result) == ["connection_reset"]
    assert result["msg"] == "'127.0.0.1' closed the connection without an answer"


@pytest.mark.parametrize("exc, kind", [
    (socket.gaierror(socket.EAI_NONAME, "Name or service not known"), "dns"),
    (socket.timeout("timed out"), "timeout"),
    (TimeoutError(), "timeout"),
    (ssl.SSLError(1, "wrong version number"), "tls"),
    (ConnectionRefusedError(111, "Connection refused"), "connection_refused"),
    (ConnectionResetError(104, "Connection reset by peer"), "connection_reset"),
    (http.client.RemoteDisconnected("Remote end closed connection without response"), "connection_reset"),
    (http.client.BadStatusLine("garbage"), "protocol"),
    (OSError(113, "No route to host"), "network"),
    (h.ProbeError("protocol", "no HTTP answer"), "protocol"),
    (RuntimeError("boom"), "error"),
])
def test_classify(exc, kind):
    got, message = h.classify(exc, "shop.example", 10)
    assert got == kind and message


@pytest.mark.parametrize("url, message", [
    ("ftp://127.0.0.1/", "url 'ftp://127.0.0.1/' must start with http:// or https://"),
    ("http:///api", "url 'http:///api' has no host"),
    ("http://127.0.0.1:99999/", "url 'http://127.0.0.1:99999/' has an invalid port: "),
])
def test_bad_urls(url, message):
    with pytest.raises(ValueError) as info:
        h.probe(params(url), sleep=pytest.fail)
    assert str(info.value).startswith(message)


@pytest.mark.parametrize("overrides, message", [
    (dict(retries=-1), "retries must be 0 or more, got -1"),
    (dict(backoff=-0.5), "backoff must be 0 or more, got -0.5"),
    (dict(latency_threshold_ms=-1), "latency_threshold_ms must be 0 or more, got -1"),
    (dict(tls_days_threshold=-3), "tls_days_threshold must be 0 or more, got -3"),
    (dict(timeout=0.0), "timeout must be more than 0, got 0.0"),
    (dict(status_codes=[]), "status_codes must list HTTP status codes (100 to 599), got []"),
    (dict(status_codes=[200, 2000]), "status_codes must list HTTP status codes (100 to 599), got [200, 2000]"),
    (dict(websocket_path="socket.io/"), "websocket_path must start with / and hold no spaces or control characters, got 'socket.io/'"),
    (dict(websocket_path="/ws\r\nX-Evil: 1"), "websocket_path must start with / and hold no spaces or control characters, got '/ws\\r\\nX-Evil: 1'"),
    (dict(body_regex="(unclosed"), "body_regex '(unclosed' is not a valid regular expression: missing ), unterminated subpattern"),
    (dict(method="HEAD", expect_json=True, body_regex="x"), "method='HEAD' gets no body to check: expect_json, body_regex need method=GET"),
])
def test_check_params(overrides, message):
    with pytest.raises(ValueError) as info:
        h.probe(params("http://127.0.0.1:1/", **overrides), sleep=pytest.fail)
    assert str(info.value).startswith(message)


# -- TLS ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1 (SAN IP), valid for 5 days from now."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "milos-shop test")])
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=5))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    base = tmp_path_factory.mktemp("tls")
    cert_path, key_path = base / "cert.pem", base / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return {"cert": str(cert_path), "key": str(key_path), "not_after": now + datetime.timedelta(days=5),
            "der": cert.public_bytes(serialization.Encoding.DER)}


@pytest.fixture
def https(serve, tls_files):
    def start(respond, protocol="HTTP/1.0"):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(tls_files["cert"], tls_files["key"])
        return serve(respond, protocol=protocol, context=context)

    return start


# HTTP/1.0 closes the connection after the answer: the certificate must be read before it.
@pytest.mark.parametrize("protocol", ["HTTP/1.0", "HTTP/1.1"])
@pytest.mark.parametrize("threshold, alert", [(14, True), (3, False)])
def test_tls_days_left(https, tls_files, protocol, threshold, alert):
    base, _seen = https(answer(200, SERVICES), protocol=protocol)
    result = h.probe(params(base + "/api/services", validate_certs=False, tls_days_threshold=threshold))
    assert result["status"] == 200
    assert 4.99 <= result["tls_days_left"] <= 5.0
    assert result["tls_not_after"] == tls_files["not_after"].isoformat()
    if alert:
        assert kinds(result) == ["tls_expiry"]
        assert result["alerts"][0]["value"] == result["tls_days_left"]
        assert result["msg"] == "TLS certificate of 127.0.0.1 expires in 5.0 days (threshold 14)"
    else:
        assert result["ok"] is True


def test_tls_expiry_is_checked_whatever_the_status(https):
    base, _seen = https(answer(503))
    result = h.probe(params(base + "/", validate_certs=False))
    assert kinds(result) == ["status", "tls_expiry"]
    assert 4.99 <= result["tls_days_left"] <= 5.0


def test_an_untrusted_certificate_is_a_tls_error(https):
    base, seen = https(answer(200, SERVICES))
    result = h.probe(params(base + "/"))
    assert kinds(result) == ["tls"] and result["status"] is None
    assert result["error"]["message"].startswith("TLS certificate of '127.0.0.1' not accepted: ")
    assert "self-signed certificate" in result["error"]["message"] or "self signed" in result["error"]["message"]
    assert "tls_days_left" not in result and seen == []


def test_the_certificate_is_trusted_with_ca_path(https, tls_files):
    base, _seen = https(answer(200, SERVICES))
    result = h.probe(params(base + "/api/services", ca_path=tls_files["cert"], tls_days_threshold=3))
    assert result["ok"] is True, result["msg"]
    assert 4.99 <= result["tls_days_left"] <= 5.0


def test_http_on_an_https_url_is_a_tls_error(serve):
    base, _seen = serve(answer(200, SERVICES))
    result = h.probe(params(base.replace("http://", "https://") + "/", validate_certs=False))
    assert kinds(result) == ["tls"]
    assert result["error"]["message"].startswith("TLS handshake with '127.0.0.1' failed: ")


def test_cert_not_after_without_cryptography(tls_files, monkeypatch):
    with_cryptography = h.cert_not_after(tls_files["der"])
    assert with_cryptography == tls_files["not_after"]
    monkeypatch.setitem(sys.modules, "cryptography", None)  # import cryptography -> ImportError
    with pytest.raises(ImportError):
        import cryptography  # noqa: F401 pylint: disable=unused-import,import-outside-toplevel
    without = h.cert_not_after(tls_files["der"])
    assert without == with_cryptography
    assert without.tzinfo is not None and without.utcoffset() == datetime.timedelta(0)


# -- WebSocket --------------------------------------------------------------------------

def socket_io(mode, seen=None):
    """A raw server: the health endpoint over HTTP/1.0, and the WebSocket upgrade answered per mode."""

    def handle(conn, stop):
        request_line, headers = read_head(conn)
        if seen is not None:
            seen.append((request_line, headers))
        if headers.get("upgrade", "").lower() != "websocket":
            body = json.dumps(SERVICES).encode()
            conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            return
        if mode == "400":
            conn.sendall(b'HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: 41\r\n\r\n'
                         b'{"code":3,"message":"Bad request"}      ')
            return
        if mode == "close":
            return
        key = headers["sec-websocket-key"] + ("" if mode == "ok" else "tampered")
        accept = base64.b64encode(hashlib.sha1((key + h.WS_GUID).encode()).digest())
        conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n")
        conn.sendall(b"\x81\x05" + b'0{"a"')  # Socket.io's open packet follows at once; the probe stops at the head
        stop.wait(0.5)

    return handle


def test_websocket_upgrade_ok(raw_server):
    seen = []
    server = raw_server(socket_io("ok", seen))
    base = "http://127.0.0.1:%d" % server.port
    result = h.probe(params(base + "/api/services", websocket=True))
    assert result["ok"] is True, result["msg"]
    ws = result["websocket"]
    assert ws["url"] == base + "/socket.io/?EIO=4&transport=websocket"
    assert ws["status"] == 101 and ws["accept_ok"] is True and ws["latency_ms"] > 0
    upgrade = [s for s in seen if s[1].get("upgrade")][0]
    assert upgrade[0] == "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1"
    assert upgrade[1]["host"] == "127.0.0.1:%d" % server.port and upgrade[1]["sec-websocket-version"] == "13"
    assert len(base64.b64decode(upgrade[1]["sec-websocket-key"])) == 16


@pytest.mark.parametrize("mode, value, message", [
    ("wrong", 101, "WebSocket upgrade at {ws} answered 101 with a wrong Sec-WebSocket-Accept"),
    ("400", 400, "WebSocket upgrade at {ws} answered 400, expected 101"),
    ("close", None, "WebSocket protocol: no HTTP answer to the WebSocket upgrade from '127.0.0.1'"),
])
def test_websocket_upgrade_problems(raw_server, mode, value, message):
    server = raw_server(socket_io(mode))
    base = "http://127.0.0.1:%d" % server.port
    result = h.probe(params(base + "/api/services", websocket=True, websocket_path="/ws"))
    assert kinds(result) == ["websocket"]
    assert result["alerts"][0]["value"] == value
    assert result["msg"] == message.format(ws=base + "/ws")
    assert result["status"] == 200  # the HTTP check itself passed


def test_websocket_nothing_listening_names_the_transport_problem():
    port = free_port()
    result = h.probe(params("http://127.0.0.1:%d/api/services" % port, websocket=True))
    assert kinds(result) == ["connection_refused", "websocket"]
    assert result["alerts"][1]["message"] == "WebSocket connection_refused: connection to '127.0.0.1' refused (nothing listens there?)"
    assert result["websocket"] == {"url": "http://127.0.0.1:%d/socket.io/?EIO=4&transport=websocket" % port,
                                   "status": None, "accept_ok": False, "latency_ms": None}


def test_websocket_url_is_built_from_the_host_and_port_only(raw_server):
    seen = []
    server = raw_server(socket_io("ok", seen))
    result = h.probe(params("http://127.0.0.1:%d?probe=1" % server.port, websocket=True, websocket_path="/socket.io/"))
    assert result["ok"] is True, result["msg"]
    assert result["websocket"]["url"] == "http://127.0.0.1:%d/socket.io/" % server.port
    assert [s[0] for s in seen] == ["GET /?probe=1 HTTP/1.1", "GET /socket.io/ HTTP/1.1"]


def test_websocket_timeout(raw_server):
    def silent_upgrade(conn, stop):
        request_line, headers = read_head(conn)
        if headers.get("upgrade"):
            stop.wait(5)
        else:
            conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n")

    server = raw_server(silent_upgrade)
    result = h.probe(params("http://127.0.0.1:%d/" % server.port, websocket=True, timeout=0.3))
    assert kinds(result) == ["websocket"]
    assert result["msg"] == "WebSocket timeout: no answer from '127.0.0.1' within 0.3 s"


# -- the verdict: severity, threshold, status, summary --------------------------------------

GRADE_PARAMS = {"latency_threshold_ms": 5000, "tls_days_threshold": 14, "status_codes": [200, 204]}
URL = "http://127.0.0.1:5000/api/services"


@pytest.mark.parametrize("kind, severity, threshold", [
    ("latency", "warn", 5000), ("tls_expiry", "warn", 14), ("status", "fail", [200, 204]), ("websocket", "fail", 101),
    ("assertion", "fail", None), ("body_regex", "fail", None), ("not_json", "fail", None), ("connection_refused", "fail", None),
    ("connection_reset", "fail", None), ("dns", "fail", None), ("timeout", "fail", None), ("tls", "fail", None),
    ("protocol", "fail", None), ("network", "fail", None), ("error", "fail", None),
])
def test_grade(kind, severity, threshold):
    graded = h.grade({"kind": kind, "value": 1, "message": "m"}, GRADE_PARAMS)
    assert graded == {"kind": kind, "severity": severity, "value": 1, "threshold": threshold, "message": "m"}


def probe_result(kinds, msg=None, status=200):
    alerts = [h.grade({"kind": kind, "value": None, "message": "%s: %s problem" % (URL, kind)}, GRADE_PARAMS)
              for kind in kinds]
    return {"url": URL, "ok": not alerts, "status": status, "latency_ms": 3.2, "attempts": 1, "alerts": alerts,
            "msg": msg or ("; ".join(a["message"] for a in alerts) if alerts else "%s answered 200 in 3 ms" % URL)}


@pytest.mark.parametrize("kinds, status", [
    ([], "pass"),
    (["latency"], "warn"),
    (["tls_expiry"], "warn"),
    (["latency", "tls_expiry"], "warn"),
    (["latency", "status"], "fail"),
    (["tls_expiry", "websocket"], "fail"),
    (["status"], "fail"),
    (["assertion"], "fail"),
    (["not_json"], "fail"),
    (["body_regex"], "fail"),
    (["websocket"], "fail"),
    (["connection_refused"], "fail"),
    (["timeout"], "fail"),
    (["tls"], "fail"),
    (["dns"], "fail"),
])
def test_judge_statuses(kinds, status):
    item = h.judge(probe_result(kinds))
    assert _checklist.validate(item) is item
    assert (item["id"], item["title"]) == ("health", "Health check OK (curl /api/services)")
    assert item["status"] == status and [a["kind"] for a in item["alerts"]] == kinds
    assert item["evidence"]["url"] == URL and item["evidence"]["alerts"] == item["alerts"]


@pytest.mark.parametrize("msg, summary", [
    ("%s answered 200 in 3 ms" % URL, "%s answered 200 in 3 ms" % URL),
    ("connection to '127.0.0.1' refused (nothing listens there?)",
     "%s: connection to '127.0.0.1' refused (nothing listens there?)" % URL),
])
def test_judge_summary_names_the_url(msg, summary):
    assert h.judge(probe_result([], msg=msg))["summary"] == summary


def test_judge_keeps_the_certificate_days_and_the_item_names():
    result = dict(probe_result(["tls_expiry"]), tls_days_left=3.5, websocket={"status": 101})
    item = h.judge(result, item_id="shop", title="Shop")
    assert (item["id"], item["title"]) == ("shop", "Shop")
    assert item["evidence"]["tls_days_left"] == 3.5 and item["evidence"]["websocket"] == {"status": 101}
