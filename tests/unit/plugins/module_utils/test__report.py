"""The run report's rendering (module_utils/_report.py): status, order, counts, summary over hosts."""

from __future__ import annotations

import json

import pytest

from ansible_collections.milos_shop.ops.plugins.module_utils import _checklist as cl
from ansible_collections.milos_shop.ops.plugins.module_utils import _report as rp

TIME = "2026-12-01T10-00-00Z"


def item(item_id, status, summary=None):
    return cl.make_item(item_id, item_id.capitalize() + " (guide command)", status, summary or f"{item_id} is {status}")


@pytest.mark.parametrize("statuses, expected", [
    ([], "fail"),
    (["pass"], "pass"),
    (["pass", "pass"], "pass"),
    (["pass", "skip"], "skip"),
    (["skip", "skip"], "skip"),
    (["pass", "warn", "skip"], "warn"),
    (["warn", "fail", "pass"], "fail"),
    (["fail"], "fail"),
])
def test_host_status_is_the_worst_item(statuses, expected):
    assert rp.host_status([item(f"i{n}", s) for n, s in enumerate(statuses)]) == expected


def test_markdown_puts_problems_first_and_counts_every_status():
    items = [item("containers", "pass"), item("logs", "warn", "3 5xx   responses\n in the window"),
             item("disk", "fail"), item("backup", "skip", "maintenance by alice until 2026-12-01T11:00:00Z (restore)")]
    text = rp.host_markdown("daily", "shop1", items, TIME)
    lines = text.splitlines()
    assert lines[0] == "# Daily check of shop1: FAIL"
    assert lines[2] == f"{TIME}: 1 failed, 1 warnings, 1 skipped, 1 passed."
    assert lines[4:] == [
        "- FAIL Disk (guide command): disk is fail",
        "- WARN Logs (guide command): 3 5xx responses in the window",
        "- SKIP Backup (guide command): maintenance by alice until 2026-12-01T11:00:00Z (restore)",
        "- PASS Containers (guide command): containers is pass",
    ]


def test_markdown_without_items_says_no_check_ran():
    text = rp.host_markdown("weekly", "shop1", [], TIME)
    assert text.splitlines()[0] == "# Weekly check of shop1: FAIL"
    assert "- FAIL No check ran: see the play's output." in text


def test_host_document_is_json_with_counts_and_items():
    items = [item("health", "pass"), item("logs", "warn")]
    doc = rp.host_document("daily", "shop1", items, TIME, check_mode=True)
    assert json.loads(json.dumps(doc)) == {
        "report": "daily", "host": "shop1", "status": "warn", "time": TIME, "check_mode": True,
        "counts": {"fail": 0, "warn": 1, "skip": 0, "pass": 1}, "items": items}


@pytest.mark.parametrize("results, order, overall", [
    ({"a": ("pass", []), "b": ("fail", ["disk"]), "c": (None, None), "d": ("warn", ["logs"])}, ["b", "c", "d", "a"], "fail"),
    ({"a": ("pass", []), "b": ("skip", ["backup"])}, ["b", "a"], "skip"),
    ({"a": ("pass", []), "b": ("pass", [])}, ["a", "b"], "pass"),
    ({"a": (None, None)}, ["a"], "fail"),
    ({"a": ("warn", ["health"]), "b": ("skip", ["logs"])}, ["a", "b"], "warn"),
    ({}, [], "fail"),
])
def test_summary_orders_hosts_problems_first(results, order, overall):
    rows = rp.summary_hosts(results)
    assert [row["host"] for row in rows] == order
    assert rp.overall(rows) == overall
    for row in rows:
        if results[row["host"]][0] is None:
            assert row == {"host": row["host"], "status": "no result", "problems": ["the play did not finish on this host"]}


def test_summary_markdown_lists_each_host_with_its_problems():
    rows = rp.summary_hosts({"a": ("pass", []), "b": ("fail", ["disk", "backup"])})
    assert rp.summary_markdown("daily", rows, TIME).splitlines() == [
        "# Daily check summary: FAIL", "", f"{TIME}: 2 hosts.", "", "- FAIL b: disk; backup", "- PASS a"]


# -- the message a run sends (filter checklist_message_kind) ----------------------

@pytest.mark.parametrize("status, previous, partial, expected", [
    ("fail", "pass", False, "alert"),
    ("warn", "unknown", False, "alert"),
    ("warn", "warn", True, "alert"),
    ("pass", "fail", False, "recovery"),
    ("pass", "warn", False, "recovery"),
    ("pass", "fail", True, ""),        # a --tags run checked only part: no recovery
    ("pass", "pass", False, ""),
    ("pass", "unknown", False, ""),
    ("skip", "fail", False, ""),       # a maintenance window is no recovery, and no alert
    ("skip", "pass", False, ""),
])
def test_message_kind(status, previous, partial, expected):
    from ansible_collections.milos_shop.ops.plugins.filter.checklist import checklist_message_kind

    assert checklist_message_kind(status, previous, ["fail", "warn"], partial) == expected


def test_message_kind_refuses_what_is_not_a_status():
    from ansible.errors import AnsibleFilterError

    from ansible_collections.milos_shop.ops.plugins.filter.checklist import checklist_message_kind

    with pytest.raises(AnsibleFilterError, match="notify_on must be a list"):
        checklist_message_kind("fail", "pass", "fail")
    with pytest.raises(AnsibleFilterError, match="previous must be a status string"):
        checklist_message_kind("fail", None)
