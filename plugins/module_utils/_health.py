# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module_utils file is private to the milos_shop.ops collection; it may
# change or go away without notice. Do not use it from other collections.

"""HTTP(S), WebSocket and TLS probes for milos_shop.ops.health_probe.

Standard library only (http.client, socket, ssl), so the probe runs on any
target. JMESPath assertions need the optional ``jmespath`` library.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import http.client
import json
import os
import re
import socket
import ssl
import tempfile
import time

from urllib.parse import urlsplit

try:
    import jmespath
    HAS_JMESPATH = True
except ImportError:  # pragma: no cover - depends on the target
    jmespath = None
    HAS_JMESPATH = False

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_BODY = 4 * 1024 * 1024


class ProbeError(Exception):
    """A probe failed before an HTTP status was read; kind names what happened."""

    def __init__(self, kind, message):
        super(ProbeError, self).__init__(message)
        self.kind = kind
        self.message = message


def classify(exc, host, timeout):
    """Turn a transport exception into (kind, message) an operator can act on."""
    if isinstance(exc, ProbeError):
        return exc.kind, exc.message
    if isinstance(exc, socket.gaierror):
        return "dns", "cannot resolve host %r: %s" % (host, exc.strerror or exc)
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timeout", "no answer from %r within %s s" % (host, timeout)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return "tls", "TLS certificate of %r not accepted: %s" % (host, exc.verify_message or exc)
    if isinstance(exc, ssl.SSLError):
        return "tls", "TLS handshake with %r failed: %s" % (host, exc)
    if isinstance(exc, ConnectionRefusedError):
        return "connection_refused", "connection to %r refused (nothing listens there?)" % host
    if isinstance(exc, ConnectionResetError):
        return "connection_reset", "connection to %r reset by the peer" % host
    if isinstance(exc, http.client.HTTPException):
        return "protocol", "invalid HTTP answer from %r: %s" % (host, exc.__class__.__name__)
    if isinstance(exc, OSError):
        return "network", "cannot reach %r: %s" % (host, exc.strerror or exc)
    return "error", "%s: %s" % (exc.__class__.__name__, exc)


def _target(url):
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError("url %r must start with http:// or https://" % url)
    if not parts.hostname:
        raise ValueError("url %r has no host" % url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return parts.scheme, parts.hostname, port, path


def _ssl_context(validate_certs, ca_path):
    ctx = ssl.create_default_context(cafile=ca_path) if validate_certs else ssl._create_unverified_context()
    if not validate_certs:
        ctx.check_hostname = False
    return ctx


def cert_not_after(der):
    """Expiry time (aware UTC datetime) of a DER certificate."""
    try:
        from cryptography import x509
        cert = x509.load_der_x509_certificate(der)
        value = getattr(cert, "not_valid_after_utc", None) or cert.not_valid_after.replace(tzinfo=datetime.timezone.utc)
        return value
    except ImportError:
        pass
    # Without cryptography: let the ssl module decode it (a PEM file is needed).
    fd, path = tempfile.mkstemp(suffix=".pem")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(ssl.DER_cert_to_PEM_cert(der))
        decoded = ssl._ssl._test_decode_cert(path)  # pylint: disable=protected-access
    finally:
        os.unlink(path)
    return datetime.datetime.fromtimestamp(ssl.cert_time_to_seconds(decoded["notAfter"]), datetime.timezone.utc)


def http_once(url, method="GET", headers=None, body=None, timeout=10.0, validate_certs=True, ca_path=None):
    """One request. Returns a dict with status, headers, body (bytes), latency_ms, cert_not_after."""
    scheme, host, port, path = _target(url)
    started = time.monotonic()
    if scheme == "https":
        conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=_ssl_context(validate_certs, ca_path))
    else:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read(MAX_BODY + 1)
        latency_ms = (time.monotonic() - started) * 1000.0
        not_after = None
        if scheme == "https" and conn.sock is not None:
            der = conn.sock.getpeercert(binary_form=True)
            if der:
                not_after = cert_not_after(der)
        return {
            "status": response.status,
            "reason": response.reason,
            "headers": dict((k.lower(), v) for k, v in response.getheaders()),
            "body": data[:MAX_BODY],
            "truncated": len(data) > MAX_BODY,
            "latency_ms": round(latency_ms, 3),
            "cert_not_after": not_after,
        }
    finally:
        conn.close()


def websocket_once(url, timeout=10.0, validate_certs=True, ca_path=None):
    """Send a WebSocket upgrade request; returns (status, accept_ok, latency_ms)."""
    scheme, host, port, path = _target(url)
    key = base64.b64encode(os.urandom(16)).decode("ascii")
    expected = base64.b64encode(hashlib.sha1((key + WS_GUID).encode("ascii")).digest()).decode("ascii")
    request = (
        "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % (path, host, port, key)
    )
    started = time.monotonic()
    sock = socket.create_connection((host, port), timeout=timeout)
    try:
        if scheme == "https":
            sock = _ssl_context(validate_certs, ca_path).wrap_socket(sock, server_hostname=host)
        sock.sendall(request.encode("ascii"))
        data = b""
        while b"\r\n\r\n" not in data and len(data) < 65536:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    finally:
        sock.close()
    latency_ms = round((time.monotonic() - started) * 1000.0, 3)
    head = data.split(b"\r\n\r\n", 1)[0].decode("iso-8859-1")
    lines = head.split("\r\n")
    match = re.match(r"HTTP/1\.[01] (\d{3})", lines[0] if lines else "")
    if not match:
        raise ProbeError("protocol", "no HTTP answer to the WebSocket upgrade from %r" % host)
    headers = dict((k.strip().lower(), v.strip()) for k, _sep, v in (line.partition(":") for line in lines[1:]))
    return int(match.group(1)), headers.get("sec-websocket-accept") == expected, latency_ms


def evaluate_json(body, assertions):
    """Parse a JSON body and evaluate JMESPath assertions; returns (document, failed, parse_error)."""
    try:
        document = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        return None, [], "body is not JSON: %s" % exc
    failed = []
    for expression in assertions:
        try:
            value = jmespath.search(expression, document)
        except jmespath.exceptions.JMESPathError as exc:
            raise ValueError("json_assertions entry %r is not valid JMESPath: %s" % (expression, exc))
        if value in (None, False, [], {}, "", 0):
            failed.append({"assertion": expression, "value": value})
    return document, failed, None


def probe(params, sleep=time.sleep):
    """Run the configured checks; return the module result (never raises for a failed check)."""
    url = params["url"]
    _scheme, host, _port, _path = _target(url)
    expected = params["status_codes"]
    threshold = params["latency_threshold_ms"]
    assertions = params["json_assertions"] or []
    regex = re.compile(params["body_regex"]) if params["body_regex"] else None
    attempts = params["retries"] + 1
    result = {"url": url, "ok": False, "status": None, "latency_ms": None, "attempts": 0,
              "failed_assertions": [], "alerts": [], "error": None, "json": None}

    for attempt in range(attempts):
        if attempt:
            sleep(params["backoff"] * (2 ** (attempt - 1)))
        result.update(attempts=attempt + 1, status=None, latency_ms=None, error=None, alerts=[], failed_assertions=[])
        try:
            answer = http_once(url, method=params["method"], headers=params["headers"], timeout=params["timeout"],
                               validate_certs=params["validate_certs"], ca_path=params["ca_path"])
        except Exception as exc:  # pylint: disable=broad-except
            kind, message = classify(exc, host, params["timeout"])
            result["error"] = {"kind": kind, "message": message}
            result["alerts"].append({"kind": kind, "message": message, "value": None})
            continue
        result.update(status=answer["status"], latency_ms=answer["latency_ms"])
        if answer["status"] not in expected:
            result["alerts"].append({"kind": "status", "value": answer["status"],
                                     "message": "%s answered %d %s, expected %s" % (url, answer["status"], answer["reason"],
                                                                                  ", ".join(str(c) for c in expected))})
            continue
        break  # an answer with an expected status: evaluate it below, no retry

    if result["status"] in expected:
        if answer["latency_ms"] > threshold:
            result["alerts"].append({"kind": "latency", "value": answer["latency_ms"],
                                     "message": "%s answered in %.0f ms, over the %d ms threshold" % (url, answer["latency_ms"], threshold)})
        if assertions or params["expect_json"]:
            document, failed, error = evaluate_json(answer["body"], assertions)
            if error:
                result["alerts"].append({"kind": "not_json", "value": None, "message": "%s: %s" % (url, error)})
            else:
                if params["return_json"]:
                    result["json"] = document
                for item in failed:
                    result["failed_assertions"].append(item["assertion"])
                    result["alerts"].append({"kind": "assertion", "value": item["value"],
                                             "message": "%s: JMESPath assertion %r does not hold (got %r)"
                                             % (url, item["assertion"], item["value"])})
        if regex and not regex.search(answer["body"].decode("utf-8", "replace")):
            result["failed_assertions"].append("body_regex: %s" % params["body_regex"])
            result["alerts"].append({"kind": "body_regex", "value": None,
                                     "message": "%s: body does not match %r" % (url, params["body_regex"])})
        if answer["cert_not_after"] is not None:
            now = datetime.datetime.now(datetime.timezone.utc)
            days = (answer["cert_not_after"] - now).total_seconds() / 86400.0
            result["tls_days_left"] = round(days, 2)
            result["tls_not_after"] = answer["cert_not_after"].isoformat()
            if days < params["tls_days_threshold"]:
                result["alerts"].append({"kind": "tls_expiry", "value": round(days, 2),
                                         "message": "TLS certificate of %s expires in %.1f days (threshold %d)"
                                         % (host, days, params["tls_days_threshold"])})

    if params["websocket"]:
        ws_url = url.split("://", 1)[0] + "://" + url.split("://", 1)[1].split("/", 1)[0] + params["websocket_path"]
        try:
            status, accept_ok, latency = websocket_once(ws_url, timeout=params["timeout"],
                                                        validate_certs=params["validate_certs"], ca_path=params["ca_path"])
            result["websocket"] = {"url": ws_url, "status": status, "accept_ok": accept_ok, "latency_ms": latency}
            if status != 101 or not accept_ok:
                result["alerts"].append({"kind": "websocket", "value": status,
                                         "message": "WebSocket upgrade at %s answered %d%s, expected 101"
                                         % (ws_url, status, "" if accept_ok or status != 101 else " with a wrong Sec-WebSocket-Accept")})
        except Exception as exc:  # pylint: disable=broad-except
            kind, message = classify(exc, host, params["timeout"])
            result["websocket"] = {"url": ws_url, "status": None, "accept_ok": False, "latency_ms": None}
            result["alerts"].append({"kind": "websocket", "value": None, "message": "WebSocket %s: %s" % (kind, message)})

    result["ok"] = not result["alerts"]
    if result["ok"]:
        result["msg"] = "%s answered %d in %.0f ms" % (url, result["status"], result["latency_ms"])
    else:
        result["msg"] = "; ".join(alert["message"] for alert in result["alerts"])
    return result
