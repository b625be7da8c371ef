# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The resource_usage module's entry point: arguments, results, failures, docs (the Docker client faked)."""

from __future__ import annotations

import copy

import docker
import docker.errors
import pytest
import yaml

from ansible.module_utils._internal import _traceback

from ansible_collections.milos_shop.ops.plugins.doc_fragments import _checklist as checklist_fragment
from ansible_collections.milos_shop.ops.plugins.doc_fragments import _docker as docker_fragment
from ansible_collections.milos_shop.ops.plugins.module_utils import _docker
from ansible_collections.milos_shop.ops.plugins.modules import resource_usage
from tests.helpers.module_harness import result_of, run_main

# One stats document (cgroup v2): 25 % CPU, 40 % of a 100 MB limit (see test__resources.py).
STATS = {
    "read": "2026-11-28T16:30:01.000000000Z",
    "pids_stats": {"current": 9},
    "cpu_stats": {"cpu_usage": {"total_usage": 1250000000}, "system_cpu_usage": 20004000000000, "online_cpus": 4},
    "precpu_stats": {"cpu_usage": {"total_usage": 1000000000}, "system_cpu_usage": 20000000000000, "online_cpus": 4},
    "memory_stats": {"usage": 50000000, "stats": {"inactive_file": 10000000}, "limit": 100000000},
}
NOT_RUNNING = {"read": "0001-01-01T00:00:00Z", "pids_stats": {}, "cpu_stats": {"cpu_usage": {"total_usage": 0}},
               "precpu_stats": {"cpu_usage": {"total_usage": 0}}, "memory_stats": {}}


class FakeClient(object):
    """Stands in for docker.APIClient: stats() answers a document, or raises."""

    calls = []
    stats_doc = None
    error = None
    init_error = None

    def __init__(self, **kwargs):
        if FakeClient.init_error is not None:
            raise FakeClient.init_error
        FakeClient.calls.append(("init", kwargs))

    def stats(self, container, **kwargs):
        FakeClient.calls.append(("stats", dict(kwargs, container=container)))
        if FakeClient.error is not None:
            raise FakeClient.error
        return copy.deepcopy(FakeClient.stats_doc)


@pytest.fixture
def fake_docker(monkeypatch):
    FakeClient.calls = []
    FakeClient.stats_doc = STATS
    FakeClient.error = None
    FakeClient.init_error = None
    monkeypatch.setattr(docker, "APIClient", FakeClient)
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    return FakeClient


def run_module(args, check_mode=False):
    return run_main(resource_usage.main, args, check_mode=check_mode)


# Thresholds no host can be over, so that the results depend on the code and not on this machine's load.
CALM = dict(disk_threshold_percent=100, memory_threshold_percent=100, cpu_threshold_percent=100)


def test_figures_and_nothing_changed(fake_docker, tmp_path, capsys):
    (tmp_path / "data").mkdir()
    assert not run_module(dict(CALM, paths=[str(tmp_path), str(tmp_path / "data")], cpu_interval=0.05, container="shop-1"))
    result = result_of(capsys)
    assert result["changed"] is False and result["ok"] is True and result["alerts"] == []
    assert [d["paths"] for d in result["disks"]] == [[str(tmp_path), str(tmp_path / "data")]]
    assert result["memory"]["total_bytes"] > 0 and 0 <= result["cpu"]["used_percent"] <= 100 and result["cpu"]["interval_s"] == 0.05
    assert result["container"] == {"name": "shop-1", "running": True, "cpu_percent": 25.0, "memory_used_bytes": 40000000,
                                   "memory_limit_bytes": 100000000, "memory_percent": 40.0, "pids": 9}
    assert result["msg"].startswith("disk %s,%s " % (tmp_path, tmp_path / "data"))
    assert result["msg"].endswith("; shop-1 CPU 25.0% memory 40.0%")
    assert fake_docker.calls == [("init", {"base_url": "unix:///var/run/docker.sock", "version": "auto", "timeout": 60}),
                                 ("stats", {"container": "shop-1", "stream": False})]
    item = result["item"]
    assert (item["id"], item["title"], item["status"]) == ("resources", "CPU and memory (docker stats)", "pass")
    assert item["summary"].endswith("; container shop-1 CPU 25.0%, memory 40.0% of its limit")
    assert item["evidence"]["container"] == result["container"] and item["evidence"]["memory"] == result["memory"]


def test_check_mode_reads_the_same(fake_docker, tmp_path, capsys):
    args = dict(paths=[str(tmp_path)], cpu_interval=0, disk_threshold_percent=0, container_cpu_threshold_percent=10,
                fail_on_alert=False)
    assert not run_module(args)
    normal = result_of(capsys)
    assert not run_module(args, check_mode=True)
    checked = result_of(capsys)
    assert checked["changed"] is False
    assert [a["kind"] for a in checked["alerts"]] == [a["kind"] for a in normal["alerts"]] == ["disk", "container_cpu"]
    assert checked["container"] == normal["container"] and checked["cpu"] is None


def test_without_container_and_cpu(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(_docker, "HAS_DOCKER", False)  # not needed without a container
    assert not run_module(dict(CALM, paths=[str(tmp_path)], cpu_interval=0, container=""))
    result = result_of(capsys)
    assert result["cpu"] is None and "container" not in result and result["ok"] is True


def test_alerts_fail_the_task_by_default(fake_docker, tmp_path, capsys):
    assert run_module(dict(paths=[str(tmp_path)], cpu_interval=0, disk_threshold_percent=0, container_memory_threshold_percent=39))
    result = result_of(capsys)
    assert result["failed"] is True and result["ok"] is False and result["changed"] is False
    assert [a["kind"] for a in result["alerts"]] == ["disk", "container_memory"]
    assert result["msg"].startswith("filesystem of %s is " % tmp_path)
    assert result["msg"].endswith("; container milos-shop memory 40.0% of its limit (threshold 39%)")
    assert result["disks"] and result["container"]["memory_percent"] == 40.0


def test_fail_on_alert_false_reports_instead(fake_docker, tmp_path, capsys):
    assert not run_module(dict(paths=[str(tmp_path)], cpu_interval=0, disk_threshold_percent=0, fail_on_alert=False))
    result = result_of(capsys)
    assert "failed" not in result and result["ok"] is False and [a["kind"] for a in result["alerts"]] == ["disk"]


def test_a_stopped_container_is_an_alert_not_zero_percent(fake_docker, tmp_path, capsys):
    fake_docker.stats_doc = NOT_RUNNING
    assert not run_module(dict(CALM, paths=[str(tmp_path)], cpu_interval=0, fail_on_alert=False))
    result = result_of(capsys)
    assert result["ok"] is False and result["container"]["running"] is False
    assert result["alerts"] == [{"kind": "container_down", "severity": "warn", "value": 0, "threshold": None,
                                 "message": "container milos-shop is not running: no CPU or memory figures"}]
    assert result["item"]["status"] == "warn" and result["item"]["alerts"] == result["alerts"]


@pytest.mark.parametrize("args, message", [
    (dict(disk_threshold_percent=-1), "disk_threshold_percent must be a percentage from 0 to 100, got -1"),
    (dict(memory_threshold_percent=-5), "memory_threshold_percent must be a percentage from 0 to 100, got -5"),
    (dict(cpu_threshold_percent=101), "cpu_threshold_percent must be a percentage from 0 to 100, got 101"),
    (dict(container_memory_threshold_percent=-1), "container_memory_threshold_percent must be a percentage from 0 to 100, got -1"),
    (dict(container_cpu_threshold_percent=-1), "container_cpu_threshold_percent must be 0 or more, got -1"),
    (dict(cpu_interval=-0.5), "cpu_interval must be 0 or more, got -0.5"),
    (dict(paths=["/nonexistent/a", "/", "/nonexistent/b"]), "paths do not exist: '/nonexistent/a', '/nonexistent/b'"),
    (dict(disk_threshold_percent="full"), "argument 'disk_threshold_percent' is of type str and we were unable to convert to int"),
])
def test_bad_arguments_fail_before_measuring(fake_docker, capsys, args, message):
    args.setdefault("cpu_interval", 0)
    assert run_module(args)
    result = result_of(capsys)
    assert result["failed"] is True and message in result["msg"]
    assert fake_docker.calls == []


def test_over_100_percent_is_a_valid_container_cpu_threshold(fake_docker, tmp_path, capsys):
    assert not run_module(dict(CALM, paths=[str(tmp_path)], cpu_interval=0, container_cpu_threshold_percent=400))
    assert result_of(capsys)["ok"] is True


def test_missing_container_is_named(fake_docker, tmp_path, capsys):
    fake_docker.error = docker.errors.NotFound("No such container: nope")
    assert run_module(dict(paths=[str(tmp_path)], cpu_interval=0, container="nope"))
    result = result_of(capsys)
    assert result["msg"] == "container 'nope' does not exist on unix:///var/run/docker.sock"
    assert result["disks"] and result["memory"]  # what was measured comes with the failure


def test_docker_errors_are_reported(fake_docker, tmp_path, capsys):
    fake_docker.init_error = docker.errors.DockerException("Error while fetching server API version: connection refused")
    assert run_module(dict(paths=[str(tmp_path)], cpu_interval=0, docker_host="tcp://127.0.0.1:1"))
    assert result_of(capsys)["msg"] == ("cannot read the stats of 'milos-shop' from the Docker daemon at tcp://127.0.0.1:1: "
                                        "Error while fetching server API version: connection refused")


def test_an_unexpected_error_carries_the_traceback(fake_docker, tmp_path, capsys, monkeypatch):
    fake_docker.error = ConnectionResetError("connection reset by peer")
    monkeypatch.setattr(_traceback, "_module_tracebacks_enabled_events", None)
    # Importing Ansible's controller side (the filter plugins' tests do) switches tracebacks to the controller's
    # configuration: a module reads _ansible_tracebacks_for.
    monkeypatch.setattr(_traceback, "_is_traceback_enabled", lambda event: event is _traceback.TracebackEvent.ERROR)
    assert run_module(dict(paths=[str(tmp_path)], cpu_interval=0, _ansible_tracebacks_for=["error"]))
    result = result_of(capsys)
    assert result["msg"] == "reading the stats of 'milos-shop' from unix:///var/run/docker.sock failed unexpectedly: connection reset by peer"
    assert "ConnectionResetError" in result["exception"]


def test_without_the_docker_library(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(_docker, "HAS_DOCKER", False)
    monkeypatch.setattr(_docker, "DOCKER_IMPORT_ERROR", "Traceback: No module named 'docker'")
    assert run_module(dict(paths=[str(tmp_path)], cpu_interval=5))  # fails before it samples the CPU
    result = result_of(capsys)
    assert "Failed to import the required Python library (docker)" in result["msg"]


def test_documentation_matches_the_argument_spec():
    """A local stand-in for validate-modules' docs/argspec comparison."""
    doc = yaml.safe_load(resource_usage.DOCUMENTATION)
    options = dict(doc["options"])
    for fragment in (checklist_fragment, docker_fragment):
        options.update(yaml.safe_load(fragment.ModuleDocFragment.DOCUMENTATION)["options"])
    spec = resource_usage.argument_spec()
    assert set(options) == set(spec)
    for name, arg in spec.items():
        option = options[name]
        assert option["type"] == arg["type"], name
        assert option.get("default") == arg.get("default"), name
        assert option.get("choices") == arg.get("choices"), name
        assert option.get("elements") == arg.get("elements"), name
    assert {"ok", "msg", "alerts", "disks", "memory", "cpu", "container", "item"} <= set(yaml.safe_load(resource_usage.RETURN))
    yaml.safe_load(resource_usage.EXAMPLES)


def test_the_item_leaves_the_disk_to_the_disk_item(fake_docker, tmp_path, capsys):
    assert not run_module(dict(paths=[str(tmp_path)], cpu_interval=0, disk_threshold_percent=0, memory_threshold_percent=100,
                               fail_on_alert=False, item_id="res", item_title="Resources"))
    result = result_of(capsys)
    assert [a["kind"] for a in result["alerts"]] == ["disk"] and result["alerts"][0]["severity"] == "fail"
    assert (result["item"]["id"], result["item"]["title"], result["item"]["status"]) == ("res", "Resources", "pass")


def test_over_a_threshold_the_item_warns(fake_docker, tmp_path, capsys):
    assert not run_module(dict(CALM, paths=[str(tmp_path)], cpu_interval=0, container_cpu_threshold_percent=10, fail_on_alert=False))
    item = result_of(capsys)["item"]
    assert item["status"] == "warn" and item["summary"] == "container milos-shop CPU 25.0% (threshold 10%)"
    assert item["alerts"][0]["threshold"] == 10 and item["alerts"][0]["value"] == 25.0


def test_a_missing_container_with_fail_on_alert_false_is_a_fail_item(fake_docker, tmp_path, capsys):
    fake_docker.error = docker.errors.NotFound("No such container: nope")
    assert not run_module(dict(CALM, paths=[str(tmp_path)], cpu_interval=0, container="nope", fail_on_alert=False))
    result = result_of(capsys)
    assert result["ok"] is False and result["changed"] is False
    assert result["item"]["status"] == "fail"
    assert result["item"]["summary"] == "container 'nope' does not exist on unix:///var/run/docker.sock"
    assert result["memory"]["total_bytes"] > 0


def test_docker_host_from_the_environment(fake_docker, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "tcp://10.1.2.3:2375")
    assert not run_module(dict(CALM, paths=[str(tmp_path)], cpu_interval=0))
    assert fake_docker.calls[0][1]["base_url"] == "tcp://10.1.2.3:2375"
