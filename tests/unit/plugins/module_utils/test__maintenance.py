# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tests of the maintenance marker: open, close, read, tokens, force, expired and unusable markers, check mode."""

from __future__ import annotations

import datetime
import json
import os
import stat

import pytest

from ansible_collections.milos_shop.ops.plugins.module_utils import _checklist
from ansible_collections.milos_shop.ops.plugins.module_utils import _maintenance as m
from ansible_collections.milos_shop.ops.plugins.module_utils._duration import DurationError

UTC = datetime.timezone.utc
T0 = datetime.datetime(2026, 11, 28, 16, 20, 0, tzinfo=UTC)


def at(minutes):
    return T0 + datetime.timedelta(minutes=minutes)


@pytest.fixture
def path(tmp_path):
    return str(tmp_path / "run" / "maintenance.json")


def marker(path):
    with open(path) as handle:
        return json.load(handle)


def put(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        handle.write(text)


def opened(path, now=T0, **kwargs):
    kwargs.setdefault("reason", "restore")
    kwargs.setdefault("by", "milos")
    return m.open_window(path, now=now, hostname="shop-1", pid=4242, **kwargs)


# -- small pieces -------------------------------------------------------------------

@pytest.mark.parametrize("environ, expected", [
    ({"SUDO_USER": "milos", "USER": "root"}, "milos"),
    ({"USER": "deploy"}, "deploy"),
    ({"SUDO_USER": "  ", "USER": "deploy"}, "deploy"),
    ({"SUDO_USER": ""}, "ansible"),
    ({}, "ansible"),
])
def test_default_by(environ, expected):
    assert m.default_by(environ) == expected


@pytest.mark.parametrize("moment, expected", [
    (datetime.datetime(2026, 11, 28, 16, 20, 0, 999999, tzinfo=UTC), "2026-11-28T16:20:00Z"),
    (datetime.datetime(2026, 11, 28, 17, 20, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=1))),
     "2026-11-28T16:20:00Z"),
])
def test_iso_is_utc_with_z(moment, expected):
    assert m.iso(moment) == expected
    assert _checklist.parse_time(m.iso(moment)) == moment.replace(microsecond=0)


@pytest.mark.parametrize("bad", ["relative/maintenance.json", "", None, "/var/lib/milos-shop/"])
def test_path_must_be_an_absolute_file(bad):
    with pytest.raises(m.MaintenanceError, match="path must"):
        m.run({"path": bad, "state": "read"})


@pytest.mark.parametrize("duration, seconds", [("30min", 1800), ("1h", 3600), ("1h30min", 5400), ("90", 90),
                                               (None, 3600)])
def test_duration_sets_until(path, duration, seconds):
    result = m.run({"path": path, "state": "open", "reason": "restore", "duration": duration}, now=T0)
    assert result["window"]["until"] == m.iso(T0 + datetime.timedelta(seconds=seconds))
    assert result["window"]["since"] == "2026-11-28T16:20:00Z"


@pytest.mark.parametrize("state", ["open", "closed", "read"])
@pytest.mark.parametrize("duration, message", [("90m", "ambiguous"), ("soon", "expected a duration"),
                                               ("0s", "positive"), ("1mo", "no fixed length"), ("", "expected")])
def test_bad_duration_names_the_option(path, state, duration, message):
    with pytest.raises(DurationError, match=r"^duration: .*%s" % message):
        m.run({"path": path, "state": state, "reason": "restore", "duration": duration}, now=T0)
    assert not os.path.exists(path)


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_open_needs_a_reason(path, reason):
    with pytest.raises(m.MaintenanceError, match="reason is required"):
        m.open_window(path, reason)
    assert not os.path.exists(path)


def test_unknown_state(path):
    with pytest.raises(m.MaintenanceError, match="state must be one of"):
        m.run({"path": path, "state": "opened"})


# -- open -------------------------------------------------------------------------

def test_open_writes_the_marker(path):
    result = opened(path, duration="30min")
    assert result["changed"] is True
    window = marker(path)
    assert window == result["window"]
    assert window == {"by": "milos", "reason": "restore", "since": "2026-11-28T16:20:00Z",
                      "until": "2026-11-28T16:50:00Z", "token": result["token"], "host": "shop-1", "pid": 4242}
    assert len(result["token"]) == 32 and int(result["token"], 16) >= 0
    assert result["replaced_expired"] is None and result["taken_over"] is None and result["renewed"] is False
    assert result["msg"] == "opened maintenance by milos until 2026-11-28T16:50:00Z (restore)"
    assert result["diff"]["before"] == "" and json.loads(result["diff"]["after"]) == window


def test_open_defaults(path, monkeypatch):
    monkeypatch.setenv("SUDO_USER", "milos")
    result = m.open_window(path, "restore")
    window = marker(path)
    assert window["by"] == "milos"
    assert window["host"] and window["pid"] == os.getpid()
    until = _checklist.parse_time(window["until"]) - _checklist.parse_time(window["since"])
    assert until == datetime.timedelta(hours=1)
    assert m.state_of(window) == "active" == m.read_window(path)["window_state"]
    assert result["token"] == window["token"]


def test_open_with_a_token_uses_it(path):
    assert opened(path, token="restore-42")["window"]["token"] == "restore-42" == marker(path)["token"]


def test_open_tokens_are_random(tmp_path):
    tokens = {opened(str(tmp_path / ("m%d.json" % i)))["token"] for i in range(5)}
    assert len(tokens) == 5


def test_file_and_directory_modes_whatever_the_umask(path):
    old = os.umask(0o077)
    try:
        opened(path)
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o755


def test_missing_directories_are_created(tmp_path):
    path = str(tmp_path / "a" / "b" / "c" / "maintenance.json")
    opened(path)
    for name in ("a", "a/b", "a/b/c"):
        assert stat.S_IMODE(os.stat(str(tmp_path / name)).st_mode) == 0o755
    assert marker(path)["reason"] == "restore"


def test_atomic_write_leaves_no_temp_file(path):
    opened(path)
    opened(path, now=at(120), reason="update")
    assert os.listdir(os.path.dirname(path)) == ["maintenance.json"]


def test_failed_write_leaves_no_temp_file_and_the_old_marker(path, monkeypatch):
    opened(path, duration="1min")
    before = open(path).read()

    def broken(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(m.os, "rename", broken)
    with pytest.raises(m.MaintenanceError, match="could not write the maintenance marker .*No space left"):
        opened(path, now=at(5), reason="update")
    assert open(path).read() == before
    assert os.listdir(os.path.dirname(path)) == ["maintenance.json"]


@pytest.mark.parametrize("token", [None, "other"])
def test_open_refuses_an_active_window_of_another_token(path, token):
    first = opened(path, token="restore-1", reason="restore of the 16:14 backup")
    before = open(path).read()
    with pytest.raises(m.MaintenanceError) as info:
        opened(path, now=at(10), by="anna", reason="update", token=token)
    assert info.value.msg.startswith(
        "maintenance already in progress by milos until 2026-11-28T17:20:00Z (restore of the 16:14 backup): ")
    assert "force=true" in info.value.msg
    assert info.value.result["window"] == first["window"]
    assert open(path).read() == before


def test_open_in_check_mode_refuses_too(path):
    opened(path)
    with pytest.raises(m.MaintenanceError, match="already in progress"):
        opened(path, now=at(1), reason="update", check_mode=True)


def test_force_takes_over_an_active_window(path):
    first = opened(path, token="restore-1")
    result = opened(path, now=at(10), by="anna", reason="urgent update", force=True)
    assert result["changed"] is True
    assert result["taken_over"] == first["window"]
    assert result["replaced_expired"] is None
    window = marker(path)
    assert window["by"] == "anna" and window["reason"] == "urgent update" and window["token"] != "restore-1"
    assert window["since"] == m.iso(at(10))
    assert "took over the active window of milos" in result["msg"]


def test_same_token_renews_the_window(path):
    first = opened(path, token="restore-1", duration="30min")
    result = opened(path, now=at(20), token="restore-1", duration="30min", reason="restore, second try")
    assert result["changed"] is True and result["renewed"] is True
    assert result["taken_over"] is None and result["replaced_expired"] is None
    window = marker(path)
    assert window["since"] == first["window"]["since"] == "2026-11-28T16:20:00Z"
    assert window["until"] == m.iso(at(50))
    assert window["token"] == "restore-1" and window["reason"] == "restore, second try"
    assert result["msg"].startswith("renewed maintenance by milos")


def test_same_token_on_an_expired_window_opens_a_new_one(path):
    first = opened(path, token="restore-1", duration="30min")
    result = opened(path, now=at(45), token="restore-1")
    assert result["renewed"] is False and result["replaced_expired"] == first["window"]
    assert marker(path)["since"] == m.iso(at(45))


@pytest.mark.parametrize("minutes, state", [(59, "active"), (60, "expired"), (61, "expired")])
def test_until_is_the_end(path, minutes, state):
    opened(path)
    assert m.read_window(path, now=at(minutes))["window_state"] == state


def test_expired_window_is_replaced_and_said_so(path):
    first = opened(path, by="anna", reason="update", duration="30min")
    result = opened(path, now=at(31))
    assert result["changed"] is True
    assert result["replaced_expired"] == first["window"]
    assert result["taken_over"] is None
    assert marker(path)["reason"] == "restore"
    assert "replaced the expired window of anna (update) that ended at 2026-11-28T16:50:00Z" in result["msg"]


@pytest.mark.parametrize("content, problem", [
    ("{not json", "is not valid JSON"),
    ("", "is not valid JSON"),
    ("[1, 2]", "is not a JSON object"),
    ('"until"', "is not a JSON object"),
    ('{"by": "anna", "reason": "update"}', "has no until"),
    ('{"by": "anna", "until": "next tuesday"}', "has an invalid until 'next tuesday'"),
    ('{"by": "anna", "until": 1764347000}', "has an invalid until 1764347000"),
    ('{"by": "anna", "until": "9999-12-31T23:59:59-05:00"}', "has an invalid until"),
    ('{"by": "anna", "until": null}', "has an invalid until None"),
])
def test_unusable_marker_is_replaced(path, content, problem):
    put(path, content)
    result = opened(path)
    assert result["changed"] is True
    assert problem in result["replaced_expired"]["problem"]
    assert "replaced a marker that could not be used" in result["msg"]
    assert marker(path)["reason"] == "restore"
    assert result["diff"]["before"] == content


# -- check mode -------------------------------------------------------------------

def test_check_mode_open_writes_nothing(path):
    result = opened(path, check_mode=True, token="restore-1")
    assert result["changed"] is True
    assert result["window"]["token"] == "restore-1" == result["token"]
    assert result["msg"].startswith("would open maintenance by milos until")
    assert json.loads(result["diff"]["after"]) == result["window"]
    assert not os.path.exists(os.path.dirname(path))


def test_check_mode_open_over_expired_and_renew(path):
    opened(path, token="restore-1", duration="30min")
    before = open(path).read()
    assert opened(path, now=at(10), token="restore-1", check_mode=True)["msg"].startswith("would renew")
    expired = opened(path, now=at(40), check_mode=True)
    assert expired["changed"] is True and expired["replaced_expired"]["token"] == "restore-1"
    assert open(path).read() == before


def test_check_mode_close_removes_nothing(path):
    first = opened(path)
    result = m.close_window(path, check_mode=True)
    assert result["changed"] is True and result["window"] == first["window"]
    assert result["msg"].startswith("would close")
    assert result["diff"]["after"] == "" and json.loads(result["diff"]["before"]) == first["window"]
    assert marker(path) == first["window"]


def test_check_mode_close_without_marker(path):
    assert m.close_window(path, check_mode=True)["changed"] is False


# -- closed -----------------------------------------------------------------------

@pytest.mark.parametrize("token", [None, "restore-1"])
def test_close_removes_the_marker(path, token):
    first = opened(path, token="restore-1")
    result = m.close_window(path, token=token)
    assert result["changed"] is True and result["window"] == first["window"]
    assert not os.path.exists(path)
    assert result["msg"] == "closed the maintenance window of milos (restore)"
    again = m.close_window(path, token=token)
    assert again["changed"] is False and again["window"] is None
    assert "no maintenance window to close" in again["msg"]


def test_close_without_marker_or_directory(tmp_path):
    result = m.close_window(str(tmp_path / "nowhere" / "maintenance.json"))
    assert result["changed"] is False and result["window"] is None


def test_close_with_another_token_leaves_the_marker(path):
    first = opened(path, token="restore-1", reason="restore of the 16:14 backup")
    result = m.close_window(path, token="update-7")
    assert result["changed"] is False and result["window"] is None
    assert result["open_window"] == first["window"]
    assert "it is the window of milos until 2026-11-28T17:20:00Z (restore of the 16:14 backup)" in result["msg"]
    assert marker(path) == first["window"]


def test_close_with_a_token_leaves_an_unusable_marker(path):
    put(path, "{not json")
    result = m.close_window(path, token="restore-1")
    assert result["changed"] is False and "cannot be read" in result["msg"]
    assert os.path.exists(path)


def test_close_without_a_token_removes_an_unusable_marker(path):
    put(path, "{not json")
    result = m.close_window(path)
    assert result["changed"] is True and result["window"]["problem"]
    assert not os.path.exists(path)


# -- read -------------------------------------------------------------------------

def test_read_without_marker(path):
    result = m.run({"path": path, "state": "read"}, now=T0)
    assert result == {"changed": False, "path": path, "window": None, "window_state": "none",
                      "msg": "no maintenance window: no marker at %s" % path}


def test_read_active_and_expired(path):
    first = opened(path, reason="restore of the 16:14 backup")
    active = m.read_window(path, now=at(5))
    assert active["changed"] is False and active["window"] == first["window"]
    assert active["window_state"] == "active"
    assert active["msg"] == ("maintenance by milos until 2026-11-28T17:20:00Z (restore of the 16:14 backup), "
                             "opened at 2026-11-28T16:20:00Z on shop-1")
    expired = m.read_window(path, now=at(90))
    assert expired["window_state"] == "expired"
    assert "ended at 2026-11-28T17:20:00Z but its marker %s is still there" % path in expired["msg"]
    assert open(path).read() == m.render(first["window"])


@pytest.mark.parametrize("content, problem", [
    ("{not json", "is not valid JSON"),
    ("\x00\xff garbage", "is not valid JSON"),
    ("42", "is not a JSON object"),
    ('{"by": "anna", "reason": "update"}', "has no until"),
    ('{"by": "anna", "until": "soon"}', "has an invalid until 'soon'"),
    ('{"by": "anna", "until": "9999-12-31T23:59:59-05:00"}', "has an invalid until"),
    ("x" * (m.MAX_READ + 10), "is larger than"),
])
def test_read_unusable_marker_is_expired_never_a_crash(path, content, problem):
    put(path, content)
    result = m.read_window(path, now=T0)
    assert result["changed"] is False
    assert result["window_state"] == "expired"
    assert problem in result["msg"] and problem in result["problem"]
    assert result["window"]["until"] is None and result["window"]["problem"] == result["problem"]
    # The checks see it as an expired window: a warn item, not a crash and not nothing.
    assert _checklist.window_state(result["window"], T0) == "expired"
    items = _checklist.apply_window([_checklist.make_item("health", "Health", "fail", "down")], result["window"], T0)
    assert [item["status"] for item in items] == ["fail", "warn"]
    assert items[-1]["id"] == "maintenance"


def test_read_keeps_what_an_unusable_marker_said(path):
    put(path, '{"by": "anna", "reason": "update", "until": "soon"}')
    window = m.read_window(path, now=T0)["window"]
    assert window["by"] == "anna" and window["reason"] == "update" and window["invalid_until"] == "soon"


def test_read_unreadable_marker(path):
    os.makedirs(path)  # a directory where the marker should be: open() fails (EISDIR)
    result = m.read_window(path, now=T0)
    assert result["window_state"] == "expired" and "cannot be read" in result["msg"]


@pytest.mark.parametrize("now, state", [(at(-1), "active"), (at(59), "active"), (at(61), "expired")])
def test_checks_honour_the_window_that_open_wrote(path, now, state):
    opened(path)
    window = m.read_window(path, now=now)["window"]
    items = [_checklist.make_item("health", "Health", "fail", "connection refused",
                                  alerts=[_checklist.alert("connection_refused", "fail", "connection refused")])]
    result = _checklist.apply_window(items, window, now)
    if state == "active":
        assert [item["status"] for item in result] == ["skip"]
        assert result[0]["summary"].startswith("maintenance by milos until 2026-11-28T17:20:00Z (restore)")
        assert result[0]["alerts"] == []
    else:
        assert [item["status"] for item in result] == ["fail", "warn"]


def test_two_opens_at_once_one_wins(path):
    import threading

    os.makedirs(os.path.dirname(path))
    barrier = threading.Barrier(8)
    outcomes = []

    def contender(number):
        barrier.wait()
        try:
            outcomes.append(("opened", opened(path, token="step-%d" % number)["token"]))
        except m.MaintenanceError as exc:
            outcomes.append(("refused", exc.msg))

    threads = [threading.Thread(target=contender, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [token for outcome, token in outcomes if outcome == "opened"]
    assert len(winners) == 1 and len(outcomes) == 8
    assert marker(path)["token"] == winners[0]
