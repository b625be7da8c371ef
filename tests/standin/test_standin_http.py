"""The stand-in's HTTP API and its SQLite database, seen from the host.

GET /api/services (what the Docker health check and the guide's monitoring
read), the orders API, the database file on its bind mount in WAL mode, and the
Socket.IO endpoint behind the reverse proxy's WebSocket upgrade.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import re
import socket
import sqlite3
import time
import urllib.error
import urllib.request
import uuid

import pytest

from tests.helpers.standin import Standin, wait_http

pytestmark = pytest.mark.docker

SERVICE_KEYS = {"id", "name", "description", "priceCents"}
SEEDED = ["web-design", "seo-audit", "maintenance", "hosting"]


def wait_log(s: Standin, pattern: str, timeout: float = 10) -> str:
    deadline = time.monotonic() + timeout
    while True:
        logs = s.logs()
        if re.search(pattern, logs, re.M):
            return logs
        if time.monotonic() > deadline:
            raise AssertionError(f"no log line matching {pattern!r} in:\n{logs}")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def shop(docker_engine, tmp_path_factory):
    """A stack of this module's own, for tests that write (orders, services)."""
    s = Standin(tmp_path_factory.mktemp("http"))
    try:
        s.up(wait=False)
        wait_http(s)
        yield s
    finally:
        s.destroy()


def host_write(s: Standin, sql: str, params=()) -> None:
    """Write to the live database from the host, through its bind mount."""
    con = sqlite3.connect(s.db_path, timeout=10)
    try:
        with con:
            con.execute(sql, params)
    finally:
        con.close()


def container_sql(s: Standin, sql: str) -> str:
    """Run SQL with the sqlite3 CLI inside the app container (as uid 1000)."""
    return s.exec("sqlite3", "-cmd", ".timeout 10000", "/app/data/milos_shop.db", sql).stdout


# -- GET /api/services ----------------------------------------------------------


def test_services_answers_json_list_read_from_sqlite(shared_standin):
    status, body, headers = shared_standin.request("/api/services")
    assert status == 200
    assert headers.get_content_type() == "application/json"
    assert isinstance(body, list) and body
    assert all(set(row) == SERVICE_KEYS for row in body)
    rows = shared_standin.query(
        "SELECT id, name, description, price_cents FROM services WHERE active = 1 ORDER BY id")
    assert [(r["id"], r["name"], r["description"], r["priceCents"]) for r in body] == rows
    assert [r["name"] for r in body] == SEEDED


def test_services_reflects_database_changes(shop):
    # A row added inside the container with the sqlite3 CLI appears at once ...
    container_sql(shop, "INSERT INTO services (name, description, price_cents) "
                        "VALUES ('ssl-setup', 'TLS certificate set-up', 4500)")
    status, body, _unused = shop.request("/api/services")
    assert status == 200
    added = [r for r in body if r["name"] == "ssl-setup"]
    assert added and added[0]["priceCents"] == 4500 and added[0]["description"] == "TLS certificate set-up"

    # ... and a change written from the host through the bind mount, too.
    host_write(shop, "UPDATE services SET active = 0 WHERE name = 'ssl-setup'")
    host_write(shop, "UPDATE services SET price_cents = 3100 WHERE name = 'hosting'")
    status, body, _unused = shop.request("/api/services")
    assert status == 200
    names = [r["name"] for r in body]
    assert "ssl-setup" not in names
    assert {r["name"]: r["priceCents"] for r in body}["hosting"] == 3100
    # The app keeps answering after the host wrote to its database.
    assert shop.query("PRAGMA integrity_check") == [("ok",)]


def test_unknown_api_route_is_a_json_404(shared_standin):
    path = f"/api/no-such-route-{uuid.uuid4().hex[:6]}"
    status, body, _unused = shared_standin.request(path)
    assert status == 404
    assert body == {"message": f"no route GET {path}"}


def test_version_names_the_built_dependencies(shared_standin):
    status, body, _unused = shared_standin.request("/api/version")
    assert status == 200
    assert body["name"] == "milos-shop-standin"
    assert body["dependencies"] == {"express": "4.17.1", "express-rate-limit": "6.7.0", "socket.io": "4.5.0"}
    assert re.fullmatch(r"[0-9a-f]{16}", body["sourceHash"])


# -- orders ---------------------------------------------------------------------


def test_post_order_writes_a_row(shop):
    _unused, before, _unused = shop.request("/api/orders/count")
    service_id = shop.request("/api/services")[1][0]["id"]
    customer = f"customer-{uuid.uuid4().hex[:8]}"

    status, order, _unused = shop.request("/api/orders", "POST",
                                          {"customer": customer, "serviceId": service_id, "totalCents": 12345})
    assert status == 201
    assert order["customer"] == customer
    assert order["service_id"] == service_id
    assert order["total_cents"] == 12345
    assert order["source"] == "api"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", order["created_at"])

    # Committed: visible to a separate reader on the host at once.
    rows = shop.query("SELECT customer, service_id, total_cents, source FROM orders WHERE id = ?", (order["id"],))
    assert rows == [(customer, service_id, 12345, "api")]
    assert shop.request("/api/orders/count")[1] == {"count": before["count"] + 1}
    status, latest, _unused = shop.request("/api/orders?limit=1")
    assert status == 200 and latest == [order]

    # An order without a service is fine too.
    status, order2, _unused = shop.request("/api/orders", "POST", {"customer": customer, "totalCents": 0})
    assert status == 201 and order2["service_id"] is None and order2["id"] > order["id"]


@pytest.mark.parametrize("body", [
    {},
    {"totalCents": 100},
    {"customer": "", "totalCents": 100},
    {"customer": 42, "totalCents": 100},
    {"customer": "ann"},
    {"customer": "ann", "totalCents": "100"},
    {"customer": "ann", "totalCents": -1},
    {"customer": "ann", "totalCents": 1.5},
    {"customer": "ann", "totalCents": 100, "serviceId": 999999},
    {"customer": "ann", "totalCents": 100, "serviceId": "web-design"},
    [1, 2],
    "not an object",
], ids=["empty", "no-customer", "empty-customer", "customer-number", "no-total", "total-string",
        "total-negative", "total-float", "unknown-service", "service-name", "array", "string"])
def test_post_order_rejects_bad_input(shop, body):
    before = shop.query("SELECT count(*) FROM orders")[0][0]
    status, res, _unused = shop.request("/api/orders", "POST", body)
    assert status == 400
    assert isinstance(res, dict) and res["message"]
    assert shop.query("SELECT count(*) FROM orders")[0][0] == before


def test_post_order_rejects_a_body_that_is_not_json(shop):
    before = shop.query("SELECT count(*) FROM orders")[0][0]
    req = urllib.request.Request(shop.url + "/api/orders", data=b'{"customer": "ann",', method="POST",
                                 headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(req, timeout=10)
    assert err.value.code == 400
    assert "JSON" in json.loads(err.value.read())["message"]
    assert shop.query("SELECT count(*) FROM orders")[0][0] == before
    # A client's broken body is not a server error.
    logs = wait_log(shop, r"\[info\] POST /api/orders 400 in \d+ms :: .*JSON")
    assert "[error]" not in logs


def test_orders_count_matches_the_database(shop):
    for i in range(3):
        assert shop.request("/api/orders", "POST", {"customer": f"count-{i}", "totalCents": i})[0] == 201
    status, body, _unused = shop.request("/api/orders/count")
    assert status == 200
    assert body == {"count": shop.query("SELECT count(*) FROM orders")[0][0]}
    assert body["count"] >= 3


# -- the database file ------------------------------------------------------------


def test_database_lives_on_the_data_bind_mount(shared_standin):
    info = shared_standin.inspect()
    mounts = {m["Destination"]: m for m in info["Mounts"]}
    data = mounts["/app/data"]
    assert data["Type"] == "bind"
    assert os.path.realpath(data["Source"]) == os.path.realpath(shared_standin.data_dir)
    assert data["RW"] is True
    assert os.path.realpath(mounts["/app/backups"]["Source"]) == os.path.realpath(shared_standin.backup_dir)
    assert os.path.realpath(mounts["/app/migrations"]["Source"]) == os.path.realpath(
        shared_standin.project_dir / "migrations")
    assert "DB_PATH=/app/data/milos_shop.db" in info["Config"]["Env"]

    # The file the app uses is the host's file: same inode through the mount.
    inode = shared_standin.exec("stat", "-c", "%i %u", "/app/data/milos_shop.db").stdout.split()
    st = os.stat(shared_standin.db_path)
    assert inode == [str(st.st_ino), "1000"]
    assert st.st_uid == 1000


def test_database_is_in_wal_mode(shared_standin):
    assert shared_standin.query("PRAGMA journal_mode") == [("wal",)]
    # WAL is persistent in the file header (bytes 18 and 19 are 2 for WAL).
    with open(shared_standin.db_path, "rb") as f:
        header = f.read(100)
    assert header[:16] == b"SQLite format 3\x00"
    assert header[18:20] == b"\x02\x02"
    assert (shared_standin.data_dir / "milos_shop.db-wal").exists()
    assert shared_standin.query("PRAGMA integrity_check") == [("ok",)]
    assert shared_standin.query("PRAGMA user_version") == [(1,)]


# -- WebSocket (Socket.IO) --------------------------------------------------------

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class WebSocket:
    """Just enough of RFC 6455 to speak Engine.IO v4 to the stand-in."""

    def __init__(self, port: int):
        self.key = base64.b64encode(os.urandom(16)).decode()
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.sendall((
            "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{port}\r\n"
            "Upgrade: websocket\r\n"
            "Connection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {self.key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n").encode())
        raw = b""
        while b"\r\n\r\n" not in raw:
            chunk = self.sock.recv(4096)
            assert chunk, f"connection closed during the handshake: {raw!r}"
            raw += chunk
        head, self.buf = raw.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        self.status_line = lines[0]
        self.headers = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:])}

    def _read(self, n: int) -> bytes:
        while len(self.buf) < n:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("websocket closed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv(self) -> tuple[int, bytes]:
        b0, b1 = self._read(2)
        assert b1 & 0x80 == 0, "frames from the server must not be masked"
        length = b1 & 0x7F
        if length == 126:
            length = int.from_bytes(self._read(2), "big")
        elif length == 127:
            length = int.from_bytes(self._read(8), "big")
        return b0 & 0x0F, self._read(length)

    def recv_text(self) -> str:
        while True:
            opcode, data = self.recv()
            if opcode == 1:
                return data.decode()

    def send(self, payload: bytes, opcode: int = 1) -> None:
        mask = os.urandom(4)
        assert len(payload) < 126
        frame = bytes([0x80 | opcode, 0x80 | len(payload)]) + mask
        self.sock.sendall(frame + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def close(self) -> None:
        try:
            self.send((1000).to_bytes(2, "big"), opcode=8)
            self.sock.settimeout(5)
            while self.recv()[0] != 8:
                pass
        except (OSError, ConnectionError):
            pass
        finally:
            self.sock.close()


def test_websocket_upgrade_answers_101(shared_standin):
    ws = WebSocket(shared_standin.port)
    try:
        assert ws.status_line.startswith("HTTP/1.1 101 ")
        assert ws.headers["upgrade"].lower() == "websocket"
        assert ws.headers["connection"].lower() == "upgrade"
        expected = base64.b64encode(hashlib.sha1((ws.key + WS_GUID).encode()).digest()).decode()
        assert ws.headers["sec-websocket-accept"] == expected
        # Engine.IO's open packet follows at once on the upgraded connection.
        packet = ws.recv_text()
        assert packet.startswith("0")
        opened = json.loads(packet[1:])
        assert opened["sid"] and opened["pingInterval"] > 0 and opened["upgrades"] == []
    finally:
        ws.close()


def test_websocket_without_upgrade_headers_is_not_upgraded(shared_standin):
    conn = http.client.HTTPConnection("127.0.0.1", shared_standin.port, timeout=10)
    try:
        conn.request("GET", "/socket.io/?EIO=4&transport=websocket")
        res = conn.getresponse()
        res.read()
        assert res.status == 400
    finally:
        conn.close()


def test_socketio_client_connects_and_receives_order_events(shop):
    ws = WebSocket(shop.port)
    try:
        assert ws.status_line.startswith("HTTP/1.1 101 ")
        assert ws.recv_text().startswith("0{")
        ws.send(b"40")  # Socket.IO CONNECT to the main namespace
        connected = ws.recv_text()
        assert connected.startswith("40{")
        sid = json.loads(connected[2:])["sid"]
        wait_log(shop, rf"^\S+ \[info\] websocket connected {re.escape(sid)}$")

        status, order, _unused = shop.request("/api/orders", "POST", {"customer": "ws-watcher", "totalCents": 700})
        assert status == 201
        event = ws.recv_text()
        assert event.startswith("42")
        name, payload = json.loads(event[2:])
        assert name == "order:created" and payload == order
    finally:
        ws.close()
    wait_log(shop, rf"^\S+ \[info\] websocket disconnected {re.escape(sid)} \(.+\)$")
