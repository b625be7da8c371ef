# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""health_probe against the stand-in Milos-Shop: healthy, slow, failing, stopped.

The module runs as Ansible runs it (an ad-hoc command on localhost), in check
mode and not; the fault switches of the stand-in give the symptoms the guide
names ("tiempo de respuesta > 5s", a 500 from /api/services, a stopped container).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ansible_collections.milos_shop.ops.plugins.module_utils._health import probe
from ansible_collections.milos_shop.ops.plugins.modules.health_probe import argument_spec

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[2]
ANSIBLE = Path(sys.executable).parent / "ansible"
ENV = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".cache" / "collections"), ANSIBLE_NOCOLOR="1",
           ANSIBLE_STDOUT_CALLBACK="json", ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_LOCALHOST_WARNING="0",
           ANSIBLE_INVENTORY_UNPARSED_WARNING="0")
# What changes from one run to the next of the same probe.
TIMING = ("latency_ms", "msg", "alerts", "websocket", "invocation", "item")


def adhoc(args, check=False):
    """Run the module on localhost; return (return code, the host's result)."""
    cmd = [str(ANSIBLE), "localhost", "-m", "milos_shop.ops.health_probe", "-a", json.dumps(args)]
    res = subprocess.run(cmd + (["--check"] if check else []), capture_output=True, text=True, env=ENV, timeout=60, check=False)
    try:
        result = json.loads(res.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]
    except (ValueError, KeyError, IndexError):
        raise AssertionError("no result from ansible (rc %d):\n%s%s" % (res.returncode, res.stdout, res.stderr))
    return res.returncode, result


def params(url, **overrides):
    values = dict((name, spec.get("default")) for name, spec in argument_spec().items())
    values.update(overrides, url=url)
    return values


def same_result(applied, checked):
    assert dict((k, v) for k, v in applied.items() if k not in TIMING) == dict((k, v) for k, v in checked.items() if k not in TIMING)
    assert [a["kind"] for a in applied["alerts"]] == [a["kind"] for a in checked["alerts"]]
    assert applied["item"]["status"] == checked["item"]["status"]
    assert applied["item"]["summary"].startswith(applied["url"])


def test_healthy_with_websocket_in_check_mode_and_not(shared_standin):
    args = {"url": shared_standin.url + "/api/services", "websocket": True, "json_assertions": ["length(@) > `0`"],
            "return_json": True}
    rc, applied = adhoc(args)
    assert rc == 0, applied["msg"]
    assert applied["changed"] is False and applied["ok"] is True and applied["alerts"] == []
    assert applied["status"] == 200 and applied["latency_ms"] < 5000
    assert [s["name"] for s in applied["json"]] == ["web-design", "seo-audit", "maintenance", "hosting"]
    assert applied["websocket"]["status"] == 101 and applied["websocket"]["accept_ok"] is True
    assert applied["websocket"]["url"] == shared_standin.url + "/socket.io/?EIO=4&transport=websocket"

    rc, checked = adhoc(args, check=True)
    assert rc == 0, checked["msg"]
    assert checked["changed"] is False
    same_result(applied, checked)
    assert checked["websocket"]["status"] == 101 and checked["websocket"]["accept_ok"] is True


def test_an_answer_slower_than_5s_is_a_latency_alert(shared_standin):
    """The guide's "tiempo de respuesta > 5s", with the default threshold of 5000 ms."""
    url = shared_standin.url + "/api/_fault/slow?ms=6000"
    rc, result = adhoc({"url": url, "expect_json": True})
    assert rc != 0 and result["failed"] is True and result["changed"] is False
    assert result["status"] == 200 and result["ok"] is False
    assert [a["kind"] for a in result["alerts"]] == ["latency"]
    assert 6000 <= result["alerts"][0]["value"] < 9000
    assert result["msg"] == "%s answered in %.0f ms, over the 5000 ms threshold" % (url, result["latency_ms"])
    # Slow but answering: the item warns (the task fails through fail_on_alert only).
    assert result["item"]["status"] == "warn" and result["item"]["summary"] == result["msg"]
    assert result["alerts"][0]["severity"] == "warn" and result["alerts"][0]["threshold"] == 5000


def test_services_error_then_a_stopped_container(standin):
    url = standin.url + "/api/services"
    assert probe(params(url))["ok"] is True

    assert standin.request("/api/_fault/services", "POST", {"mode": "error"})[0] == 200
    result = probe(params(url, json_assertions=["length(@) > `0`"]))
    assert [a["kind"] for a in result["alerts"]] == ["status"]
    assert result["status"] == 500 and result["alerts"][0]["value"] == 500
    assert result["msg"] == "%s answered 500 Internal Server Error, expected 200" % url

    # A retry does not help while the fault is on; it is the last attempt that is reported.
    delays = []
    result = probe(params(url, retries=2, backoff=0.1), sleep=delays.append)
    assert result["attempts"] == 3 and delays == [0.1, 0.2] and result["status"] == 500

    assert standin.request("/api/_fault/services", "POST", {"mode": "ok"})[0] == 200
    assert probe(params(url, json_assertions=["length(@) > `0`"]))["ok"] is True

    standin.compose("stop")
    rc, applied = adhoc({"url": url, "websocket": True})
    assert rc != 0 and applied["failed"] is True and applied["changed"] is False
    assert [a["kind"] for a in applied["alerts"]] == ["connection_refused", "websocket"]
    assert applied["error"]["kind"] == "connection_refused" and applied["status"] is None
    assert applied["msg"].startswith("connection to '127.0.0.1' refused (nothing listens there?); WebSocket connection_refused: ")
    assert applied["item"]["status"] == "fail" and applied["item"]["summary"].startswith(url + ": connection to '127.0.0.1' refused")

    rc, checked = adhoc({"url": url, "websocket": True}, check=True)
    assert rc != 0 and checked["failed"] is True and checked["changed"] is False
    same_result(applied, checked)
    assert checked["msg"] == applied["msg"]
