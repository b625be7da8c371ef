# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The disk_usage module's entry point over real directories: item, missing paths, check mode, options, docs."""

from __future__ import annotations

import shutil

import pytest
import yaml

from ansible_collections.milos_shop.ops.plugins.doc_fragments import _checklist as checklist_fragment
from ansible_collections.milos_shop.ops.plugins.modules import disk_usage
from tests.helpers.module_harness import result_of, run_main


def run_module(args, check_mode=False):
    return run_main(disk_usage.main, args, check_mode=check_mode)


def used_percent(path):
    usage = shutil.disk_usage(str(path))
    return 100.0 * usage.used / (usage.used + usage.free)


def test_measures_and_passes(tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    assert not run_module(dict(required_paths=[str(tmp_path), str(data)], threshold_percent=100))
    result = result_of(capsys)
    assert result["changed"] is False and "failed" not in result
    item = result["item"]
    assert (item["id"], item["title"], item["status"]) == ("disk", "Disk space (df -h)", "pass")
    assert [d["paths"] for d in result["disks"]] == [[str(tmp_path), str(data)]] == [d["paths"] for d in item["evidence"]["disks"]]
    assert item["summary"] == "%s, %s: %s%% used" % (tmp_path, data, result["disks"][0]["used_percent"])
    assert result["missing"] == [] and item["evidence"]["threshold_percent"] == 100


def test_over_the_threshold_fails_the_item_not_the_task(tmp_path, capsys):
    assert used_percent(tmp_path) >= 1
    assert not run_module(dict(required_paths=[str(tmp_path)], threshold_percent=0))
    item = result_of(capsys)["item"]
    assert item["status"] == "fail" and item["alerts"][0]["kind"] == "disk" and item["alerts"][0]["threshold"] == 0
    assert item["summary"].startswith("filesystem of %s is " % tmp_path) and "(threshold 0%)" in item["summary"]


def test_missing_data_directory_fails_and_a_missing_backup_directory_is_noted(tmp_path, capsys):
    data, backups = str(tmp_path / "data"), str(tmp_path / "backups")
    assert not run_module(dict(required_paths=["/", data], optional_paths=[backups, ""], threshold_percent=100))
    result = result_of(capsys)
    assert result["item"]["status"] == "fail" and result["item"]["summary"] == "data directory %s does not exist" % data
    assert result["missing"] == [data, backups] and result["item"]["evidence"]["required_missing"] == [data]
    assert [d["paths"] for d in result["disks"]] == [["/"]]
    assert not run_module(dict(required_paths=[str(tmp_path)], optional_paths=[backups], threshold_percent=100))
    result = result_of(capsys)
    assert result["item"]["status"] == "pass" and result["item"]["evidence"]["missing"] == [backups]


def test_check_mode_is_the_same(tmp_path, capsys):
    args = dict(required_paths=[str(tmp_path)], threshold_percent=0, item_id="space", item_title="Space")
    assert not run_module(args)
    normal = result_of(capsys)
    assert not run_module(args, check_mode=True)
    checked = result_of(capsys)
    assert checked["changed"] is False
    assert (checked["item"]["id"], checked["item"]["title"], checked["item"]["status"]) == ("space", "Space", "fail")
    assert checked["item"]["status"] == normal["item"]["status"]


@pytest.mark.parametrize("args, message", [
    (dict(threshold_percent=101), "threshold_percent must be a percentage from 0 to 100, got 101"),
    (dict(threshold_percent=-1), "threshold_percent must be a percentage from 0 to 100, got -1"),
    (dict(required_paths=["data"]), "required_paths must hold absolute paths, got 'data'"),
    (dict(optional_paths=["backups", "/x"]), "optional_paths must hold absolute paths, got 'backups'"),
    (dict(required_paths=[], optional_paths=[]), "required_paths and optional_paths are both empty: nothing to measure"),
    (dict(threshold_percent="full"), "argument 'threshold_percent' is of type str and we were unable to convert to int"),
])
def test_bad_options_fail_the_task(capsys, args, message):
    assert run_module(args)
    result = result_of(capsys)
    assert result["failed"] is True and message in result["msg"]


def test_documentation_matches_the_argument_spec():
    doc = yaml.safe_load(disk_usage.DOCUMENTATION)
    options = dict(doc["options"])
    options.update(yaml.safe_load(checklist_fragment.ModuleDocFragment.DOCUMENTATION)["options"])
    spec = disk_usage.argument_spec()
    assert set(options) == set(spec)
    for name, arg in spec.items():
        assert options[name]["type"] == arg["type"], name
        assert options[name].get("default") == arg.get("default"), name
        assert options[name].get("elements") == arg.get("elements"), name
    assert {"item", "disks", "missing"} <= set(yaml.safe_load(disk_usage.RETURN))
    yaml.safe_load(disk_usage.EXAMPLES)
