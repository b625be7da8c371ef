"""Testinfra checks of role milos_shop.ops.backup after converge (and a check-mode run)."""

import json
import os

BACKUPS = os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "backups")
DATABASE = os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "project", "data", "milos_shop.db")
PREFIX = "milos_shop_backup_"


def backups(host):
    names = host.check_output("ls -1A %s", BACKUPS).split()
    return sorted(n for n in names if n.startswith(PREFIX) and n.endswith(".db.gz"))


def test_backup_directory_is_root_only(host):
    directory = host.file(BACKUPS)
    assert directory.is_directory
    assert directory.user == "root" and directory.group == "root"
    assert directory.mode == 0o700


def test_one_backup_and_nothing_else(host):
    # converge took one backup; the check run wrote nothing; no temporary files are left.
    names = sorted(host.check_output("ls -1A %s", BACKUPS).split())
    assert len(backups(host)) == 1
    assert names == sorted(n for b in backups(host) for n in (b, b + ".manifest.json"))


def test_backup_files_are_private(host):
    for name in backups(host):
        for path in (f"{BACKUPS}/{name}", f"{BACKUPS}/{name}.manifest.json"):
            f = host.file(path)
            assert f.is_file
            assert f.user == "root" and f.group == "root"
            assert f.mode == 0o600


def test_manifest_beside_each_backup_describes_it(host):
    for name in backups(host):
        path = f"{BACKUPS}/{name}"
        manifest = json.loads(host.file(path + ".manifest.json").content_string)
        assert manifest["backup"] == name
        assert manifest["check_result"] == "ok"
        assert manifest["source"] == DATABASE  # found through the container's mounts
        assert manifest["sha256"] == host.check_output("sha256sum %s", path).split()[0]
        assert manifest["size"] == host.file(path).size


def test_newest_backup_decompresses_to_a_sqlite_database(host):
    newest = f"{BACKUPS}/{backups(host)[-1]}"
    assert host.run("gzip -t %s", newest).rc == 0
    assert host.check_output("gzip -dc %s | head -c 15", newest) == "SQLite format 3"
