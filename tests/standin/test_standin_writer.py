"""The steady writer (npm run writer): one order per transaction at a fixed rate.

Each transaction also bumps writer_state.last_seq, so any consistent snapshot
of the live database holds exactly last_seq writer rows numbered 1..last_seq.
That is what a backup taken during writes must show.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time
import uuid

import pytest

from tests.helpers.standin import APP_UID, Standin, wait_http

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def shop(docker_engine, tmp_path_factory):
    s = Standin(tmp_path_factory.mktemp("writer"))
    try:
        s.up(wait=False)
        wait_http(s)
        yield s
    finally:
        s.destroy()


def run_state(con: sqlite3.Connection, run_id: str) -> dict:
    """What one database (live or a snapshot) holds of one writer run."""
    last = con.execute("SELECT last_seq FROM writer_state WHERE run_id = ?", (run_id,)).fetchone()
    rows, lo, hi, distinct = con.execute(
        "SELECT count(*), min(seq), max(seq), count(DISTINCT seq) FROM orders "
        "WHERE source = 'writer' AND customer = ?", (run_id,)).fetchone()
    return {"last_seq": last[0] if last else None, "rows": rows, "min": lo, "max": hi, "distinct": distinct}


def live_state(s: Standin, run_id: str) -> dict:
    con = sqlite3.connect(f"file:{s.db_path}?mode=ro", uri=True, timeout=10)
    try:
        return run_state(con, run_id)
    finally:
        con.close()


def assert_consistent(state: dict) -> None:
    n = state["last_seq"]
    assert n is not None
    assert state["rows"] == n, state
    assert state["distinct"] == n, state
    if n:
        assert (state["min"], state["max"]) == (1, n), state


def test_writer_commits_at_the_requested_rate(shop):
    run_id = f"fg-{uuid.uuid4().hex[:6]}"
    res = shop.exec("node", "dist/writer.js", "--rate", "100", "--duration", "3",
                    "--stats", "/app/data/w.json", "--run-id", run_id, timeout=60)
    first, last = res.stdout.splitlines()
    assert json.loads(first)["run_id"] == run_id and json.loads(first)["rate"] == 100

    stats_file = shop.data_dir / "w.json"
    assert stats_file.stat().st_uid == APP_UID
    stats = json.loads(stats_file.read_text())
    assert stats == json.loads(last)
    assert stats["run_id"] == run_id
    assert 200 <= stats["commits"] <= 330
    assert stats["errors"] == 0 and stats["last_error"] is None
    assert 3 <= stats["seconds"] < 5
    lat = stats["latency_ms"]
    assert 0 < lat["p50"] <= lat["p99"] <= lat["max"]

    state = live_state(shop, run_id)
    assert_consistent(state)
    assert state["last_seq"] == stats["commits"]


def test_snapshots_taken_during_writes_are_consistent(shop, tmp_path):
    run_id = f"bg-{uuid.uuid4().hex[:6]}"
    # `exec` keeps the writer's pid so that the test can stop it like an operator would.
    proc = subprocess.Popen(
        ["docker", "exec", shop.container, "sh", "-c",
         f"echo $$ > /tmp/writer.pid && exec node dist/writer.js --rate 200 --run-id {run_id}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while not shop.query("SELECT 1 FROM writer_state WHERE run_id = ? AND last_seq > 0", (run_id,)):
            assert time.monotonic() < deadline, "the writer did not start"
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.1)

        seen = []
        for i in range(6):
            time.sleep(0.3)
            # The host's online backup of the live database, through the bind mount.
            src = sqlite3.connect(f"file:{shop.db_path}?mode=ro", uri=True, timeout=10)
            dst = sqlite3.connect(tmp_path / f"snap{i}.db")
            try:
                src.backup(dst)
                assert dst.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
                state = run_state(dst, run_id)
            finally:
                src.close()
                dst.close()
            assert_consistent(state)
            seen.append(state["last_seq"])
        assert seen == sorted(seen) and seen[-1] > seen[0] > 0
    finally:
        shop.exec("sh", "-c", "kill -TERM $(cat /tmp/writer.pid)", check=False)
        out, err = proc.communicate(timeout=30)

    # SIGTERM ends the run cleanly with its stats.
    assert proc.returncode == 0, err
    stats = json.loads(out.splitlines()[-1])
    assert stats["run_id"] == run_id and stats["errors"] == 0
    assert stats["commits"] >= seen[-1]
    final = live_state(shop, run_id)
    assert_consistent(final)
    assert final["last_seq"] == stats["commits"]
