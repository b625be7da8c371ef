# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The maintenance_window module's entry point: arguments, results, check mode, diff, failures, docs."""

from __future__ import annotations

import json
import os
import stat

import pytest
import yaml
from ansible.module_utils._internal import _traceback

from ansible_collections.milos_shop.ops.plugins.modules import maintenance_window
from tests.helpers.module_harness import result_of, run_main


def run_module(args, check_mode=False, diff=False):
    return run_main(maintenance_window.main, args, check_mode=check_mode, diff=diff)


@pytest.fixture
def path(tmp_path):
    return str(tmp_path / "state" / "maintenance.json")


def marker(path):
    with open(path) as handle:
        return json.load(handle)


def open_args(path, **kwargs):
    return dict(dict(path=path, state="open", by="milos", reason="restore"), **kwargs)


def test_open_read_close(path, capsys):
    assert not run_module(open_args(path, duration="30min"))
    opened = result_of(capsys)
    assert opened["changed"] is True
    assert opened["window"] == marker(path)
    assert opened["token"] == opened["window"]["token"]
    assert set(opened["window"]) == {"by", "reason", "since", "until", "token", "host", "pid"}
    assert opened["replaced_expired"] is None and opened["taken_over"] is None and opened["renewed"] is False
    assert "diff" not in opened
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o755

    assert not run_module(dict(path=path))
    read = result_of(capsys)
    assert read["changed"] is False and read["window_state"] == "active" and read["window"] == opened["window"]
    assert read["msg"].startswith("maintenance by milos until %s (restore)" % opened["window"]["until"])

    assert not run_module(dict(path=path, state="closed", token=opened["token"]))
    closed = result_of(capsys)
    assert closed["changed"] is True and closed["window"] == opened["window"]
    assert not os.path.exists(path)

    assert not run_module(dict(path=path, state="closed", token=opened["token"]))
    again = result_of(capsys)
    assert again["changed"] is False and again["window"] is None

    assert not run_module(dict(path=path))
    assert result_of(capsys)["window_state"] == "none"


@pytest.mark.parametrize("environ, expected", [
    ({"SUDO_USER": "milos", "USER": "root"}, "milos"),
    ({"USER": "deploy"}, "deploy"),
    ({}, "ansible"),
])
def test_by_defaults_to_the_user(path, capsys, monkeypatch, environ, expected):
    for name in ("SUDO_USER", "USER"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    assert not run_module(dict(path=path, state="open", reason="restore"))
    assert result_of(capsys)["window"]["by"] == expected == marker(path)["by"]


def test_concurrent_open_by_another_token_is_refused(path, capsys):
    assert not run_module(open_args(path, token="restore-1"))
    first = result_of(capsys)
    assert run_module(open_args(path, by="anna", reason="update", token="update-7"))
    failed = result_of(capsys)
    assert failed["failed"] is True
    assert failed["msg"].startswith("maintenance already in progress by milos until %s (restore): "
                                    % first["window"]["until"])
    assert failed["window"] == first["window"]
    assert "changed" not in failed or failed["changed"] is False
    assert marker(path) == first["window"]


def test_force_takes_over(path, capsys):
    assert not run_module(open_args(path, token="restore-1"))
    first = result_of(capsys)
    assert not run_module(open_args(path, by="anna", reason="update", force=True))
    forced = result_of(capsys)
    assert forced["changed"] is True and forced["taken_over"] == first["window"]
    assert marker(path)["by"] == "anna"


def test_same_token_renews(path, capsys):
    assert not run_module(open_args(path, token="restore-1"))
    first = result_of(capsys)
    assert not run_module(open_args(path, token="restore-1", reason="restore, second try"))
    renewed = result_of(capsys)
    assert renewed["changed"] is True and renewed["renewed"] is True
    assert renewed["window"]["since"] == first["window"]["since"]


def test_expired_marker_is_replaced(path, capsys):
    os.makedirs(os.path.dirname(path))
    old = {"by": "anna", "reason": "update", "since": "2026-11-27T02:00:00Z", "until": "2026-11-27T03:00:00Z",
           "token": "update-7", "host": "shop-1", "pid": 1}
    with open(path, "w") as handle:
        json.dump(old, handle)
    assert not run_module(dict(path=path))
    assert result_of(capsys)["window_state"] == "expired"
    assert not run_module(open_args(path))
    result = result_of(capsys)
    assert result["changed"] is True and result["replaced_expired"] == old
    assert marker(path)["reason"] == "restore"


@pytest.mark.parametrize("content", ["{not json", "[]", '{"by": "anna"}', '{"until": "soon"}'])
def test_bad_marker_is_reported_not_a_crash(path, capsys, content):
    os.makedirs(os.path.dirname(path))
    with open(path, "w") as handle:
        handle.write(content)
    assert not run_module(dict(path=path))
    result = result_of(capsys)
    assert result["changed"] is False and result["window_state"] == "expired"
    assert "maintenance marker %r" % path in result["msg"] and result["problem"]
    assert result["window"]["until"] is None
    assert open(path).read() == content


@pytest.mark.parametrize("args", [
    dict(state="open", reason="restore"),
    dict(state="closed"),
    dict(state="closed", token="restore-1"),
])
def test_check_mode_writes_nothing(path, capsys, args):
    if args["state"] == "closed":
        assert not run_module(open_args(path, token="restore-1"))
        result_of(capsys)
    before = sorted(os.listdir(os.path.dirname(path))) if os.path.isdir(os.path.dirname(path)) else None
    content = open(path).read() if os.path.exists(path) else None
    assert not run_module(dict(args, path=path), check_mode=True)
    predicted = result_of(capsys)
    assert predicted["changed"] is True
    after = sorted(os.listdir(os.path.dirname(path))) if os.path.isdir(os.path.dirname(path)) else None
    assert after == before
    assert (open(path).read() if os.path.exists(path) else None) == content
    # The prediction holds: the real run changes as predicted.
    assert not run_module(dict(args, path=path))
    assert result_of(capsys)["changed"] is True


@pytest.mark.parametrize("args", [dict(state="closed"), dict(state="read")])
def test_check_mode_nothing_to_do(path, capsys, args):
    assert not run_module(dict(args, path=path), check_mode=True)
    assert result_of(capsys)["changed"] is False


def test_check_mode_close_of_another_token(path, capsys):
    assert not run_module(open_args(path, token="restore-1"))
    result_of(capsys)
    assert not run_module(dict(path=path, state="closed", token="update-7"), check_mode=True)
    result = result_of(capsys)
    assert result["changed"] is False and "not the one opened with this token" in result["msg"]


def test_diff_shows_the_marker_before_and_after(path, capsys):
    assert not run_module(open_args(path, token="restore-1"), diff=True)
    opened = result_of(capsys)
    assert opened["diff"]["before"] == ""
    assert json.loads(opened["diff"]["after"]) == opened["window"] == marker(path)

    assert not run_module(open_args(path, token="restore-1", reason="restore, again"), check_mode=True, diff=True)
    renew = result_of(capsys)
    assert json.loads(renew["diff"]["before"]) == opened["window"]
    assert json.loads(renew["diff"]["after"])["reason"] == "restore, again"

    assert not run_module(dict(path=path, state="closed"), diff=True)
    closed = result_of(capsys)
    assert json.loads(closed["diff"]["before"]) == opened["window"] and closed["diff"]["after"] == ""


@pytest.mark.parametrize("args, message", [
    (dict(state="open"), "state is open but all of the following are missing: reason"),
    (dict(state="open", reason="restore", duration="90m"), "duration: the unit m is ambiguous"),
    (dict(state="read", duration="soon"), "duration: expected a duration"),
    (dict(state="opened"), "value of state must be one of: open, closed, read"),
])
def test_bad_arguments(path, capsys, args, message):
    assert run_module(dict(args, path=path))
    assert message in result_of(capsys)["msg"]
    assert not os.path.exists(path)


def test_relative_path_is_refused(capsys):
    assert run_module(dict(path="maintenance.json", state="open", reason="restore"))
    assert "path must be an absolute file path" in result_of(capsys)["msg"]


def test_write_error_fails_with_the_path(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    path = str(blocker / "maintenance.json")  # its directory is a file
    assert run_module(open_args(path))
    result = result_of(capsys)
    assert result["failed"] is True
    assert result["msg"].startswith("could not write the maintenance marker %r: " % path)


def test_unexpected_error_carries_the_traceback(path, capsys, monkeypatch):
    def boom(params, check_mode=False):
        raise RuntimeError("boom")

    monkeypatch.setattr(maintenance_window, "run", boom)
    monkeypatch.setattr(_traceback, "_module_tracebacks_enabled_events", None)
    # Importing Ansible's controller side (the filter plugins' tests do, in the same xdist worker)
    # switches tracebacks to the controller's configuration: a module reads _ansible_tracebacks_for.
    monkeypatch.setattr(_traceback, "_is_traceback_enabled", lambda event: event is _traceback.TracebackEvent.ERROR)
    assert run_module(dict(path=path, _ansible_tracebacks_for=["error"]))
    result = result_of(capsys)
    assert result["msg"] == "maintenance_window failed unexpectedly: boom"
    assert "Traceback" in result["exception"] and "RuntimeError" in result["exception"]


def test_docs_match_the_argument_spec():
    docs = yaml.safe_load(maintenance_window.DOCUMENTATION)
    spec = maintenance_window.argument_spec()
    assert set(docs["options"]) == set(spec)
    for name, option in docs["options"].items():
        assert option["type"] == spec[name]["type"], name
        assert option.get("default") == spec[name].get("default"), name
        assert option.get("choices") == spec[name].get("choices"), name
        assert bool(option.get("required")) == bool(spec[name].get("required")), name
    assert docs["version_added"] == "0.2.0"
    assert docs["attributes"]["check_mode"]["support"] == "full"
    assert docs["attributes"]["diff_mode"]["support"] == "full"
    assert docs["attributes"]["idempotent"]["support"] == "partial"
    yaml.safe_load(maintenance_window.EXAMPLES)
    returns = yaml.safe_load(maintenance_window.RETURN)
    for key in ("path", "window", "window_state", "token", "replaced_expired", "taken_over", "renewed", "msg"):
        assert key in returns, key
