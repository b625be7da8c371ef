"""A throw-away PostgreSQL server on loopback for one test session.

initdb into a temporary directory (owned by the `postgres` system user, since
the server refuses to run as root), listen on 127.0.0.1 at a free port with
password authentication, and a database `milos_shop` owned by `milos`.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import time
from pathlib import Path

from tests.helpers.standin import free_port


def pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise FileNotFoundError(f"{name} not found under /usr/lib/postgresql: run ./scripts/setup")
    return found[-1]


class Postgres:
    user = "milos"
    password = "milos-test-password-5b1e"
    database = "milos_shop"

    def __init__(self, base: Path):
        self.base = base
        self.datadir = base / "pgdata"
        self.port = free_port()
        self.host = "127.0.0.1"
        self._pw = pwd.getpwnam("postgres")

    def _as_postgres(self, *cmd: str, check: bool = True, **kw) -> subprocess.CompletedProcess:
        return subprocess.run(["runuser", "-u", "postgres", "--", *cmd], capture_output=True, text=True, check=check, **kw)

    def start(self) -> "Postgres":
        self.base.mkdir(parents=True, exist_ok=True)
        os.chown(self.base, self._pw.pw_uid, self._pw.pw_gid)
        pwfile = self.base / "pwfile"
        pwfile.write_text("superuser-test-password\n")
        os.chown(pwfile, self._pw.pw_uid, self._pw.pw_gid)
        pwfile.chmod(0o600)
        self._as_postgres(pg_bin("initdb"), "-D", str(self.datadir), "-U", "postgres", "--auth=scram-sha-256",
                          f"--pwfile={pwfile}", "-E", "UTF8", "--locale=C")
        self._as_postgres(pg_bin("pg_ctl"), "-D", str(self.datadir), "-w", "-t", "60", "-l", str(self.base / "server.log"),
                          "-o", f"-c listen_addresses={self.host} -c port={self.port} -c unix_socket_directories={self.base}",
                          "start")
        env = dict(os.environ, PGPASSWORD="superuser-test-password")
        psql = [pg_bin("psql"), "-h", self.host, "-p", str(self.port), "-U", "postgres", "-v", "ON_ERROR_STOP=1", "-q"]
        subprocess.run([*psql, "-c", f"CREATE ROLE {self.user} LOGIN PASSWORD '{self.password}'"], env=env, check=True,
                       capture_output=True)
        subprocess.run([*psql, "-c", f"CREATE DATABASE {self.database} OWNER {self.user}"], env=env, check=True,
                       capture_output=True)
        return self

    def psql(self, sql: str, database: str | None = None) -> str:
        env = dict(os.environ, PGPASSWORD=self.password)
        res = subprocess.run([pg_bin("psql"), "-h", self.host, "-p", str(self.port), "-U", self.user, "-d", database or self.database,
                              "-v", "ON_ERROR_STOP=1", "-qtA", "-c", sql], env=env, capture_output=True, text=True, check=True)
        return res.stdout.strip()

    def stop(self) -> None:
        if self.datadir.exists():
            self._as_postgres(pg_bin("pg_ctl"), "-D", str(self.datadir), "-m", "fast", "-w", "stop", check=False)
        deadline = time.monotonic() + 10
        while (self.datadir / "postmaster.pid").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        shutil.rmtree(self.base, ignore_errors=True)
