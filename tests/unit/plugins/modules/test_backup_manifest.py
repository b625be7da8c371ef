# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The backup_manifest module: publish a finished dump with its manifest, verify one; real pg_dump/pg_restore."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ansible_collections.milos_shop.ops.plugins.module_utils import _manifest
from ansible_collections.milos_shop.ops.plugins.modules import backup_manifest
from tests.helpers.module_harness import result_of, run_main

ROOT = Path(__file__).resolve().parents[4]
VENV_BIN = ROOT / ".venv" / "bin"
NAME = "milos_shop_backup_2026-11-28T03-00-00.pgc"
PARTIAL = ".milos_shop_backup_2026-11-28T03-00-00.partial.pgc"
HAS_PG_RESTORE = shutil.which("pg_restore") is not None
needs_pg_restore = pytest.mark.skipif(not HAS_PG_RESTORE, reason="pg_restore is not installed")


def run_module(args, check_mode=False, diff=False):
    return run_main(backup_manifest.main, args, check_mode=check_mode, diff=diff)


@pytest.fixture(scope="module")
def dump_bytes(tmp_path_factory, request):
    """A real custom-format dump of a small database (two tables), from the session's PostgreSQL server."""
    postgres = request.getfixturevalue("postgres")
    postgres.psql("DROP TABLE IF EXISTS bm_orders, bm_items")
    postgres.psql("CREATE TABLE bm_orders (id serial PRIMARY KEY, customer text)")
    postgres.psql("CREATE TABLE bm_items (id serial PRIMARY KEY, name text)")
    postgres.psql("INSERT INTO bm_orders (customer) SELECT 'c' || i FROM generate_series(1, 50) i")
    out = tmp_path_factory.mktemp("dump") / "db.pgc"
    env = dict(os.environ, PGPASSWORD=postgres.password)
    subprocess.run(["pg_dump", "--format=custom", "-h", postgres.host, "-p", str(postgres.port), "-U", postgres.user,
                    "-f", str(out),
                    # only this test's tables: other tests in the worker share the server and leave theirs
                    "--table=bm_orders", "--table=bm_items", postgres.database], env=env, check=True, capture_output=True)
    return out.read_bytes()


@pytest.fixture
def dir_with_dump(tmp_path, dump_bytes):
    directory = tmp_path / "backups"
    directory.mkdir()
    (directory / PARTIAL).write_bytes(dump_bytes)
    return directory


def publish_args(directory, **extra):
    args = dict(path=str(directory / PARTIAL), dest=str(directory / NAME), source="postgresql://milos@127.0.0.1:5432/milos_shop",
                created="2026-11-28T03:00:00Z", started="2026-11-28T03:00:00.120Z", mode="0640")
    args.update(extra)
    return args


@needs_pg_restore
def test_publish_a_real_dump(dir_with_dump, dump_bytes, capsys):
    assert not run_module(publish_args(dir_with_dump))
    result = result_of(capsys)
    final = dir_with_dump / NAME
    assert result["changed"] is True and result["path"] == str(final)
    assert sorted(os.listdir(dir_with_dump)) == [NAME, NAME + ".manifest.json"]  # the partial is gone, no temp left
    assert final.read_bytes() == dump_bytes
    assert result["sha256"] == hashlib.sha256(dump_bytes).hexdigest() and result["size"] == len(dump_bytes)
    assert result["tables"] == 2 and result["toc_entries"] >= 6
    manifest = json.loads(Path(result["manifest_path"]).read_text())
    assert manifest == result["manifest"]
    assert list(manifest)[:2] == ["format", "backup"] and manifest["backup"] == NAME
    assert manifest["sha256"] == result["sha256"] and manifest["size"] == len(dump_bytes)
    assert isinstance(manifest["size"], int) and isinstance(manifest["toc_entries"], int)
    assert manifest["check"] == "pg_restore --list" and manifest["check_result"] == "ok"
    assert manifest["compression"] == "pg_dump custom" and manifest["created"] == "2026-11-28T03:00:00Z"
    assert manifest["started"] == "2026-11-28T03:00:00.120Z" and manifest["finished"].endswith("Z")
    for path in (final, Path(result["manifest_path"])):
        assert stat.S_IMODE(path.stat().st_mode) == 0o640
    # The same rule as retention and backup_status: it verifies now.
    assert _manifest.verify_file(str(final))[0] is True

    assert not run_module(dict(state="verified", path=str(final)))
    verified = result_of(capsys)
    assert verified["ok"] is True and verified["problems"] == [] and verified["changed"] is False
    assert verified["tables"] == 2 and verified["sha256"] == result["sha256"] and verified["manifest"] == manifest


@needs_pg_restore
def test_check_mode_predicts_and_writes_nothing(dir_with_dump, tmp_path, capsys):
    before = sorted(os.listdir(dir_with_dump))
    assert not run_module(publish_args(dir_with_dump), check_mode=True, diff=True)
    result = result_of(capsys)
    assert result["changed"] is True and result["tables"] == 2 and result["sha256"] and result["manifest"] is None
    assert result["diff"] == {"before": {"path": str(dir_with_dump / NAME), "state": "absent"},
                              "after": {"path": str(dir_with_dump / NAME), "state": "file",
                                        "manifest_path": str(dir_with_dump / NAME) + ".manifest.json"}}
    assert sorted(os.listdir(dir_with_dump)) == before
    # In check mode the dump itself was not taken: a missing path is a prediction, not an error.
    empty = tmp_path / "empty"
    empty.mkdir()
    assert not run_module(publish_args(empty), check_mode=True)
    predicted = result_of(capsys)
    assert predicted["changed"] is True and predicted["size"] is None and predicted["sha256"] is None
    assert os.listdir(empty) == []


@needs_pg_restore
def test_a_file_pg_restore_cannot_read_is_not_published(tmp_path, capsys):
    (tmp_path / PARTIAL).write_bytes(b"PGDMP partial, cut off by a full disk")
    assert run_module(publish_args(tmp_path))
    result = result_of(capsys)
    assert result["msg"].startswith("backup %r was not published: pg_restore --list cannot read it: " % str(tmp_path / PARTIAL))
    assert os.listdir(tmp_path) == [PARTIAL]  # nothing under a final name, the caller's temp left to the caller


def test_never_overwrites_and_names_the_file(tmp_path, capsys):
    (tmp_path / PARTIAL).write_bytes(b"new")
    (tmp_path / (NAME + ".manifest.json")).write_text("{}")
    assert run_module(publish_args(tmp_path, check="none"))
    result = result_of(capsys)
    assert result["msg"] == "dest %r already exists (%r); refusing to overwrite it" % (str(tmp_path / NAME), str(tmp_path / NAME) + ".manifest.json")
    assert sorted(os.listdir(tmp_path)) == sorted([PARTIAL, NAME + ".manifest.json"])


def test_check_none_publishes_any_file(tmp_path, capsys):
    (tmp_path / PARTIAL).write_bytes(b"some dump")
    assert not run_module(publish_args(tmp_path, check="none", fields=dict(tool="custom")))
    result = result_of(capsys)
    assert result["toc_entries"] is None and result["manifest"]["check"] == "none" and result["manifest"]["tool"] == "custom"
    assert "toc_entries" not in result["manifest"]


@pytest.mark.parametrize("args, message", [
    (dict(created="yesterday"), "created 'yesterday' is not an ISO 8601 time such as '2026-11-28T03:00:00Z'"),
    (dict(fields=dict(sha256="0")), "fields {'sha256': '0'}: sha256 cannot be set through fields"),
    (dict(pg_restore="/nonexistent/pg_restore", check="pg_restore_list"),
     "pg_restore '/nonexistent/pg_restore' is not an executable command here: install the PostgreSQL client, set pg_restore, or use check=none"),
    (dict(path="/nonexistent/.x.partial.pgc", check="none"), "path '/nonexistent/.x.partial.pgc' does not exist or is not a regular file: nothing to publish"),
])
def test_errors_name_the_option_and_value(tmp_path, capsys, args, message):
    (tmp_path / PARTIAL).write_bytes(b"x")
    assert run_module(publish_args(tmp_path, **dict(dict(check="none"), **args)))
    assert result_of(capsys)["msg"] == message
    assert os.listdir(tmp_path) == [PARTIAL]


def _flip(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 1
    path.write_bytes(bytes(data))


def _truncate(path):
    path.write_bytes(path.read_bytes()[:-10])


def _no_manifest(path):
    os.unlink(str(path) + ".manifest.json")


@needs_pg_restore
@pytest.mark.parametrize("damage, first_problem", [
    (_flip, "checksum mismatch: sha256 of"),
    (_truncate, "checksum mismatch: sha256 of"),
    (_no_manifest, "manifest "),
])
def test_verify_finds_the_damage(dir_with_dump, capsys, damage, first_problem):
    assert not run_module(publish_args(dir_with_dump))
    final = Path(result_of(capsys)["path"])
    damage(final)
    assert not run_module(dict(state="verified", path=str(final), fail_on_problems=False))
    result = result_of(capsys)
    assert result["ok"] is False and result["problems"][0].startswith(first_problem), result["problems"]
    assert run_module(dict(state="verified", path=str(final)))
    failed = result_of(capsys)
    assert failed["msg"].startswith("backup %r failed verification: %s" % (str(final), first_problem))


def test_documentation_matches_the_argument_spec():
    doc = yaml.safe_load(backup_manifest.DOCUMENTATION)
    spec = backup_manifest.argument_spec()
    assert sorted(doc["options"]) == sorted(spec)
    for name, option in doc["options"].items():
        assert option["type"] == spec[name]["type"], name
        assert option.get("default") == spec[name].get("default"), name
        assert option.get("choices") == spec[name].get("choices"), name
        assert bool(option.get("required")) == bool(spec[name].get("required")), name
    yaml.safe_load(backup_manifest.EXAMPLES)
    yaml.safe_load(backup_manifest.RETURN)


def test_ansible_doc_renders():
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(Path(backup_manifest.__file__).parents[5]))
    res = subprocess.run([str(VENV_BIN / "ansible-doc"), "--json", "milos_shop.ops.backup_manifest"], capture_output=True, text=True,
                         env=env, check=False)
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)["milos_shop.ops.backup_manifest"]["doc"]
    assert sorted(doc["options"]) == sorted(backup_manifest.argument_spec())


def test_read_toc():
    lines = [";", "; Archive created at 2026-11-28", ";", "", "215; 1259 16386 TABLE public items milos",
             "216; 1259 16390 SEQUENCE public items_id_seq milos", "3390; 0 16386 TABLE DATA public items milos"]
    assert backup_manifest.read_toc(lines) == (3, 1)
    assert sys.modules[backup_manifest.__name__] is backup_manifest
