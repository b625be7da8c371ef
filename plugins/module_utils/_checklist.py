# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module_utils file is private to the milos_shop.ops collection; it may change
# or go away without notice. Do not use it from other collections.

"""One checklist item: the shape every check of the collection returns.

An item is a plain dict::

    {"id": "health", "title": "Health check OK (curl /api/services)",
     "status": "pass" | "warn" | "fail" | "skip",
     "summary": "one sentence a person reads",
     "evidence": {...measured values...},
     "alerts": [{"kind", "severity", "value", "threshold", "message"}]}

A ``skip`` always carries its reason in ``summary``. The report, the alerts
and the exit code know nothing about any one check: they read items only.
No Ansible import, so it is unit-tested (and used by the filter plugin) alone.
"""

from __future__ import annotations

import datetime

# Worst first: the ranking used for a host's status, the report's order and worst().
STATUSES = ("fail", "warn", "skip", "pass")
RANK = dict((status, index) for index, status in enumerate(STATUSES))
SEVERITIES = ("fail", "warn")
ITEM_KEYS = ("id", "title", "status", "summary", "evidence", "alerts")
ALERT_KEYS = ("kind", "severity", "value", "threshold", "message")


class ChecklistError(ValueError):
    """An item or alert that does not have the checklist shape."""


def alert(kind, severity, message, value=None, threshold=None):
    """One alert: what crossed which threshold, and how bad that is (warn or fail)."""
    if severity not in SEVERITIES:
        raise ChecklistError("alert severity must be one of %s, got %r" % (", ".join(SEVERITIES), severity))
    if not kind or not isinstance(kind, str):
        raise ChecklistError("alert kind must be a non-empty string, got %r" % (kind,))
    return {"kind": kind, "severity": severity, "value": value, "threshold": threshold, "message": str(message)}


def status_of(alerts, default="pass"):
    """The status the alerts call for: the worst severity, or ``default`` without alerts."""
    return worst([a["severity"] for a in alerts] + [default])


def make_item(item_id, title, status=None, summary="", evidence=None, alerts=None):
    """A checked item. Without ``status`` it follows from the alerts (pass when there are none)."""
    alerts = list(alerts or [])
    if status is None:
        status = status_of(alerts)
    if evidence is not None and not isinstance(evidence, dict):
        raise ChecklistError("checklist item %r: evidence must be a dict, got %r" % (item_id, evidence))
    item = {"id": item_id, "title": title, "status": status, "summary": summary,
            "evidence": dict(evidence or {}), "alerts": alerts}
    validate(item)
    return item


def skip_item(item_id, title, reason, evidence=None):
    """An item that was not checked, with the reason in its summary (never a silent skip)."""
    return make_item(item_id, title, "skip", reason, evidence)


def error_item(item_id, title, message, evidence=None):
    """An item whose check could not run: a fail that says why."""
    return make_item(item_id, title, "fail", message, evidence,
                     [alert("check_error", "fail", message)])


def validate(item):
    """Raise ChecklistError unless ``item`` has the checklist shape; return it."""
    if not isinstance(item, dict):
        raise ChecklistError("a checklist item must be a dict, got %r" % (item,))
    missing = [key for key in ITEM_KEYS if key not in item]
    if missing:
        raise ChecklistError("checklist item %r lacks %s" % (item.get("id"), ", ".join(missing)))
    if item["status"] not in RANK:
        raise ChecklistError("checklist item %r: status must be one of %s, got %r"
                             % (item["id"], ", ".join(STATUSES), item["status"]))
    if item["status"] == "skip" and (item["summary"] is None or not str(item["summary"]).strip()):
        raise ChecklistError("checklist item %r is skipped without a reason" % (item["id"],))
    if not isinstance(item["evidence"], dict):
        raise ChecklistError("checklist item %r: evidence must be a dict" % (item["id"],))
    if not isinstance(item["alerts"], list):
        raise ChecklistError("checklist item %r: alerts must be a list" % (item["id"],))
    for entry in item["alerts"]:
        if not isinstance(entry, dict) or any(key not in entry for key in ALERT_KEYS):
            raise ChecklistError("checklist item %r: each alert needs %s, got %r"
                                 % (item["id"], ", ".join(ALERT_KEYS), entry))
        if entry["severity"] not in SEVERITIES:
            raise ChecklistError("checklist item %r: alert severity must be warn or fail, got %r"
                                 % (item["id"], entry["severity"]))
    return item


def rank(status):
    """0 for the worst status (fail), higher for better ones; unknown statuses rank as fail."""
    return RANK.get(status, 0)


def worst(statuses, empty="fail"):
    """The worst of some statuses; ``empty`` (fail: nothing was checked) when there are none.

    A list of items may be given instead of statuses. Only skips (and nothing else)
    make ``skip``: nothing was wrong, and nothing was checked either.
    """
    values = [s["status"] if isinstance(s, dict) else s for s in statuses]
    if not values:
        return empty
    return min(values, key=rank)


def sort_items(items):
    """Items worst first, keeping the checklist's order within a status."""
    return sorted(items, key=lambda item: rank(item["status"]))


def counts(items):
    """How many items have each status: {'fail': n, 'warn': n, 'skip': n, 'pass': n}."""
    result = dict((status, 0) for status in STATUSES)
    for item in items:
        result[item["status"]] = result.get(item["status"], 0) + 1
    return result


def problems(items):
    """Items that are not pass (fail, warn and skip), worst first."""
    return [item for item in sort_items(items) if item["status"] != "pass"]


def alerting(items, statuses=("fail", "warn")):
    """Items whose status raises an alert (by default fail and warn; a skip never does)."""
    return [item for item in sort_items(items) if item["status"] in statuses]


# -- maintenance windows ----------------------------------------------------------

def parse_time(text):
    """An ISO 8601 time (``Z`` or an offset) as an aware UTC datetime; ValueError otherwise."""
    if isinstance(text, datetime.datetime):
        moment = text
    else:
        if not isinstance(text, str) or not text:
            raise ValueError("expected an ISO 8601 time, got %r" % (text,))
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment.astimezone(datetime.timezone.utc)


def window_state(window, now=None):
    """``none``, ``active`` or ``expired`` for a maintenance marker ({by, reason, since, until}) or None."""
    if not window:
        return "none"
    if not isinstance(window, dict):
        return "expired"
    now = parse_time(now or datetime.datetime.now(datetime.timezone.utc))
    try:
        until = parse_time(window.get("until"))
    except (ValueError, OverflowError):
        return "expired"
    return "active" if now < until else "expired"


MAINTENANCE_ID = "maintenance"
MAINTENANCE_TITLE = "Maintenance window"


def apply_window(items, window, now=None, exempt=("disk",)):
    """Items as a maintenance window makes them.

    During an active window, each item that is not ``pass`` becomes ``skip``
    with "maintenance by <who> until <when> (<why>)" and loses its alerts (the
    app is stopped on purpose: that is no alarm); what the check saw stays in its
    evidence (``evidence.during_maintenance``). Items in ``exempt`` (a full disk
    stays a problem during a window) are left as they are. A marker past its
    ``until`` is a warn item of its own: a window that was never closed.
    """
    state = window_state(window, now)
    if state == "none":
        return list(items)
    if not isinstance(window, dict):
        window = {"reason": "the maintenance marker is not a mapping: %r" % (window,)}
    who = window.get("by") or "someone"
    until = window.get("until") or "an unknown time"
    why = window.get("reason") or "no reason given"
    if state == "expired":
        message = ("maintenance window by %s (%s) ended at %s but its marker is still there: "
                   "the step that opened it did not finish; check the app and remove the marker" % (who, why, until))
        return list(items) + [make_item(MAINTENANCE_ID, MAINTENANCE_TITLE, "warn", message, {"window": dict(window)},
                                        [alert("maintenance_expired", "warn", message, value=until)])]
    result = []
    reason = "maintenance by %s until %s (%s)" % (who, until, why)
    for item in items:
        if item["status"] == "pass" or item["id"] in exempt:
            result.append(item)
            continue
        evidence = dict(item["evidence"])
        evidence["during_maintenance"] = {"status": item["status"], "summary": item["summary"],
                                          "alerts": item["alerts"]}
        evidence["window"] = dict(window)
        result.append(make_item(item["id"], item["title"], "skip",
                                "%s; the check saw: %s" % (reason, item["summary"]), evidence))
    return result
