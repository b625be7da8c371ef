# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The backup_status module over real backups taken by sqlite_backup: the acceptance cases, check mode, options."""

from __future__ import annotations

import datetime
import json
import sqlite3

import pytest
import yaml

from ansible_collections.milos_shop.ops.plugins.doc_fragments import _checklist as checklist_fragment
from ansible_collections.milos_shop.ops.plugins.module_utils._sqlite_backup import take_backup
from ansible_collections.milos_shop.ops.plugins.modules import backup_status
from tests.helpers.module_harness import result_of, run_main


def run_module(args, check_mode=False):
    return run_main(backup_status.main, args, check_mode=check_mode)


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "milos_shop.db"
    con = sqlite3.connect(str(path))
    con.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, customer TEXT)")
    con.execute("INSERT INTO orders (customer) VALUES ('a')")
    con.commit()
    con.close()
    return path


@pytest.fixture
def backups(tmp_path):
    path = tmp_path / "backups"
    path.mkdir()
    return path


def backup(db, backups, hours_ago):
    """A real backup (sqlite_backup's own code), dated hours_ago in its name and its manifest."""
    result = take_backup(str(db), str(backups))
    when = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=hours_ago)
    name = "milos_shop_backup_%s.db.gz" % when.strftime("%Y-%m-%dT%H-%M-%S")
    src = backups / result["path"].rsplit("/", 1)[1]
    manifest = json.loads((backups / (src.name + ".manifest.json")).read_text())
    manifest.update(backup=name, created=when.strftime("%Y-%m-%dT%H:%M:%SZ"))
    (backups / (src.name + ".manifest.json")).unlink()
    src.rename(backups / name)
    (backups / (name + ".manifest.json")).write_text(json.dumps(manifest))
    return backups / name


def item_of(capsys, **args):
    assert not run_module(args)
    result = result_of(capsys)
    assert result["changed"] is False and "failed" not in result
    return result


def test_no_backup(backups, capsys):
    result = item_of(capsys, path=str(backups))
    assert result["item"]["status"] == "fail" and result["path"] is None
    assert result["item"]["summary"] == "no verified backup in %s" % backups


def test_stale(db, backups, capsys):
    old = backup(db, backups, 30)
    item = item_of(capsys, path=str(backups))["item"]
    assert item["status"] == "fail" and item["evidence"]["newest_verified"] == old.name
    assert item["summary"] == "newest verified backup %s is 30 h old (older than 26 h)" % old.name


def test_fresh_passes_and_check_mode_is_the_same(db, backups, capsys):
    fresh = backup(db, backups, 2)
    result = item_of(capsys, path=str(backups), max_age="3h")
    assert result["item"]["status"] == "pass" and result["path"] == str(fresh)
    assert result["item"]["summary"] == "newest verified backup %s is 2 h old" % fresh.name
    assert not run_module(dict(path=str(backups), max_age="3h"), check_mode=True)
    checked = result_of(capsys)
    assert checked["changed"] is False and checked["item"]["status"] == "pass"
    assert checked["item"]["evidence"]["newest_sha256"] == result["item"]["evidence"]["newest_sha256"]


def test_newest_rotten_with_an_older_good_one(db, backups, capsys):
    good = backup(db, backups, 20)
    bad = backup(db, backups, 1)
    data = bytearray(bad.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit, after its manifest was written
    bad.write_bytes(bytes(data))
    item = item_of(capsys, path=str(backups))["item"]
    assert item["status"] == "warn"
    assert bad.name in item["summary"] and good.name in item["summary"]
    assert item["summary"].endswith("newest verified backup %s is 20 h old" % good.name)
    assert item["evidence"]["age_hours"] == pytest.approx(20, abs=0.01)


def test_a_file_deleted_with_its_manifest_left(db, backups, capsys):
    good = backup(db, backups, 5)
    gone = backup(db, backups, 1)
    gone.unlink()
    item = item_of(capsys, path=str(backups), deep_check=True)["item"]
    assert item["status"] == "warn"
    assert item["evidence"]["rotten"] == [{"name": gone.name,
                                           "problems": ["backup %r is missing (its manifest is left)" % str(gone)]}]
    assert item["evidence"]["newest_verified"] == good.name and item["evidence"]["deep_check"]["ok"] is True


def test_daily_options(db, backups, capsys):
    backup(db, backups, 1)
    item = item_of(capsys, path=str(backups), backup_error="Back up the database: disk full", backup_ran=True,
                   item_id="bk", item_title="Backups")["item"]
    assert (item["id"], item["title"], item["status"]) == ("bk", "Backups", "fail")
    assert item["summary"].startswith("backup failed: Back up the database: disk full; ")
    assert item["evidence"]["backup_ran"] is True
    item = item_of(capsys, path=str(backups / "missing"), predicted=True, backup_error="")["item"]
    assert item["status"] == "pass"
    assert item["summary"].startswith("check mode: a new backup would be taken now; no verified backup in ")


def test_a_path_that_is_a_file_is_an_error_item(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    item = item_of(capsys, path=str(tmp_path / "file"))["item"]
    assert item["status"] == "fail" and item["summary"] == "cannot read the backups in %s: %s is not a directory" % (
        tmp_path / "file", tmp_path / "file")


@pytest.mark.parametrize("args, message", [
    (dict(path="backups"), "path must be the absolute path of the backup directory, got 'backups'"),
    (dict(max_age="26m"), "max_age: the unit m is ambiguous; write min for minutes"),
    (dict(max_age="1mo"), "max_age: years and months have no fixed length"),
    (dict(max_age="0h"), "max_age: expected a positive duration"),
    (dict(prefix="a/b"), "prefix must be a file name prefix (no /), got 'a/b'"),
    (dict(extensions=[]), "extensions must list one or more file name endings, got []"),
    (dict(deep_check="maybe"), "deep_check"),
])
def test_bad_options_fail_the_task(backups, capsys, args, message):
    args.setdefault("path", str(backups))
    assert run_module(args)
    result = result_of(capsys)
    assert result["failed"] is True and message in result["msg"], result["msg"]


def test_documentation_matches_the_argument_spec():
    doc = yaml.safe_load(backup_status.DOCUMENTATION)
    options = dict(doc["options"])
    options.update(yaml.safe_load(checklist_fragment.ModuleDocFragment.DOCUMENTATION)["options"])
    spec = backup_status.argument_spec()
    assert set(options) == set(spec)
    for name, arg in spec.items():
        assert options[name]["type"] == arg["type"], name
        assert options[name].get("default") == arg.get("default"), name
        assert options[name].get("elements") == arg.get("elements"), name
    assert {"item", "path"} <= set(yaml.safe_load(backup_status.RETURN))
    yaml.safe_load(backup_status.EXAMPLES)
