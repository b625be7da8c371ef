# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module_utils file is private to the milos_shop.ops collection; it may
# change or go away without notice. Do not use it from other collections.

"""HTTP(S), WebSocket and TLS probes for milos_shop.ops.health_probe, and their verdict (:func:`judge`).

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

from ansible_collections.milos_shop.ops.plugins.module_utils._checklist import make_item

try:
    import jmespath
    import jmespath.exceptions
    import jmespath.functions
    HAS_JMESPATH = True
except ImportError:  # pragma: no cover - depends on the target
    jmespath = None
    HAS_JMESPATH = False

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_BODY = 4 * 1024 * 1024
BODY_CHECKS = ("expect_json", "json_assertions", "return_json", "body_regex")


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
    if isinstance(exc, http.client.RemoteDisconnected):
        return "connection_reset", "%r closed the connection without an answer" % host
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
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise ValueError("url %r has an invalid port: %s" % (url, exc))
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return parts.scheme, parts.hostname, port, path


def _function_calls(node):
    """(name, number of arguments) of every function call in a parsed JMESPath expression."""
    if not isinstance(node, dict):
        return
    if node.get("type") == "function_expression":
        yield node["value"], len(node.get("children") or [])
    for child in node.get("children") or []:
        yield from _function_calls(child)


def _compile_assertions(assertions):
    """[(expression, compiled)]; ValueError naming the entry that is not JMESPath.

    Unknown functions and wrong numbers of arguments are found here too (jmespath
    itself finds them only while evaluating, and only on the branches it visits).
    """
    compiled = []
    if not assertions:
        return compiled  # also without jmespath
    table = jmespath.functions.Functions.FUNCTION_TABLE
    for expression in assertions:
        try:
            program = jmespath.compile(expression)
        except jmespath.exceptions.JMESPathError as exc:
            raise ValueError("json_assertions entry %r is not valid JMESPath: %s" % (expression, exc))
        for name, count in _function_calls(program.parsed):
            if name not in table:
                raise ValueError("json_assertions entry %r is not valid JMESPath: unknown function %s()" % (expression, name))
            signature = table[name]["signature"]
            variadic = bool(signature) and signature[-1].get("variadic", False)
            if count < len(signature) or (count > len(signature) and not variadic):
                raise ValueError("json_assertions entry %r is not valid JMESPath: %s() takes %s%d arguments, got %d"
                                 % (expression, name, "at least " if variadic else "", len(signature), count))
        compiled.append((expression, program))
    return compiled


def check_params(params):
    """Raise ValueError, naming the option and its value, for parameters the probe cannot work with."""
    _target(params["url"])
    for name in ("retries", "backoff", "latency_threshold_ms", "tls_days_threshold"):
        if params[name] < 0:
            raise ValueError("%s must be 0 or more, got %r" % (name, params[name]))
    if params["timeout"] <= 0:
        raise ValueError("timeout must be more than 0, got %r" % params["timeout"])
    codes = params["status_codes"]
    if not codes or any(not 100 <= code <= 599 for code in codes):
        raise ValueError("status_codes must list HTTP status codes (100 to 599), got %r" % codes)
    path = params["websocket_path"]
    if not path.startswith("/") or any(char.isspace() or ord(char) < 32 for char in path):
        raise ValueError("websocket_path must start with / and hold no spaces or control characters, got %r" % path)
    if params["body_regex"]:
        try:
            re.compile(params["body_regex"])
        except re.error as exc:
            raise ValueError("body_regex %r is not a valid regular expression: %s" % (params["body_regex"], exc))
    if params["json_assertions"]:
        if not HAS_JMESPATH:
            raise ValueError("json_assertions need the jmespath Python library")
        _compile_assertions(params["json_assertions"])
    if params["method"] == "HEAD":
        wanted = [name for name in BODY_CHECKS if params[name]]
        if wanted:
            raise ValueError("method='HEAD' gets no body to check: %s need method=GET" % ", ".join(wanted))


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
        conn.connect()
        # Read the certificate now: http.client drops the socket as soon as a server
        # that closes the connection (HTTP/1.0, Connection: close) has answered.
        der = conn.sock.getpeercert(binary_form=True) if scheme == "https" else None
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read(MAX_BODY + 1)
        latency_ms = (time.monotonic() - started) * 1000.0
        return {
            "status": response.status,
            "reason": response.reason,
            "headers": dict((k.lower(), v) for k, v in response.getheaders()),
            "body": data[:MAX_BODY],
            "truncated": len(data) > MAX_BODY,
            "latency_ms": round(latency_ms, 3),
            "cert_not_after": cert_not_after(der) if der else None,
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


def _falsy(value):
    """JMESPath's false values, and 0 (documented as failing an assertion)."""
    if value is None or value is False:
        return True
    if isinstance(value, bool):
        return False
    return value in ([], {}, "", 0)


def evaluate_json(body, assertions):
    """Parse a JSON body and evaluate JMESPath assertions; returns (document, failed, parse_error).

    An expression that is not JMESPath raises ValueError. One that is, but cannot be
    applied to this document (length() of a number, say), does not hold.
    """
    compiled = _compile_assertions(assertions)
    try:
        document = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        return None, [], "body is not JSON: %s" % exc
    failed = []
    for expression, program in compiled:
        try:
            value = program.search(document)
        except jmespath.exceptions.JMESPathError as exc:
            failed.append({"assertion": expression, "value": "%s: %s" % (exc.__class__.__name__, exc)})
            continue
        if _falsy(value):
            failed.append({"assertion": expression, "value": value})
    return document, failed, None


def _check_answer(params, url, answer, result):
    """Alerts about an answer with an expected status: latency, JSON, assertions, body regex."""
    threshold = params["latency_threshold_ms"]
    assertions = params["json_assertions"] or []
    if answer["latency_ms"] > threshold:
        result["alerts"].append({"kind": "latency", "value": answer["latency_ms"],
                                 "message": "%s answered in %.0f ms, over the %d ms threshold" % (url, answer["latency_ms"], threshold)})
    if assertions or params["expect_json"] or params["return_json"]:
        document, failed, error = evaluate_json(answer["body"], assertions)
        if error:
            if assertions or params["expect_json"]:
                result["alerts"].append({"kind": "not_json", "value": None, "message": "%s: %s" % (url, error)})
        else:
            if params["return_json"]:
                result["json"] = document
            for item in failed:
                result["failed_assertions"].append(item["assertion"])
                result["alerts"].append({"kind": "assertion", "value": item["value"],
                                         "message": "%s: JMESPath assertion %r does not hold (got %r)"
                                         % (url, item["assertion"], item["value"])})
    if params["body_regex"] and not re.search(params["body_regex"], answer["body"].decode("utf-8", "replace")):
        result["failed_assertions"].append("body_regex: %s" % params["body_regex"])
        result["alerts"].append({"kind": "body_regex", "value": None,
                                 "message": "%s: body does not match %r" % (url, params["body_regex"])})


def _check_tls(params, host, not_after, result):
    now = datetime.datetime.now(datetime.timezone.utc)
    days = (not_after - now).total_seconds() / 86400.0
    result["tls_days_left"] = round(days, 2)
    result["tls_not_after"] = not_after.isoformat()
    if days < params["tls_days_threshold"]:
        result["alerts"].append({"kind": "tls_expiry", "value": round(days, 2),
                                 "message": "TLS certificate of %s expires in %.1f days (threshold %d)"
                                 % (host, days, params["tls_days_threshold"])})


def _check_websocket(params, url, host, result):
    parts = urlsplit(url)
    ws_url = "%s://%s%s" % (parts.scheme, parts.netloc, params["websocket_path"])
    try:
        status, accept_ok, latency = websocket_once(ws_url, timeout=params["timeout"],
                                                    validate_certs=params["validate_certs"], ca_path=params["ca_path"])
    except Exception as exc:  # pylint: disable=broad-except
        kind, message = classify(exc, host, params["timeout"])
        result["websocket"] = {"url": ws_url, "status": None, "accept_ok": False, "latency_ms": None}
        result["alerts"].append({"kind": "websocket", "value": None, "message": "WebSocket %s: %s" % (kind, message)})
        return
    result["websocket"] = {"url": ws_url, "status": status, "accept_ok": accept_ok, "latency_ms": latency}
    if status != 101:
        result["alerts"].append({"kind": "websocket", "value": status,
                                 "message": "WebSocket upgrade at %s answered %d, expected 101" % (ws_url, status)})
    elif not accept_ok:
        result["alerts"].append({"kind": "websocket", "value": status,
                                 "message": "WebSocket upgrade at %s answered 101 with a wrong Sec-WebSocket-Accept" % ws_url})


def probe(params, sleep=time.sleep):
    """Run the configured checks; return the module result.

    Raises ValueError for parameters it cannot work with (see check_params), never for a failed check.
    """
    check_params(params)
    url = params["url"]
    host = _target(url)[1]
    expected = params["status_codes"]
    result = {"url": url, "ok": False, "status": None, "latency_ms": None, "attempts": 0,
              "failed_assertions": [], "alerts": [], "error": None, "json": None}

    answer = None
    for attempt in range(params["retries"] + 1):
        if attempt:
            sleep(params["backoff"] * (2 ** (attempt - 1)))
        result.update(attempts=attempt + 1, status=None, latency_ms=None, error=None, alerts=[], failed_assertions=[])
        answer = None
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
            wanted = ", ".join(str(code) for code in expected)
            result["alerts"].append({"kind": "status", "value": answer["status"],
                                     "message": "%s answered %d %s, expected %s" % (url, answer["status"], answer["reason"], wanted)})
            continue
        break  # an answer with an expected status: evaluate it below, no retry

    if answer is not None and answer["status"] in expected:
        _check_answer(params, url, answer, result)
    # The certificate's expiry matters whatever the status of the answer.
    if answer is not None and answer["cert_not_after"] is not None:
        _check_tls(params, host, answer["cert_not_after"], result)
    if params["websocket"]:
        _check_websocket(params, url, host, result)

    result["alerts"] = [grade(alert, params) for alert in result["alerts"]]
    result["ok"] = not result["alerts"]
    if result["ok"]:
        result["msg"] = "{0} answered {1} in {2:.0f} ms".format(url, result["status"], result["latency_ms"])
    else:
        result["msg"] = "; ".join(alert["message"] for alert in result["alerts"])
    return result


# -- the verdict ----------------------------------------------------------------

ITEM_ID = "health"
ITEM_TITLE = "Health check OK (curl /api/services)"
# Alerts that slow the shop down or will stop it later, but leave it answering now.
WARN_KINDS = ("latency", "tls_expiry")


def grade(alert, params):
    """The alert with its ``severity`` (warn for latency and a certificate near expiry, else fail) and ``threshold``."""
    kind = alert["kind"]
    thresholds = {"latency": params["latency_threshold_ms"], "tls_expiry": params["tls_days_threshold"],
                  "status": list(params["status_codes"]), "websocket": 101}
    return {"kind": kind, "severity": "warn" if kind in WARN_KINDS else "fail", "value": alert.get("value"),
            "threshold": thresholds.get(kind), "message": alert["message"]}


def judge(result, item_id=ITEM_ID, title=ITEM_TITLE):
    """The ``health`` item of a probe result.

    pass: no alert; warn: only latency or certificate-expiry alerts (the shop
    answers, slowly or not for much longer); fail: anything else (no answer, a
    wrong status, a body or WebSocket that is wrong). The summary names the URL.
    """
    alerts = result["alerts"]
    msg = result["msg"]
    summary = msg if result["url"] in msg else "%s: %s" % (result["url"], msg)
    evidence = {"url": result["url"], "status": result["status"], "latency_ms": result["latency_ms"],
                "attempts": result["attempts"], "websocket": result.get("websocket"), "alerts": alerts}
    if "tls_days_left" in result:
        evidence["tls_days_left"] = result["tls_days_left"]
    status = "pass" if not alerts else ("warn" if all(a["kind"] in WARN_KINDS for a in alerts) else "fail")
    return make_item(item_id, title, status, summary, evidence, alerts)
