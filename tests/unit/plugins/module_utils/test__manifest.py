# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of module_utils/_manifest.py (written, read, verified now) on real files in tmp_path."""

from __future__ import annotations

import datetime
import hashlib
import json
import os

import pytest

from ansible_collections.milos_shop.ops.plugins.module_utils import _files, _manifest

UTC = datetime.timezone.utc


def publish(directory, name, content=b"backup bytes", **fields):
    """A backup published the way the modules do it: temp files, then publish_backup."""
    final = str(directory / name)
    temps = _files.TempFiles()
    temp = temps.new(str(directory), name, "tmp")
    _files.write_file(temp, content)
    values = dict(created="2026-11-28T03:00:00Z", size=len(content), sha256=hashlib.sha256(content).hexdigest(), check_result="ok")
    values.update(fields)
    temp_manifest, manifest = _manifest.write_manifest(final, values, temps=temps, publish=False)
    _manifest.publish_backup(temp, final, temp_manifest, temps=temps)
    temps.cleanup()
    return final


def test_write_and_read(tmp_path):
    path = publish(tmp_path, "b_2026-11-28T03-00-00.db.gz", compression="gzip")
    assert sorted(os.listdir(tmp_path)) == ["b_2026-11-28T03-00-00.db.gz", "b_2026-11-28T03-00-00.db.gz.manifest.json"]
    manifest = _manifest.read_manifest(path)
    assert list(manifest)[:2] == ["format", "backup"]
    assert manifest["format"] == 1 and manifest["backup"] == os.path.basename(path) and manifest["compression"] == "gzip"
    assert _manifest.created_at(manifest) == datetime.datetime(2026, 11, 28, 3, 0, tzinfo=UTC)
    ok, problems, dummy, facts = _manifest.verify_file(path)
    assert ok and problems == [] and facts["sha256"] == manifest["sha256"] and facts["was_good"]


def test_write_manifest_publishes_alone_and_never_replaces(tmp_path):
    backup = tmp_path / "dump.pgc"
    backup.write_bytes(b"x")
    path, manifest = _manifest.write_manifest(str(backup), dict(created="c", size=1, sha256="0" * 64, check_result="ok"))
    assert path == str(backup) + _manifest.MANIFEST_SUFFIX and json.loads(open(path).read()) == manifest
    with pytest.raises(FileExistsError):
        _manifest.write_manifest(str(backup), dict(created="c", size=2, sha256="1" * 64, check_result="ok"))
    assert json.loads(open(path).read())["size"] == 1
    assert sorted(os.listdir(tmp_path)) == ["dump.pgc", "dump.pgc.manifest.json"]  # no temp left


@pytest.mark.parametrize("missing", ["created", "size", "sha256", "check_result"])
def test_build_manifest_needs_the_core_fields(missing):
    fields = dict(created="c", size=1, sha256="0" * 64, check_result="ok")
    del fields[missing]
    with pytest.raises(ValueError, match=missing):
        _manifest.build_manifest("/b/x.db.gz", fields)


def test_publish_pair_takes_back_the_backup_when_the_manifest_name_is_taken(tmp_path):
    name = "b.db.gz"
    (tmp_path / (name + ".manifest.json")).write_text("{}")  # a stray manifest under the final name
    temps = _files.TempFiles()
    temp = temps.new(str(tmp_path), name, "tmp")
    _files.write_file(temp, b"x")
    temp_manifest, dummy = _manifest.write_manifest(str(tmp_path / name), dict(created="c", size=1, sha256="0" * 64, check_result="ok"),
                                                    temps=temps, publish=False)
    with pytest.raises(FileExistsError):
        _manifest.publish_backup(temp, str(tmp_path / name), temp_manifest, temps=temps)
    temps.cleanup()
    assert os.listdir(tmp_path) == [name + ".manifest.json"]


@pytest.mark.parametrize("when, precise, expected", [
    (datetime.datetime(2026, 11, 28, 15, 55, 49, 123456, tzinfo=UTC), False, "2026-11-28T15:55:49Z"),
    (datetime.datetime(2026, 11, 28, 15, 55, 49, 123456, tzinfo=UTC), True, "2026-11-28T15:55:49.123Z"),
    (datetime.datetime(2026, 11, 28, 16, 55, 49, tzinfo=datetime.timezone(datetime.timedelta(hours=1))), False, "2026-11-28T15:55:49Z"),
])
def test_iso_utc(when, precise, expected):
    assert _manifest.iso_utc(when, precise) == expected


@pytest.mark.parametrize("text, expected", [
    ("2026-11-28T03:00:00Z", datetime.datetime(2026, 11, 28, 3, tzinfo=UTC)),
    ("2026-11-28T04:00:00+01:00", datetime.datetime(2026, 11, 28, 3, tzinfo=UTC)),
    ("2026-11-28T03:00:00", datetime.datetime(2026, 11, 28, 3, tzinfo=UTC)),
    ("yesterday", None),
    (None, None),
])
def test_created_at(text, expected):
    assert _manifest.created_at({"created": text}) == expected


def _flip(path, manifest):
    data = bytearray(open(path, "rb").read())
    data[len(data) // 2] ^= 1
    open(path, "wb").write(bytes(data))


def _truncate(path, manifest):
    open(path, "wb").write(open(path, "rb").read()[:-1])


def _delete(path, manifest):
    os.unlink(path)


def _no_manifest(path, manifest):
    os.unlink(manifest)


def _failed_check(path, manifest):
    _edit(manifest, check_result="failed")


def _other_file(path, manifest):
    _edit(manifest, backup="another.db.gz")


def _full_path_name(path, manifest):
    _edit(manifest, backup="/elsewhere/" + os.path.basename(path))


def _size_as_text(path, manifest):
    _edit(manifest, size=str(os.path.getsize(path)))


def _not_json(path, manifest):
    open(manifest, "w").write("{broken")


def _edit(manifest, **changes):
    data = json.loads(open(manifest).read())
    data.update(changes)
    open(manifest, "w").write(json.dumps(data))


@pytest.mark.parametrize("damage, ok, was_good, expected", [
    (None, True, True, None),
    (_flip, False, True, "checksum mismatch"),
    (_truncate, False, True, "size mismatch"),
    (_delete, False, True, "is missing (its manifest is left)"),
    (_no_manifest, False, False, "is missing"),
    (_failed_check, False, False, "records check_result 'failed'"),
    (_other_file, False, False, "describes 'another.db.gz'"),
    (_full_path_name, True, True, None),
    (_size_as_text, True, True, None),
    (_not_json, False, False, "is not readable JSON"),
])
def test_verify_file(tmp_path, damage, ok, was_good, expected):
    path = publish(tmp_path, "b.db.gz", content=os.urandom(4096))
    if damage:
        damage(path, _manifest.manifest_path_for(path))
    verified, problems, dummy, facts = _manifest.verify_file(path)
    assert verified is ok and facts["was_good"] is was_good
    if expected:
        assert any(expected in problem for problem in problems), problems


def test_verify_without_rehash_trusts_the_size_only(tmp_path):
    path = publish(tmp_path, "b.db.gz", content=os.urandom(4096))
    _flip(path, None)
    assert _manifest.verify_file(path, rehash=False)[0] is True
    assert _manifest.verify_file(path, rehash=True)[0] is False


def test_newest_verifying_walks_back(tmp_path):
    paths = [publish(tmp_path, "b_%d.db.gz" % day, content=os.urandom(1000)) for day in range(5)]
    newest_first = list(reversed(paths))
    _flip(newest_first[0], None)
    os.unlink(newest_first[1])
    os.unlink(_manifest.manifest_path_for(newest_first[2]))
    found = _manifest.newest_verifying(newest_first)
    assert found["path"] == newest_first[3] and found["checked"] == 4
    assert [(item["path"], item["was_good"]) for item in found["rotten"]] == [
        (newest_first[0], True), (newest_first[1], True), (newest_first[2], False)]
    assert found["facts"]["sha256"] == found["manifest"]["sha256"]


def test_newest_verifying_of_nothing():
    assert _manifest.newest_verifying([]) == {"path": None, "manifest": None, "facts": None, "rotten": [], "checked": 0}


def test_read_manifest_refuses_a_huge_file(tmp_path):
    (tmp_path / "b.manifest.json").write_bytes(b" " * (_manifest.MANIFEST_MAX_BYTES + 1))
    with pytest.raises(_manifest.ManifestError, match="larger than"):
        _manifest.read_manifest(str(tmp_path / "b"))
