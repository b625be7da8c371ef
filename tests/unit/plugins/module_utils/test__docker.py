# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one way to the Docker daemon: docker_host with DOCKER_HOST through env_fallback, the client, the SDK check."""

from __future__ import annotations

import docker
import pytest
import yaml

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.testing import patch_module_args

from ansible_collections.milos_shop.ops.plugins.doc_fragments import _docker as docker_fragment
from ansible_collections.milos_shop.ops.plugins.module_utils import _docker


def params_with(monkeypatch, env=None, **args):
    if env is None:
        monkeypatch.delenv("DOCKER_HOST", raising=False)
    else:
        monkeypatch.setenv("DOCKER_HOST", env)
    with patch_module_args(dict(args)):
        module = AnsibleModule(argument_spec=_docker.docker_argument_spec())
    return module.params


@pytest.mark.parametrize("env, args, host", [
    (None, {}, "unix:///var/run/docker.sock"),
    ("tcp://10.0.0.1:2375", {}, "tcp://10.0.0.1:2375"),
    ("tcp://10.0.0.1:2375", {"docker_host": "unix:///run/other.sock"}, "unix:///run/other.sock"),
    (None, {"docker_host": "ssh://ops@shop"}, "ssh://ops@shop"),
])
def test_docker_host_option_env_and_default(monkeypatch, env, args, host):
    assert _docker.docker_host(params_with(monkeypatch, env, **args)) == host


def test_an_empty_docker_host_is_the_local_socket():
    assert _docker.docker_host({"docker_host": ""}) == _docker.DEFAULT_DOCKER_HOST
    assert _docker.docker_host({}) == _docker.DEFAULT_DOCKER_HOST


def test_the_doc_fragment_matches_the_spec():
    option = yaml.safe_load(docker_fragment.ModuleDocFragment.DOCUMENTATION)["options"]["docker_host"]
    spec = _docker.docker_argument_spec()["docker_host"]
    assert option["type"] == spec["type"] and option["default"] == spec["default"]


def test_api_client(monkeypatch):
    made = []
    monkeypatch.setattr(docker, "APIClient", lambda **kwargs: made.append(kwargs) or "client")
    assert _docker.api_client("tcp://h:1", timeout=5) == "client"
    assert made == [{"base_url": "tcp://h:1", "version": "auto", "timeout": 5}]


class FailingModule(object):
    def fail_json(self, **result):
        raise SystemExit(result)


def test_require_docker_without_the_sdk(monkeypatch):
    monkeypatch.setattr(_docker, "HAS_DOCKER", False)
    monkeypatch.setattr(_docker, "DOCKER_IMPORT_ERROR", "Traceback: No module named 'docker'")
    with pytest.raises(SystemExit) as info:
        _docker.require_docker(FailingModule())
    result = info.value.args[0]
    assert "Failed to import the required Python library (docker)" in result["msg"]
    assert result["exception"] == "Traceback: No module named 'docker'"


def test_require_docker_with_the_sdk():
    assert _docker.HAS_DOCKER is True
    _docker.require_docker(FailingModule())  # nothing happens
