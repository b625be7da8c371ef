# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The container_status module's entry point: options, item, secrets, failures, docs (the Docker client faked)."""

from __future__ import annotations

import copy
import datetime

import docker
import docker.errors
import pytest
import yaml

from ansible_collections.milos_shop.ops.plugins.doc_fragments import _checklist as checklist_fragment
from ansible_collections.milos_shop.ops.plugins.doc_fragments import _docker as docker_fragment
from ansible_collections.milos_shop.ops.plugins.module_utils import _docker
from ansible_collections.milos_shop.ops.plugins.modules import container_status
from tests.helpers.module_harness import result_of, run_main

STARTED = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S.000000001Z")
INSPECT = {
    "Id": "0123abcd", "Name": "/shop", "RestartCount": 0,
    "State": {"Status": "running", "Running": True, "Restarting": False, "ExitCode": 0, "StartedAt": STARTED,
              "FinishedAt": "0001-01-01T00:00:00Z", "Health": {"Status": "healthy"}},
    "Config": {"Image": "milos-shop/standin:local", "Env": ["SENTRY_DSN=https://very-secret@sentry.example/1"]},
    "Mounts": [{"Type": "bind", "Source": "/srv/shop/data", "Destination": "/app/data", "RW": True}],
}


class FakeClient(object):
    """Stands in for docker.APIClient: inspect_container() answers a document, or raises."""

    calls = []
    doc = None
    error = None
    init_error = None

    def __init__(self, **kwargs):
        if FakeClient.init_error is not None:
            raise FakeClient.init_error
        FakeClient.calls.append(("init", kwargs))

    def inspect_container(self, container):
        FakeClient.calls.append(("inspect", container))
        if FakeClient.error is not None:
            raise FakeClient.error
        return copy.deepcopy(FakeClient.doc)


@pytest.fixture
def fake_docker(monkeypatch):
    FakeClient.calls = []
    FakeClient.doc = INSPECT
    FakeClient.error = None
    FakeClient.init_error = None
    monkeypatch.setattr(docker, "APIClient", FakeClient)
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    return FakeClient


def run_module(args, check_mode=False):
    return run_main(container_status.main, args, check_mode=check_mode)


def test_a_healthy_container_passes(fake_docker, capsys):
    assert not run_module(dict(container="shop"))
    result = result_of(capsys)
    assert result["changed"] is False and "failed" not in result
    item = result["item"]
    assert item["id"] == "containers" and item["status"] == "pass", item
    assert item["summary"].startswith("container shop is running, health healthy, 0 restarts, up 7")
    assert set(item["evidence"]) >= {"exists", "status", "health", "restart_count", "restart_loop", "uptime_s", "started_at", "image"}
    assert result["container"]["mounts"][0]["source"] == "/srv/shop/data"
    assert result["database_host_path"] is None and result["database_host_path_error"] is None
    assert fake_docker.calls == [("init", {"base_url": "unix:///var/run/docker.sock", "version": "auto", "timeout": 60}),
                                 ("inspect", "shop")]


def test_the_environment_never_comes_back(fake_docker, capsys):
    assert not run_module(dict(container="shop", database_path="/app/data/milos_shop.db"))
    out = capsys.readouterr().out
    assert "very-secret" not in out and "SENTRY_DSN" not in out


def test_check_mode_returns_the_same(fake_docker, capsys):
    assert not run_module(dict(container="shop"))
    normal = result_of(capsys)
    assert not run_module(dict(container="shop"), check_mode=True)
    checked = result_of(capsys)
    assert checked["changed"] is False
    assert checked["item"]["status"] == normal["item"]["status"] == "pass"
    assert checked["container"] == normal["container"]


def test_a_missing_container_is_a_fail_item_not_a_failed_task(fake_docker, capsys):
    fake_docker.error = docker.errors.NotFound("No such container: nope")
    assert not run_module(dict(container="nope", database_path="/app/data/milos_shop.db"))
    result = result_of(capsys)
    assert result["item"]["status"] == "fail" and result["item"]["summary"] == "container nope does not exist"
    assert result["container"]["exists"] is False
    assert result["database_host_path"] is None
    assert result["database_host_path_error"] == "container nope does not exist: cannot find /app/data/milos_shop.db from its mounts"


def test_an_unreachable_daemon_is_a_fail_item(fake_docker, capsys):
    fake_docker.init_error = docker.errors.DockerException("Error while fetching server API version: connection refused")
    assert not run_module(dict(container="shop", docker_host="tcp://127.0.0.1:1", database_path="/app/data/x.db"))
    result = result_of(capsys)
    assert result["item"]["status"] == "fail" and result["item"]["alerts"][0]["kind"] == "check_error"
    assert result["item"]["summary"] == ("cannot read the state of container shop: the Docker daemon at tcp://127.0.0.1:1: "
                                         "Error while fetching server API version: connection refused")
    assert result["database_host_path_error"].startswith("cannot read the mounts of container shop from the Docker daemon")


def test_docker_host_from_the_environment(fake_docker, capsys, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "tcp://10.0.0.1:2375")
    assert not run_module(dict(container="shop"))
    assert fake_docker.calls[0][1]["base_url"] == "tcp://10.0.0.1:2375"


@pytest.mark.parametrize("restarts, window, status", [(3, "10min", "pass"), (3, "3h", "fail"), (3, "10800", "fail"),
                                                      (2, "3h", "pass")])
def test_restart_window_is_a_duration(fake_docker, capsys, restarts, window, status):
    fake_docker.doc = dict(INSPECT, RestartCount=restarts)
    assert not run_module(dict(container="shop", restart_window=window))
    item = result_of(capsys)["item"]
    assert item["status"] == status and item["evidence"]["restart_window_s"] in (600, 10800)


def test_database_host_path(fake_docker, capsys):
    assert not run_module(dict(container="shop", database_path="/app/data/milos_shop.db"))
    result = result_of(capsys)
    assert result["database_host_path"] == "/srv/shop/data/milos_shop.db" and result["database_host_path_error"] is None
    assert result["database_mount"] == {"type": "bind", "source": "/srv/shop/data", "destination": "/app/data", "rw": True}


def test_item_id_and_title(fake_docker, capsys):
    assert not run_module(dict(name="shop", item_id="app", item_title="App container"))
    item = result_of(capsys)["item"]
    assert (item["id"], item["title"]) == ("app", "App container")
    assert fake_docker.calls[-1] == ("inspect", "shop")  # name is an alias of container


@pytest.mark.parametrize("args, message", [
    (dict(restart_window="10m"), "restart_window: the unit m is ambiguous; write min for minutes"),
    (dict(restart_window="soon"), "restart_window: expected a duration"),
    (dict(restart_window="0"), "restart_window: expected a positive duration, got '0'"),
    (dict(restart_loop_count=0), "restart_loop_count must be 1 or more, got 0"),
    (dict(container=""), "container must be the name or id of a container, got ''"),
    (dict(database_path="data/milos_shop.db"), "database_path must be an absolute path of a file inside the container, got 'data/milos_shop.db'"),
    (dict(database_path="/"), "database_path must be an absolute path of a file inside the container, got '/'"),
])
def test_bad_options_fail_the_task(fake_docker, capsys, args, message):
    assert run_module(args)
    result = result_of(capsys)
    assert result["failed"] is True and message in result["msg"]
    assert fake_docker.calls == []


def test_without_the_docker_library(fake_docker, capsys, monkeypatch):
    monkeypatch.setattr(_docker, "HAS_DOCKER", False)
    assert run_module(dict(container="shop"))
    assert "Failed to import the required Python library (docker)" in result_of(capsys)["msg"]


def test_an_unexpected_error_carries_the_traceback(fake_docker, capsys):
    fake_docker.error = ConnectionResetError("connection reset by peer")
    assert run_module(dict(container="shop"))
    result = result_of(capsys)
    assert result["msg"] == "reading container 'shop' from unix:///var/run/docker.sock failed unexpectedly: connection reset by peer"


def test_documentation_matches_the_argument_spec():
    """A local stand-in for validate-modules' docs/argspec comparison (doc fragments included)."""
    doc = yaml.safe_load(container_status.DOCUMENTATION)
    options = dict(doc["options"])
    for fragment in (checklist_fragment, docker_fragment):
        options.update(yaml.safe_load(fragment.ModuleDocFragment.DOCUMENTATION)["options"])
    assert "milos_shop.ops._checklist" in doc["extends_documentation_fragment"]
    assert "milos_shop.ops._docker" in doc["extends_documentation_fragment"]
    spec = container_status.argument_spec()
    assert set(options) == set(spec)
    for name, arg in spec.items():
        assert options[name]["type"] == arg["type"], name
        assert options[name].get("default") == arg.get("default"), name
    assert {"item", "container", "database_host_path", "database_host_path_error"} <= set(yaml.safe_load(container_status.RETURN))
    yaml.safe_load(container_status.EXAMPLES)
