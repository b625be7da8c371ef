# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tests of the checklist item: statuses and their ranking, worst(), the item's shape, maintenance windows."""

from __future__ import annotations

import datetime

import pytest

from ansible_collections.milos_shop.ops.plugins.module_utils import _checklist as c
from ansible_collections.milos_shop.ops.plugins.module_utils._checklist import ChecklistError

UTC = datetime.timezone.utc
NOW = datetime.datetime(2026, 11, 28, 16, 30, 0, tzinfo=UTC)
ACTIVE = {"by": "milos", "reason": "restore of the 16:14 backup", "since": "2026-11-28T16:20:00Z",
          "until": "2026-11-28T16:50:00Z"}
EXPIRED = dict(ACTIVE, until="2026-11-28T16:25:00Z")


def item(item_id, status, summary=None, alerts=None, evidence=None):
    if alerts is None and status in ("warn", "fail"):
        alerts = [c.alert(item_id, status, "%s is %s" % (item_id, status), value=1, threshold=0)]
    return c.make_item(item_id, item_id.title(), status, summary or "%s %s" % (item_id, status), evidence, alerts)


def ids(items):
    return [(i["id"], i["status"]) for i in items]


# -- statuses and their ranking ---------------------------------------------------

def test_statuses_worst_first():
    assert c.STATUSES == ("fail", "warn", "skip", "pass")
    assert [c.rank(s) for s in c.STATUSES] == [0, 1, 2, 3]


@pytest.mark.parametrize("status", ["bogus", "", None, "FAIL", "ok"])
def test_unknown_status_ranks_as_fail(status):
    assert c.rank(status) == 0


@pytest.mark.parametrize("statuses, expected", [
    (["pass"], "pass"),
    (["skip"], "skip"),
    (["warn"], "warn"),
    (["fail"], "fail"),
    (["pass", "pass"], "pass"),
    (["pass", "skip"], "skip"),
    (["skip", "skip"], "skip"),
    (["pass", "warn", "skip"], "warn"),
    (["warn", "fail", "pass"], "fail"),
    (["skip", "warn"], "warn"),
    (["pass", "skip", "warn", "fail"], "fail"),
])
def test_worst_of_statuses(statuses, expected):
    assert c.worst(statuses) == expected
    assert c.worst(list(reversed(statuses))) == expected


@pytest.mark.parametrize("statuses, expected", [
    (["pass", "warn"], "warn"),
    (["skip", "pass"], "skip"),
    (["fail"], "fail"),
])
def test_worst_of_items_equals_worst_of_their_statuses(statuses, expected):
    items = [item("i%d" % n, s) for n, s in enumerate(statuses)]
    assert c.worst(items) == expected == c.worst(statuses)


def test_worst_of_items_and_statuses_mixed():
    assert c.worst([item("health", "pass"), "warn"]) == "warn"


@pytest.mark.parametrize("empty, expected", [(None, "fail"), ("pass", "pass"), ("skip", "skip")])
def test_worst_of_nothing(empty, expected):
    kwargs = {} if empty is None else {"empty": empty}
    assert c.worst([], **kwargs) == expected


def test_worst_of_a_generator():
    assert c.worst(s for s in ["pass", "warn"]) == "warn"


@pytest.mark.parametrize("severities, default, expected", [
    ([], "pass", "pass"),
    (["warn"], "pass", "warn"),
    (["warn", "fail"], "pass", "fail"),
    ([], "skip", "skip"),
    (["warn"], "skip", "warn"),
])
def test_status_of_alerts(severities, default, expected):
    alerts = [c.alert("k%d" % n, s, "m") for n, s in enumerate(severities)]
    assert c.status_of(alerts, default) == expected


# -- alerts and items -------------------------------------------------------------

def test_alert_shape():
    assert c.alert("latency", "warn", 5.2, value=6100, threshold=5000) == {
        "kind": "latency", "severity": "warn", "value": 6100, "threshold": 5000, "message": "5.2"}


@pytest.mark.parametrize("kind, severity, message", [
    ("latency", "pass", "severity must be one of fail, warn, got 'pass'"),
    ("latency", "skip", "severity must be one of"),
    ("latency", "critical", "severity must be one of"),
    ("latency", None, "severity must be one of"),
    ("", "warn", "kind must be a non-empty string"),
    (None, "warn", "kind must be a non-empty string"),
    (3, "fail", "kind must be a non-empty string"),
])
def test_alert_errors(kind, severity, message):
    with pytest.raises(ChecklistError, match=message):
        c.alert(kind, severity, "m")


@pytest.mark.parametrize("severities, expected", [([], "pass"), (["warn"], "warn"), (["fail", "warn"], "fail")])
def test_make_item_status_follows_the_alerts(severities, expected):
    alerts = [c.alert("k", s, "m") for s in severities]
    made = c.make_item("disk", "Disk", alerts=alerts, summary="s")
    assert made["status"] == expected
    assert made == {"id": "disk", "title": "Disk", "status": expected, "summary": "s", "evidence": {},
                    "alerts": alerts}


def test_make_item_copies_evidence_and_alerts():
    evidence = {"used_pct": 91}
    alerts = [c.alert("disk", "fail", "full")]
    made = c.make_item("disk", "Disk", evidence=evidence, alerts=alerts, summary="full")
    evidence["used_pct"] = 0
    alerts.append("junk")
    assert made["evidence"] == {"used_pct": 91} and len(made["alerts"]) == 1


@pytest.mark.parametrize("status", c.STATUSES)
def test_make_item_each_status(status):
    assert c.validate(item("x", status))["status"] == status


def test_skip_item_and_error_item():
    assert c.skip_item("backup", "Backup", "no backup directory configured") == {
        "id": "backup", "title": "Backup", "status": "skip", "summary": "no backup directory configured",
        "evidence": {}, "alerts": []}
    failed = c.error_item("backup", "Backup", "permission denied", {"path": "/var/backups"})
    assert failed["status"] == "fail" and failed["summary"] == "permission denied"
    assert failed["evidence"] == {"path": "/var/backups"}
    assert failed["alerts"] == [{"kind": "check_error", "severity": "fail", "value": None, "threshold": None,
                                 "message": "permission denied"}]


@pytest.mark.parametrize("reason", ["", "   ", "\n"])
def test_skip_without_a_reason_fails(reason):
    with pytest.raises(ChecklistError, match="'backup' is skipped without a reason"):
        c.skip_item("backup", "Backup", reason)
    with pytest.raises(ChecklistError, match="skipped without a reason"):
        c.make_item("backup", "Backup", "skip", reason)


GOOD = {"id": "health", "title": "Health", "status": "pass", "summary": "ok", "evidence": {}, "alerts": []}
GOOD_ALERT = {"kind": "latency", "severity": "warn", "value": 1, "threshold": 0, "message": "slow"}


@pytest.mark.parametrize("change, message", [
    ({"status": "ok"}, "'health': status must be one of fail, warn, skip, pass, got 'ok'"),
    ({"status": None}, "status must be one of"),
    ({"status": "skip", "summary": ""}, "skipped without a reason"),
    ({"evidence": []}, "evidence must be a dict"),
    ({"evidence": None}, "evidence must be a dict"),
    ({"alerts": {}}, "alerts must be a list"),
    ({"alerts": None}, "alerts must be a list"),
    ({"alerts": ["slow"]}, "each alert needs kind, severity, value, threshold, message, got 'slow'"),
    ({"alerts": [{"kind": "latency", "severity": "warn"}]}, "each alert needs"),
    ({"alerts": [dict(GOOD_ALERT, severity="pass")]}, "alert severity must be warn or fail, got 'pass'"),
    ({"alerts": [dict(GOOD_ALERT, severity="critical")]}, "alert severity must be warn or fail"),
])
def test_validate_errors(change, message):
    with pytest.raises(ChecklistError, match=message):
        c.validate(dict(GOOD, **change))


@pytest.mark.parametrize("missing", c.ITEM_KEYS)
def test_validate_missing_keys(missing):
    broken = dict(GOOD)
    del broken[missing]
    with pytest.raises(ChecklistError, match="lacks %s" % missing):
        c.validate(broken)


def test_validate_names_every_missing_key():
    with pytest.raises(ChecklistError, match=r"checklist item 'x' lacks title, status, summary, evidence, alerts"):
        c.validate({"id": "x"})


@pytest.mark.parametrize("value", [None, "health", ["health"], 3])
def test_validate_not_a_dict(value):
    with pytest.raises(ChecklistError, match="a checklist item must be a dict"):
        c.validate(value)


def test_validate_returns_the_item():
    assert c.validate(GOOD) is GOOD
    assert c.validate(dict(GOOD, status="warn", alerts=[GOOD_ALERT]))["alerts"] == [GOOD_ALERT]


def test_make_item_refuses_a_bad_status():
    with pytest.raises(ChecklistError, match="status must be one of"):
        c.make_item("x", "X", "ok", "s")


# -- sorting, counting, problems --------------------------------------------------

CHECKLIST = [item("health", "pass"), item("disk", "warn"), item("logs", "skip", "no log file"),
             item("memory", "fail"), item("backup", "pass"), item("tls", "warn"), item("cpu", "skip", "no cgroup"),
             item("container", "fail")]


def test_sort_items_worst_first_stable():
    assert [i["id"] for i in c.sort_items(CHECKLIST)] == [
        "memory", "container", "disk", "tls", "logs", "cpu", "health", "backup"]


@pytest.mark.parametrize("items, expected", [
    ([], []),
    ([item("a", "pass"), item("b", "pass"), item("c", "pass")], ["a", "b", "c"]),
    ([item("a", "pass"), item("b", "fail"), item("c", "pass"), item("d", "fail")], ["b", "d", "a", "c"]),
])
def test_sort_items_keeps_the_order_within_a_status(items, expected):
    assert [i["id"] for i in c.sort_items(items)] == expected


def test_sort_items_does_not_change_its_input():
    before = [i["id"] for i in CHECKLIST]
    c.sort_items(CHECKLIST)
    assert [i["id"] for i in CHECKLIST] == before


@pytest.mark.parametrize("items, expected", [
    ([], {"fail": 0, "warn": 0, "skip": 0, "pass": 0}),
    (CHECKLIST, {"fail": 2, "warn": 2, "skip": 2, "pass": 2}),
    ([item("a", "pass")], {"fail": 0, "warn": 0, "skip": 0, "pass": 1}),
])
def test_counts(items, expected):
    assert c.counts(items) == expected


def test_problems_are_everything_but_pass_worst_first():
    assert [i["id"] for i in c.problems(CHECKLIST)] == ["memory", "container", "disk", "tls", "logs", "cpu"]
    assert c.problems([item("a", "pass")]) == [] == c.problems([])


@pytest.mark.parametrize("statuses, expected", [
    (None, ["memory", "container", "disk", "tls"]),
    (("fail",), ["memory", "container"]),
    (("warn", "skip"), ["disk", "tls", "logs", "cpu"]),
    ((), []),
])
def test_alerting(statuses, expected):
    kwargs = {} if statuses is None else {"statuses": statuses}
    assert [i["id"] for i in c.alerting(CHECKLIST, **kwargs)] == expected


def test_a_skip_never_alerts():
    assert c.alerting([item("logs", "skip", "no log file")]) == []


# -- times and maintenance windows --------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("2026-11-28T16:50:00Z", datetime.datetime(2026, 11, 28, 16, 50, tzinfo=UTC)),
    ("2026-11-28T17:50:00+01:00", datetime.datetime(2026, 11, 28, 16, 50, tzinfo=UTC)),
    ("2026-11-28T16:50:00", datetime.datetime(2026, 11, 28, 16, 50, tzinfo=UTC)),
    ("2026-11-28T16:50:00.250Z", datetime.datetime(2026, 11, 28, 16, 50, 0, 250000, tzinfo=UTC)),
    (datetime.datetime(2026, 11, 28, 16, 50), datetime.datetime(2026, 11, 28, 16, 50, tzinfo=UTC)),
])
def test_parse_time(text, expected):
    parsed = c.parse_time(text)
    assert parsed == expected and parsed.tzinfo == UTC


@pytest.mark.parametrize("text", ["", None, "soon", "2026-13-01T00:00:00Z", 1764347000, "28/11/2026"])
def test_parse_time_errors(text):
    with pytest.raises(ValueError):
        c.parse_time(text)


@pytest.mark.parametrize("window, expected", [
    (None, "none"),
    ({}, "none"),
    (ACTIVE, "active"),
    (EXPIRED, "expired"),
    (dict(ACTIVE, until="2026-11-28T16:30:00Z"), "expired"),  # until is the end: not active at until
    (dict(ACTIVE, until="2026-11-28T16:30:01Z"), "active"),
    (dict(ACTIVE, until="2026-11-28T17:40:00+01:00"), "active"),
    (dict(ACTIVE, until="soon"), "expired"),
    (dict(ACTIVE, until=None), "expired"),
    (dict(ACTIVE, until=""), "expired"),
    ({"by": "milos", "reason": "restore"}, "expired"),
])
def test_window_state(window, expected):
    assert c.window_state(window, NOW) == expected


def test_window_state_defaults_to_the_clock():
    future = (datetime.datetime.now(UTC) + datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert c.window_state({"until": future}) == "active"
    assert c.window_state({"until": "2000-01-01T00:00:00Z"}) == "expired"


def _failing_health():
    return item("health", "fail", "connection refused",
                alerts=[c.alert("connection_refused", "fail", "connection refused")], evidence={"url": "http://x"})


def test_active_window_turns_problems_into_skips():
    items = [_failing_health(), item("containers", "warn", "2 restarts"), item("backup", "pass"),
             item("logs", "skip", "no log file")]
    result = c.apply_window(items, ACTIVE, NOW)
    assert ids(result) == [("health", "skip"), ("containers", "skip"), ("backup", "pass"), ("logs", "skip")]
    reason = "maintenance by milos until 2026-11-28T16:50:00Z (restore of the 16:14 backup)"
    assert result[0]["summary"] == reason + "; the check saw: connection refused"
    assert result[1]["summary"] == reason + "; the check saw: 2 restarts"
    assert all(i["alerts"] == [] for i in result)
    assert c.alerting(result) == []
    assert result[0]["title"] == "Health"
    # What the check saw stays in the evidence.
    seen = result[0]["evidence"]["during_maintenance"]
    assert seen == {"status": "fail", "summary": "connection refused", "alerts": items[0]["alerts"]}
    assert result[0]["evidence"]["url"] == "http://x" and result[0]["evidence"]["window"] == ACTIVE
    # The pass item is the same item; the inputs are not changed.
    assert result[2] is items[2]
    assert items[0]["status"] == "fail" and "during_maintenance" not in items[0]["evidence"]


def test_active_window_keeps_pass_items():
    items = [item("health", "pass"), item("backup", "pass")]
    assert c.apply_window(items, ACTIVE, NOW) == items


@pytest.mark.parametrize("exempt, expected", [
    (None, [("disk", "fail"), ("health", "skip")]),
    (("disk", "health"), [("disk", "fail"), ("health", "fail")]),
    ((), [("disk", "skip"), ("health", "skip")]),
    (("health",), [("disk", "skip"), ("health", "fail")]),
])
def test_active_window_exempt(exempt, expected):
    items = [item("disk", "fail", "98% used"), _failing_health()]
    kwargs = {} if exempt is None else {"exempt": exempt}
    result = c.apply_window(items, ACTIVE, NOW, **kwargs)
    assert ids(result) == expected
    for made, before in zip(result, items):
        if made["status"] == before["status"]:
            assert made is before


@pytest.mark.parametrize("window", [EXPIRED, dict(ACTIVE, until="soon"), {"by": "milos", "reason": "restore"},
                                    dict(ACTIVE, until=None)])
def test_expired_window_adds_a_warn(window):
    items = [_failing_health(), item("backup", "pass")]
    result = c.apply_window(items, window, NOW)
    assert ids(result) == [("health", "fail"), ("backup", "pass"), ("maintenance", "warn")]
    assert result[:2] == items
    extra = result[-1]
    assert extra["title"] == "Maintenance window"
    assert extra["summary"].startswith("maintenance window by milos (restore")
    assert "but its marker is still there" in extra["summary"]
    assert extra["evidence"] == {"window": window}
    assert [a["kind"] for a in extra["alerts"]] == ["maintenance_expired"]
    assert extra["alerts"][0]["severity"] == "warn" and extra["alerts"][0]["value"] == (window.get("until") or "an unknown time")
    assert c.worst(result) == "fail"


def test_expired_window_without_who_or_why():
    result = c.apply_window([], {"until": "2026-11-28T16:00:00Z"}, NOW)
    assert result[0]["summary"].startswith(
        "maintenance window by someone (no reason given) ended at 2026-11-28T16:00:00Z")


def test_active_window_without_who_or_why():
    result = c.apply_window([_failing_health()], {"until": "2026-11-28T17:00:00Z"}, NOW)
    assert result[0]["summary"].startswith("maintenance by someone until 2026-11-28T17:00:00Z (no reason given)")


@pytest.mark.parametrize("window", [None, {}])
def test_no_window_changes_nothing(window):
    items = [_failing_health(), item("backup", "pass")]
    result = c.apply_window(items, window, NOW)
    assert result == items and result is not items


# -- bugs found while writing these tests, fixed since -----------------------------

def test_skip_with_none_as_reason_fails():
    with pytest.raises(ChecklistError, match="skipped without a reason"):
        c.skip_item("backup", "Backup", None)


def test_window_state_with_a_naive_now_is_utc():
    assert c.window_state(ACTIVE, NOW.replace(tzinfo=None)) == "active"


def test_window_state_until_out_of_range_is_no_crash():
    assert c.window_state({"until": "9999-12-31T23:59:59-05:00"}, NOW) in ("active", "expired")


@pytest.mark.parametrize("window", ["restore", ["restore"]])
def test_window_that_is_not_a_mapping_is_expired(window):
    assert c.window_state(window, NOW) == "expired"


@pytest.mark.parametrize("evidence", ["used 91%", 91])
def test_make_item_evidence_not_a_dict(evidence):
    with pytest.raises(ChecklistError, match="evidence must be a dict"):
        c.make_item("disk", "Disk", "pass", "ok", evidence)
