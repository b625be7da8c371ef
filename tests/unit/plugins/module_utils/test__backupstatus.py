# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The backup verdict over real files in tmp_path: no backup, stale, rotten, deleted, deep check, each status."""

from __future__ import annotations

import datetime
import gzip
import hashlib
import json
import os
import sqlite3

import pytest

from ansible_collections.milos_shop.ops.plugins.module_utils import _checklist
from ansible_collections.milos_shop.ops.plugins.module_utils._backupstatus import (
    error_item,
    find_newest,
    judge,
    list_backups,
)
from ansible_collections.milos_shop.ops.plugins.module_utils._sqlite_backup import verify_backup

NOW = datetime.datetime(2026, 11, 28, 12, 0, 0, tzinfo=datetime.timezone.utc)
PREFIX = "milos_shop_backup_"
HOUR = 3600


def sqlite_bytes(tmp_path, rows=3):
    path = tmp_path / ("src-%d.db" % rows)
    if path.exists():
        path.unlink()
    con = sqlite3.connect(str(path))
    con.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT)")
    con.executemany("INSERT INTO orders (customer) VALUES (?)", [("c%d" % i,) for i in range(rows)])
    con.commit()
    con.close()
    return path.read_bytes()


def make_backup(directory, hours_ago, data=None, ext=".db.gz", check_result="ok", manifest=True, now=NOW):
    """A backup taken ``hours_ago`` before NOW, with its manifest; returns its path."""
    when = now - datetime.timedelta(hours=hours_ago)
    name = PREFIX + when.strftime("%Y-%m-%dT%H-%M-%S") + ext
    path = directory / name
    if data is None:
        data = ("backup %s" % name).encode()
    if ext.endswith(".gz") and not data.startswith(b"\x1f\x8b"):
        data = gzip.compress(data)
    path.write_bytes(data)
    if manifest:
        doc = {"format": 1, "backup": name, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data),
               "check_result": check_result, "created": when.strftime("%Y-%m-%dT%H:%M:%SZ")}
        (directory / (name + ".manifest.json")).write_text(json.dumps(doc))
    return path


def flip_byte(path, offset=-1):
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def status_of(directory, max_age_h=26, deep_check=False, **kwargs):
    backups = list_backups(str(directory), PREFIX)
    found = find_newest(backups or [], deep_check=deep_check, verify=verify_backup)
    item = judge(str(directory), backups, found, max_age_h * HOUR, NOW, **kwargs)
    assert _checklist.validate(item) is item
    assert item["id"] == "backup" and item["title"] == "Backup ran (backup-db.sh)"
    return item


def kinds(item):
    return [a["kind"] for a in item["alerts"]]


# -- the statuses ------------------------------------------------------------------

def test_no_backup_fails(tmp_path):
    item = status_of(tmp_path)
    assert item["status"] == "fail" and kinds(item) == ["no_backup"]
    assert item["summary"] == "no verified backup in %s" % tmp_path
    ev = item["evidence"]
    assert ev["newest_verified"] is None and ev["age_hours"] is None and ev["backups_listed"] == 0 and ev["total_bytes"] == 0


def test_a_missing_directory_is_no_backup(tmp_path):
    item = status_of(tmp_path / "nope")
    assert item["status"] == "fail"
    assert item["summary"] == "no verified backup in %s (the directory does not exist)" % (tmp_path / "nope")


@pytest.mark.parametrize("age_h, max_age_h, status", [
    (0.5, 26, "pass"), (25.9, 26, "pass"), (26.0, 26, "pass"), (26.1, 26, "fail"), (72, 26, "fail"),
    (1.5, 1, "fail"), (47, 48, "pass"),
])
def test_age_against_the_maximum(tmp_path, age_h, max_age_h, status):
    path = make_backup(tmp_path, age_h)
    item = status_of(tmp_path, max_age_h)
    assert item["status"] == status, item
    assert item["evidence"]["age_hours"] == pytest.approx(age_h, abs=0.01)
    assert item["evidence"]["max_age_hours"] == max_age_h
    assert item["evidence"]["newest_verified"] == path.name
    assert item["evidence"]["newest_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    if status == "pass":
        assert item["summary"] == "newest verified backup %s is %s h old" % (path.name, ("%.1f" % age_h).rstrip("0").rstrip("."))
        assert item["alerts"] == []
    else:
        assert item["summary"].endswith(" h old (older than %s h)" % max_age_h), item["summary"]
        stale = item["alerts"][0]
        assert (stale["kind"], stale["severity"], stale["threshold"]) == ("stale", "fail", max_age_h)


def test_pass_counts_and_sizes(tmp_path):
    paths = [make_backup(tmp_path, h) for h in (1, 25, 49)]
    item = status_of(tmp_path)
    assert item["status"] == "pass"
    assert item["evidence"]["backups_listed"] == 3
    assert item["evidence"]["total_bytes"] == sum(p.stat().st_size for p in paths)
    assert item["evidence"]["newest_verified"] == paths[0].name and item["evidence"]["rotten"] == []
    assert item["evidence"]["checked"] == 1  # the newest verified: nothing older re-hashed


def test_newest_rotten_with_an_older_good_one_warns_naming_both(tmp_path):
    good = make_backup(tmp_path, 20)
    bad = make_backup(tmp_path, 2)
    flip_byte(bad)  # changed after its manifest was written
    item = status_of(tmp_path)
    assert item["status"] == "warn", item
    assert kinds(item) == ["rotten"] and item["alerts"][0]["severity"] == "warn"
    assert item["summary"].startswith("newest backup %s does not verify (checksum mismatch: " % bad.name), item["summary"]
    assert item["summary"].endswith("; newest verified backup %s is 20 h old" % good.name), item["summary"]
    assert item["evidence"]["newest"] == bad.name and item["evidence"]["newest_verified"] == good.name
    assert item["evidence"]["age_hours"] == 20
    assert [r["name"] for r in item["evidence"]["rotten"]] == [bad.name]
    assert "the file changed after it was written" in item["evidence"]["rotten"][0]["problems"][0]


def test_newest_rotten_and_the_good_one_stale_fails(tmp_path):
    make_backup(tmp_path, 30)
    bad = make_backup(tmp_path, 2)
    flip_byte(bad, 0)
    item = status_of(tmp_path)
    assert item["status"] == "fail" and kinds(item) == ["stale", "rotten"]
    assert bad.name in item["summary"] and "(older than 26 h)" in item["summary"]


def test_a_file_deleted_with_its_manifest_left(tmp_path):
    good = make_backup(tmp_path, 10)
    gone = make_backup(tmp_path, 1)
    gone.unlink()
    item = status_of(tmp_path)
    assert item["status"] == "warn", item
    assert item["summary"].startswith("newest backup %s does not verify (backup %r is missing (its manifest is left))"
                                      % (gone.name, str(gone))), item["summary"]
    assert item["evidence"]["newest_verified"] == good.name and item["evidence"]["backups_listed"] == 1


def test_every_backup_rotten_or_missing_fails_and_names_them(tmp_path):
    one = make_backup(tmp_path, 5)
    two = make_backup(tmp_path, 1)
    flip_byte(one)
    two.unlink()
    item = status_of(tmp_path)
    assert item["status"] == "fail" and kinds(item) == ["no_backup"]
    assert item["summary"].startswith("no verified backup in %s; 2 do not verify: %s (" % (tmp_path, two.name))
    assert one.name in item["summary"]


@pytest.mark.parametrize("change, problem", [
    (dict(check_result="failed"), "records check_result 'failed'"),
    (dict(manifest=False), "is missing"),
])
def test_a_backup_that_its_manifest_does_not_vouch_for(tmp_path, change, problem):
    good = make_backup(tmp_path, 3)
    make_backup(tmp_path, 1, **change)
    item = status_of(tmp_path)
    assert item["status"] == "warn" and problem in item["summary"]
    assert item["evidence"]["newest_verified"] == good.name


def test_truncated_backup_is_a_size_mismatch(tmp_path):
    make_backup(tmp_path, 3)
    bad = make_backup(tmp_path, 1)
    bad.write_bytes(bad.read_bytes()[:-2])
    assert "size mismatch" in status_of(tmp_path)["summary"]


def test_several_newer_rotten_ones(tmp_path):
    good = make_backup(tmp_path, 10)
    bads = [make_backup(tmp_path, h) for h in (3, 1)]
    for bad in bads:
        flip_byte(bad)
    item = status_of(tmp_path)
    assert item["status"] == "warn"
    assert item["summary"].startswith("2 newer backups do not verify: %s (checksum mismatch" % bads[1].name)
    assert item["summary"].endswith("newest verified backup %s is 10 h old" % good.name)


# -- the daily run's options --------------------------------------------------------

def test_backup_error_fails_first_in_the_summary(tmp_path):
    make_backup(tmp_path, 1)
    item = status_of(tmp_path, backup_error="Back up the database: disk full", backup_ran=False)
    assert item["status"] == "fail" and kinds(item) == ["backup_error"]
    assert item["summary"].startswith("backup failed: Back up the database: disk full; newest verified backup ")
    assert item["evidence"]["backup_error"] == "Back up the database: disk full"


@pytest.mark.parametrize("ages, status, tail", [
    ((), "pass", "no verified backup in {dir}"),
    ((72,), "pass", " h old (older than 26 h)"),
    ((1,), "pass", " is 1 h old"),
])
def test_predicted_judges_the_new_backup(tmp_path, ages, status, tail):
    for age in ages:
        make_backup(tmp_path, age)
    item = status_of(tmp_path, predicted=True)
    assert item["status"] == status and item["alerts"] == []
    assert item["summary"].startswith("check mode: a new backup would be taken now; ")
    assert item["summary"].endswith(tail.format(dir=tmp_path))
    assert item["evidence"]["backup_predicted"] is True and item["evidence"]["backup_ran"] is False


def test_predicted_with_an_error_is_the_error(tmp_path):
    item = status_of(tmp_path, predicted=True, backup_error="boom")
    assert item["status"] == "fail" and item["summary"].startswith("backup failed: boom; no verified backup")
    assert item["evidence"]["backup_predicted"] is False


def test_backup_ran_is_evidence(tmp_path):
    make_backup(tmp_path, 0.1)
    assert status_of(tmp_path, backup_ran=True)["evidence"]["backup_ran"] is True


# -- the listing ----------------------------------------------------------------------

def test_listing_ignores_other_files_and_temporaries(tmp_path):
    make_backup(tmp_path, 2)
    (tmp_path / ".milos_shop_backup_2026-11-28T11-00-00.db.gz.tmp-abc").write_bytes(b"partial")
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "other_2026-11-28T11-00-00.db.gz").write_bytes(b"x")
    (tmp_path / (PREFIX + "2026-11-28T11-00-00.tar")).write_bytes(b"x")
    (tmp_path / (PREFIX + "dir.db")).mkdir()
    names = [b["name"] for b in list_backups(str(tmp_path), PREFIX)]
    assert names == [PREFIX + "2026-11-28T10-00-00.db.gz"]


def test_listing_is_newest_first_across_extensions(tmp_path):
    a = make_backup(tmp_path, 5, ext=".db")
    b = make_backup(tmp_path, 3, ext=".pgc")
    c = make_backup(tmp_path, 1, ext=".db.zst")
    listed = list_backups(str(tmp_path), PREFIX)
    assert [x["name"] for x in listed] == [c.name, b.name, a.name]
    assert [x["extension"] for x in listed] == [".db.zst", ".pgc", ".db"]


def test_a_name_without_a_time_is_ordered_by_mtime(tmp_path):
    old = tmp_path / (PREFIX + "manual.db")
    old.write_bytes(b"x")
    os.utime(str(old), (1, 1))
    make_backup(tmp_path, 1)
    assert list_backups(str(tmp_path), PREFIX)[-1]["name"] == old.name


def test_an_unreadable_directory_is_an_error_item(tmp_path):
    item = error_item(str(tmp_path), "permission denied", backup_error="x")
    assert item["status"] == "fail" and item["summary"] == "backup failed: x; cannot read the backups in %s: permission denied" % tmp_path


# -- the deep check ---------------------------------------------------------------------

def test_deep_check_passes_a_good_sqlite_backup(tmp_path):
    backups = tmp_path / "b"
    backups.mkdir()
    make_backup(backups, 1, data=gzip.compress(sqlite_bytes(tmp_path)))
    item = status_of(backups, deep_check=True)
    assert item["status"] == "pass", item
    assert item["evidence"]["deep_check"] == {"ran": True, "ok": True, "note": None}
    assert item["summary"].endswith("; integrity_check ok")


def test_deep_check_walks_past_a_backup_that_is_not_a_database(tmp_path):
    backups = tmp_path / "b"
    backups.mkdir()
    good = make_backup(backups, 5, data=gzip.compress(sqlite_bytes(tmp_path)))
    bad = make_backup(backups, 1, data=gzip.compress(b"not a database at all" * 100))  # its manifest matches it
    item = status_of(backups, deep_check=True)
    assert item["status"] == "warn", item
    assert item["evidence"]["newest_verified"] == good.name
    assert item["evidence"]["rotten"][0]["name"] == bad.name
    assert item["evidence"]["rotten"][0]["problems"][0].startswith("integrity_check failed: ")
    # Without the deep check, the manifest's sha256 is all there is: it passes.
    assert status_of(backups)["evidence"]["newest_verified"] == bad.name


def test_deep_check_skips_postgresql_dumps_with_a_note(tmp_path):
    dump = make_backup(tmp_path, 1, ext=".pgc", data=b"PGDMP custom dump")
    item = status_of(tmp_path, deep_check=True)
    assert item["status"] == "pass" and item["evidence"]["newest_verified"] == dump.name
    assert item["evidence"]["deep_check"]["ran"] is False
    assert item["summary"].endswith("; not deep-checked: %s is a PostgreSQL dump (integrity_check is for SQLite)" % dump.name)


def test_deep_check_that_cannot_run_is_a_note(tmp_path):
    class MissingDependency(Exception):
        msg = "zstd is required to decompress, but it is not available"

    def verify(path, check=None, tmpdir=None):
        raise MissingDependency()

    make_backup(tmp_path, 1, ext=".db.zst")
    found = find_newest(list_backups(str(tmp_path), PREFIX), deep_check=True, verify=verify)
    assert found["deep_check"] == {"ran": False, "ok": None,
                                   "note": "not deep-checked: zstd is required to decompress, but it is not available"}
    assert found["backup"] is not None


@pytest.mark.parametrize("age_s, max_age_s, status", [(5, 4, "fail"), (4, 4, "pass"), (3, 4, "pass"), (61, 60, "fail")])
def test_the_age_is_compared_in_seconds_not_rounded_hours(tmp_path, age_s, max_age_s, status):
    make_backup(tmp_path, age_s / 3600.0)
    backups = list_backups(str(tmp_path), PREFIX)
    item = judge(str(tmp_path), backups, find_newest(backups), max_age_s, NOW)
    assert item["status"] == status
