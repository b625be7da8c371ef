# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tests of the checklist filters: the Jinja face of module_utils/_checklist.py."""

from __future__ import annotations

import datetime

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.milos_shop.ops.plugins.filter import checklist as f
from ansible_collections.milos_shop.ops.plugins.module_utils import _checklist as c

UTC = datetime.timezone.utc


def item(item_id, status, summary=None):
    alerts = [c.alert(item_id, status, "%s is %s" % (item_id, status))] if status in ("warn", "fail") else []
    return c.make_item(item_id, item_id.title(), status, summary or "%s %s" % (item_id, status), alerts=alerts)


ITEMS = [item("health", "pass"), item("disk", "warn"), item("logs", "skip", "no log file"), item("memory", "fail"),
         item("backup", "pass"), item("tls", "warn")]


def future(hours=1):
    return (datetime.datetime.now(UTC) + datetime.timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_filter_names():
    assert sorted(f.FilterModule().filters()) == [
        "checklist_counts", "checklist_message_kind", "checklist_problems", "checklist_record", "checklist_sort",
        "checklist_window", "checklist_worst"]
    for name, function in f.FilterModule().filters().items():
        assert function is getattr(f, name)


# -- checklist_worst ----------------------------------------------------------------

@pytest.mark.parametrize("value, expected", [
    (["pass"], "pass"),
    (["pass", "skip"], "skip"),
    (["skip", "warn", "pass"], "warn"),
    (["warn", "fail"], "fail"),
    (ITEMS, "fail"),
    (ITEMS[:3], "warn"),
    ([item("a", "pass"), "skip"], "skip"),
    ([], "fail"),
])
def test_checklist_worst(value, expected):
    assert f.checklist_worst(value) == expected


@pytest.mark.parametrize("empty", ["pass", "skip", "fail"])
def test_checklist_worst_empty(empty):
    assert f.checklist_worst([], empty) == empty
    assert f.checklist_worst(["warn"], empty) == "warn"


@pytest.mark.parametrize("value, message", [
    ("pass", "checklist_worst expects a list of items or statuses, got str"),
    ({"status": "pass"}, "checklist_worst expects a list of items or statuses, got dict"),
    (None, "got NoneType"),
    (["pass", "ok"], "checklist_worst: unknown status 'ok' (expected one of fail, warn, skip, pass)"),
    ([{"id": "x"}], "unknown status None"),
    ([None], "unknown status None"),
])
def test_checklist_worst_errors(value, message):
    with pytest.raises(AnsibleFilterError, match=message.replace("(", r"\(").replace(")", r"\)")):
        f.checklist_worst(value)


# -- checklist_sort, checklist_counts, checklist_problems ---------------------------

def test_checklist_sort():
    assert [i["id"] for i in f.checklist_sort(ITEMS)] == ["memory", "disk", "tls", "logs", "health", "backup"]
    assert f.checklist_sort([]) == []


def test_checklist_counts():
    assert f.checklist_counts(ITEMS) == {"fail": 1, "warn": 2, "skip": 1, "pass": 2}
    assert f.checklist_counts([]) == {"fail": 0, "warn": 0, "skip": 0, "pass": 0}


def test_checklist_problems():
    assert [i["id"] for i in f.checklist_problems(ITEMS)] == ["memory", "disk", "tls", "logs"]
    assert f.checklist_problems([item("a", "pass")]) == []


BAD_ITEM = {"id": "x", "title": "X", "status": "ok", "summary": "", "evidence": {}, "alerts": []}


@pytest.mark.parametrize("name", ["checklist_sort", "checklist_counts", "checklist_problems", "checklist_window"])
@pytest.mark.parametrize("value, message", [
    ("pass", r" expects a list of checklist items, got str"),
    ({"id": "x"}, r" expects a list of checklist items, got dict"),
    (None, r" expects a list of checklist items, got NoneType"),
    ([BAD_ITEM], r": checklist item 'x': status must be one of fail, warn, skip, pass, got 'ok'"),
    ([{"id": "x"}], r": checklist item 'x' lacks title, status"),
    (["pass"], r": a checklist item must be a dict, got 'pass'"),
    ([dict(BAD_ITEM, status="skip")], r": checklist item 'x' is skipped without a reason"),
])
def test_item_filters_errors(name, value, message):
    with pytest.raises(AnsibleFilterError, match="^%s" % name + message):
        getattr(f, name)(value)


# -- checklist_record -----------------------------------------------------------------

def test_checklist_record():
    health = item("health", "warn")
    results = {
        "health": {"changed": False, "item": health},
        "containers": {"failed": True, "msg": "Cannot connect to the Docker daemon\n"},
        "backup": {"changed": False, "skipped": True, "skip_reason": "Conditional result was False",
                   "false_condition": "daily_backup_enabled"},
        "logs": None,
        "disk": {"failed": True, "item": item("disk", "fail"), "msg": "disk 98% used"},
        "tls": {"changed": False},
    }
    titles = {"containers": "Containers running", "backup": "Backup of last night"}
    result = f.checklist_record(results, titles)
    assert [(i["id"], i["status"]) for i in result] == [
        ("health", "warn"), ("containers", "fail"), ("backup", "skip"), ("disk", "fail"), ("tls", "fail")]
    assert result[0] is health
    assert result[1]["title"] == "Containers running"
    assert result[1]["summary"] == "the check could not run: Cannot connect to the Docker daemon"
    assert [a["kind"] for a in result[1]["alerts"]] == ["check_error"]
    assert result[2]["title"] == "Backup of last night"
    assert result[2]["summary"] == "not checked: Conditional result was False" and result[2]["alerts"] == []
    assert result[3]["summary"] == "disk fail"  # the item wins over msg: a failed check that still judged
    assert result[4]["title"] == "tls"  # no title given: the id
    assert result[4]["summary"] == "the check could not run: the check returned no item"


@pytest.mark.parametrize("results", [{}, {"logs": None}, {"logs": None, "health": None}])
def test_checklist_record_nothing_ran(results):
    assert f.checklist_record(results) == []


def test_checklist_record_keeps_the_order():
    order = ["e", "a", "d", "b", "c"]
    results = dict((name, {"item": item(name, "pass")}) for name in order)
    assert [i["id"] for i in f.checklist_record(results)] == order


def test_checklist_record_skip_without_reason_still_has_one():
    result = f.checklist_record({"backup": {"skipped": True}})
    assert result[0]["status"] == "skip" and result[0]["summary"] == "not checked: skipped"


@pytest.mark.parametrize("results, message", [
    ([{"item": ITEMS[0]}], "checklist_record expects a mapping of item id to registered result, got list"),
    (None, "checklist_record expects a mapping of item id to registered result, got NoneType"),
    ({"health": "ok"}, "checklist_record: the result for 'health' is not a registered result: 'ok'"),
    ({"health": {"item": BAD_ITEM}}, "checklist_record: checklist item 'x': status must be one of"),
    ({"health": {"item": {"id": "health"}}}, "checklist_record: checklist item 'health' lacks title"),
])
def test_checklist_record_errors(results, message):
    with pytest.raises(AnsibleFilterError, match="^" + message):
        f.checklist_record(results)


# -- checklist_window -----------------------------------------------------------------

def test_checklist_window_active():
    window = {"by": "milos", "reason": "restore", "since": "2026-11-28T16:20:00Z", "until": future()}
    result = f.checklist_window(ITEMS, window)
    assert [(i["id"], i["status"]) for i in result] == [
        ("health", "pass"), ("disk", "warn"), ("logs", "skip"), ("memory", "skip"), ("backup", "pass"),
        ("tls", "skip")]
    assert result[3]["summary"].startswith("maintenance by milos until %s (restore)" % window["until"])
    assert f.checklist_worst(result) == "warn"  # only the exempt disk


@pytest.mark.parametrize("exempt, disk, memory", [([], "skip", "skip"), (["disk", "memory"], "warn", "fail"),
                                                  (["memory"], "skip", "fail")])
def test_checklist_window_exempt(exempt, disk, memory):
    window = {"by": "milos", "reason": "restore", "until": future()}
    statuses = dict((i["id"], i["status"]) for i in f.checklist_window(ITEMS, window, exempt))
    assert statuses["disk"] == disk and statuses["memory"] == memory


def test_checklist_window_expired():
    window = {"by": "milos", "reason": "restore", "until": "2026-01-01T00:00:00Z"}
    result = f.checklist_window(ITEMS, window)
    assert result[:-1] == ITEMS
    assert (result[-1]["id"], result[-1]["status"]) == ("maintenance", "warn")


@pytest.mark.parametrize("window", [None, {}])
def test_checklist_window_none(window):
    assert f.checklist_window(ITEMS, window) == ITEMS
    assert f.checklist_window(ITEMS) == ITEMS


@pytest.mark.parametrize("window", ["restore", ["restore"], 3])
def test_checklist_window_errors(window):
    with pytest.raises(AnsibleFilterError, match=r"^checklist_window expects the window as a mapping"):
        f.checklist_window(ITEMS, window)


# -- bugs found while writing these tests, fixed since -------------------------------

def test_checklist_window_exempt_as_a_string():
    window = {"by": "milos", "reason": "restore", "until": future()}
    statuses = dict((i["id"], i["status"]) for i in f.checklist_window(ITEMS, window, "disk"))
    assert statuses["disk"] == "warn"


def test_checklist_record_check_mode_skip_keeps_its_reason():
    result = f.checklist_record({"backup": {"skipped": True,
                                            "msg": "remote module (x) does not support check mode"}})
    assert result[0]["summary"] == "not checked: remote module (x) does not support check mode"


def test_checklist_record_titles_not_a_mapping():
    with pytest.raises(AnsibleFilterError, match="titles"):
        f.checklist_record({"health": {"msg": "boom"}}, ["Health"])


def test_checklist_worst_unknown_empty():
    with pytest.raises(AnsibleFilterError, match="empty"):
        f.checklist_worst([], "ok")
