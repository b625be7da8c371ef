"""A throw-away copy of the stand-in Milos-Shop for one test.

Each instance is its own Compose project (unique project and container name,
a free loopback port, its own data and backup directories in a temporary
directory), so tests never touch the demo stack or each other, also when
pytest-xdist runs them in several processes at once (see free_port()).

Docker runs the stand-in's health check every MILOS_SHOP_HEALTH_INTERVAL
(HEALTH_INTERVAL below, 2 s unless the environment says otherwise; the demo
keeps 5 s), so `compose up --wait` returns about an interval after the start;
MILOS_SHOP_HEALTH_RETRIES misses in a row (HEALTH_RETRIES, 5; the demo's 3)
make it unhealthy, about as late as the demo's 3 misses at 5 s.
"""

from __future__ import annotations

import errno
import fcntl
import http.client
import json
import os
import random
import shutil
import socket
import sqlite3
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STANDIN_SRC = ROOT / "demo" / "milos-shop"
APP_UID = 1000
# Compose projects created in this process (checked for leftovers at the end of the run).
PROJECTS: set[str] = set()
# How often Docker runs the stand-in's health check in tests (the compose file's
# MILOS_SHOP_HEALTH_INTERVAL; tests/conftest.py puts it in the environment too,
# so stacks that roles and Molecule start get it as well).
HEALTH_INTERVAL = os.environ.get("MILOS_SHOP_HEALTH_INTERVAL") or "2s"
HEALTH_RETRIES = os.environ.get("MILOS_SHOP_HEALTH_RETRIES") or "5"

# Ports handed out by free_port(), each with its lock file held open by this process.
_RESERVED: dict[int, object] = {}
PORT_LOCK_DIR = Path(os.environ.get("MILOS_TEST_PORT_LOCK_DIR", "/tmp/milos-shop-ops-test-ports"))


def _port_range() -> range:
    """Ports below the kernel's ephemeral range: no outgoing connection takes one meanwhile."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    return range(20000, low) if low > 21000 else range(10000, 20000)


def free_port() -> int:
    """A loopback port that is free now and that no other test process will pick.

    A port the kernel hands out for port 0 may be handed out again to another
    process (another xdist worker, another run on this machine) before Docker
    binds it, and an outgoing connection may take it as its source port. So pick
    from below the ephemeral range, and reserve each port with an flock on a file
    in PORT_LOCK_DIR, held for this process's lifetime: every process that uses
    this function skips ports another one holds, and the lock goes with the
    process, however it ends.
    """
    PORT_LOCK_DIR.mkdir(mode=0o1777, parents=True, exist_ok=True)
    candidates = _port_range()
    for dummy in range(500):
        port = random.choice(candidates)
        if port in _RESERVED:
            continue
        lock = open(PORT_LOCK_DIR / str(port), "a", encoding="ascii")  # noqa: SIM115 (held open on purpose)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.close()
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                lock.close()
                continue
        _RESERVED[port] = lock
        return port
    raise RuntimeError(f"no free loopback port found in {candidates}")


class ComposeError(subprocess.CalledProcessError):
    """A failed `docker compose` command that says what Compose said."""

    def __str__(self) -> str:
        said = (self.stderr or self.stdout or "").strip()[-3000:]
        return f"{super().__str__()}\n{said}"


def _port_taken(err: subprocess.CalledProcessError) -> bool:
    text = f"{err.stdout or ''}{err.stderr or ''}".lower()
    return "port is already allocated" in text or "address already in use" in text or \
        os.strerror(errno.EADDRINUSE).lower() in text


class Standin:
    """One stand-in stack. Use as a context manager or call up()/destroy()."""

    def __init__(self, base: Path, app_env: dict | None = None):
        self.id = uuid.uuid4().hex[:8]
        self.project = f"milos-test-{self.id}"
        PROJECTS.add(self.project)
        self.container = f"milos-shop-test-{self.id}"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.project_dir = base / self.project
        self.data_dir = self.project_dir / "data"
        self.backup_dir = self.project_dir / "backups"
        self.db_path = self.data_dir / "milos_shop.db"
        self.app_env = {
            "NODE_ENV": "production",
            "LOG_LEVEL": "info",
            "SENTRY_DSN": "",
            "FAULTS_ENABLED": "true",
            "RATE_LIMIT_MAX": "600",
        }
        self.app_env.update(app_env or {})
        self._write_project()

    # -- project files ---------------------------------------------------
    def _write_project(self) -> None:
        self.project_dir.mkdir(parents=True)
        shutil.copy(STANDIN_SRC / "docker-compose.yml", self.project_dir)
        shutil.copytree(STANDIN_SRC / "migrations", self.project_dir / "migrations")
        # db:generate (run as the app user) writes new migrations here.
        os.chown(self.project_dir / "migrations", APP_UID, APP_UID)
        for d in (self.data_dir, self.backup_dir):
            d.mkdir(mode=0o750)
            os.chown(d, APP_UID, APP_UID)
        self.write_env()

    def write_env(self) -> None:
        """Write the project's .env: compose interpolation and the app's environment."""
        env = {
            "MILOS_SHOP_CONTAINER": self.container,
            "MILOS_SHOP_PORT": str(self.port),
            "MILOS_SHOP_DATA_DIR": str(self.data_dir),
            "MILOS_SHOP_BACKUP_DIR": str(self.backup_dir),
            "MILOS_SHOP_HEALTH_INTERVAL": HEALTH_INTERVAL,
            "MILOS_SHOP_HEALTH_RETRIES": HEALTH_RETRIES,
            **self.app_env,
        }
        env_file = self.project_dir / ".env"
        env_file.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
        env_file.chmod(0o600)

    # -- compose -----------------------------------------------------------
    def compose(self, *args: str, check: bool = True, timeout: int = 180) -> subprocess.CompletedProcess:
        res = subprocess.run(
            ["docker", "compose", "-p", self.project, *args],
            cwd=self.project_dir, check=False, capture_output=True, text=True, timeout=timeout,
        )
        if check and res.returncode != 0:
            raise ComposeError(res.returncode, res.args, res.stdout, res.stderr)
        return res

    def up(self, wait: bool = True) -> "Standin":
        for attempt in range(3):
            try:
                self.compose("up", "-d", *(["--wait", "--wait-timeout", "90"] if wait else []))
                return self
            except subprocess.CalledProcessError as err:
                if wait and "is unhealthy" in f"{err.stdout}{err.stderr}":
                    # Health checks that timed out on a loaded machine: Docker goes on
                    # checking, and one that passes makes the container healthy again.
                    self.wait_health("healthy", timeout=90)
                    return self
                # Something outside the tests' reservations took the port meanwhile: take another.
                if attempt == 2 or not _port_taken(err):
                    raise
                self.compose("down", "-v", "--remove-orphans", "-t", "0", check=False)
                self.port = free_port()
                self.url = f"http://127.0.0.1:{self.port}"
                self.write_env()
        return self

    def destroy(self) -> None:
        self.compose("down", "-v", "--remove-orphans", "-t", "5", check=False)
        shutil.rmtree(self.project_dir, ignore_errors=True)

    def __enter__(self) -> "Standin":
        return self.up()

    def __exit__(self, *exc) -> None:
        self.destroy()

    # -- container ---------------------------------------------------------
    def inspect(self) -> dict:
        out = subprocess.run(["docker", "inspect", self.container], capture_output=True, text=True, check=True)
        return json.loads(out.stdout)[0]

    def health(self) -> str | None:
        state = self.inspect()["State"]
        return (state.get("Health") or {}).get("Status")

    def wait_health(self, status: str = "healthy", timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.health() == status:
                    return
            except subprocess.CalledProcessError:
                pass
            time.sleep(0.5)
        raise TimeoutError(f"{self.container} did not become {status} within {timeout}s (now {self.health()})")

    def logs(self, since: str | None = None) -> str:
        cmd = ["docker", "logs", self.container] + (["--since", since] if since else [])
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        return out.stdout + out.stderr

    def exec(self, *cmd: str, check: bool = True, timeout: int = 120) -> subprocess.CompletedProcess:
        return subprocess.run(["docker", "exec", self.container, *cmd],
                              capture_output=True, text=True, check=check, timeout=timeout)

    # -- HTTP and database ---------------------------------------------------
    def request(self, path: str, method: str = "GET", body=None, timeout: float = 15, headers=None):
        """Return (status, parsed JSON or text, headers); never raises on HTTP errors."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers or {})
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as res:
                status, raw, hdrs = res.status, res.read(), res.headers
        except urllib.error.HTTPError as err:
            status, raw, hdrs = err.code, err.read(), err.headers
        text = raw.decode("utf-8", "replace")
        try:
            return status, json.loads(text), hdrs
        except ValueError:
            return status, text, hdrs

    def query(self, sql: str, params=()) -> list[tuple]:
        """Read the live database from the host, read-only, the way an operator would."""
        con = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=10)
        try:
            return con.execute(sql, params).fetchall()
        finally:
            con.close()


def wait_http(s: Standin, timeout: float = 60) -> None:
    """Wait until the app answers GET /api/services with 200 (no Docker health wait)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if s.request("/api/services", timeout=2)[0] == 200:
                return
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{s.container} did not answer within {timeout}s")


def started(standin_factory, **env) -> Standin:
    """A stack of the test's own, serving (without waiting for Docker health)."""
    s = standin_factory(app_env=env, up=False)
    s.up(wait=False)
    wait_http(s)
    return s
