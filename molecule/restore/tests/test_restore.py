"""Testinfra checks of role milos_shop.ops.restore after converge (and a check-mode run before and after it)."""

import json
import os
import re

EPHEMERAL = os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]
DATABASE = os.path.join(EPHEMERAL, "project", "data", "milos_shop.db")
BACKUPS = os.path.join(EPHEMERAL, "backups")
PRE_RESTORE = os.path.join(BACKUPS, "pre-restore")
CONTAINER = "milos-shop-molecule-restore"
PORT = "15097"
COPY_NAME = re.compile(r"^milos_shop\.db\.pre-restore-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d$")


def prepared(host):
    """What prepare.yml recorded: order counts at backup time and before the restore, the database before it."""
    return json.loads(host.file(f"{EPHEMERAL}/prepared.json").content_string)


def pre_restore_copies(host):
    """The pre-restore copies of the database (without their -wal/-shm/-journal files)."""
    return sorted(n for n in host.check_output("ls -1A %s", PRE_RESTORE).split() if COPY_NAME.match(n))


def birth(host, path):
    """Creation time of a file in nanoseconds (statx), to tell a new file from an old one under the same name."""
    seconds, fraction = host.check_output("stat -c %%.9W %s", path).split(".")
    return int(seconds) * 10**9 + int(fraction)


def test_live_database_keeps_owner_and_mode(host):
    db = host.file(DATABASE)
    assert db.is_file
    assert (db.uid, db.gid) == (1000, 1000)
    assert db.mode == int(prepared(host)["db_mode"], 8)


def test_live_database_is_a_new_file(host):
    # Put in place by a rename, not written over the old file.
    assert host.file(DATABASE).inode != prepared(host)["db_inode"]


def test_no_side_files_from_before_the_restore(host):
    # The app opened the restored database in WAL mode, so -wal and -shm may exist
    # again, but only as files created after the pre-restore copy was taken.
    copy = birth(host, f"{PRE_RESTORE}/{pre_restore_copies(host)[0]}")
    assert birth(host, DATABASE) > copy
    for suffix in ("-wal", "-shm", "-journal"):
        side = host.file(DATABASE + suffix)
        if side.exists:
            assert birth(host, side.path) > copy, f"{side.path} is older than the restore"


def test_orders_are_those_of_the_backup(host):
    body = host.check_output("curl -fsS http://127.0.0.1:%s/api/orders/count", PORT)
    assert json.loads(body)["count"] == prepared(host)["orders_at_backup"]


def test_live_database_passes_integrity_check(host):
    assert host.check_output("sqlite3 -readonly %s 'PRAGMA integrity_check'", DATABASE) == "ok"


def test_one_private_pre_restore_copy(host):
    # converge kept one copy; the check runs before and after it kept none.
    assert len(pre_restore_copies(host)) == 1
    directory = host.file(PRE_RESTORE)
    assert directory.is_directory and directory.mode == 0o700
    for name in host.check_output("ls -1A %s", PRE_RESTORE).split():
        f = host.file(f"{PRE_RESTORE}/{name}")
        assert f.is_file
        assert f.user == "root" and f.group == "root"
        assert f.mode == 0o600


def test_pre_restore_copy_holds_the_later_orders(host):
    # Counted in a scratch copy (with its -wal/-shm, if any), so that the copy itself is never opened.
    copy = pre_restore_copies(host)[0]
    scratch = host.check_output("mktemp -d")
    try:
        host.check_output("cp -p %s/%s* %s/", PRE_RESTORE, copy, scratch)
        count = host.check_output("sqlite3 -readonly %s 'SELECT count(*) FROM orders'", f"{scratch}/{copy}")
    finally:
        host.run("rm -rf %s", scratch)
    assert int(count) == prepared(host)["orders_before_restore"] > prepared(host)["orders_at_backup"]


def test_no_temporary_files_left(host):
    data = host.check_output("ls -1A %s", os.path.dirname(DATABASE)).split()
    assert not [n for n in data if n.startswith(".")]
    assert not [n for n in host.check_output("ls -1A %s", PRE_RESTORE).split() if n.startswith(".")]


def test_backup_left_as_it_was(host):
    names = host.check_output("ls -1A %s", BACKUPS).split()
    backups = [n for n in names if n.endswith(".db.gz")]
    assert len(backups) == 1
    assert sorted(names) == sorted([backups[0], backups[0] + ".manifest.json", "pre-restore"])


def test_container_running_and_healthy(host):
    assert host.docker(CONTAINER).is_running
    state = json.loads(host.check_output("docker inspect -f '{{json .State}}' %s", CONTAINER))
    assert state["Health"]["Status"] == "healthy"


def test_port_on_loopback_only(host):
    assert host.socket(f"tcp://127.0.0.1:{PORT}").is_listening
    assert not host.socket(f"tcp://0.0.0.0:{PORT}").is_listening
