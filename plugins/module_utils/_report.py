# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module_utils file is private to the milos_shop.ops collection; it may change
# or go away without notice. Do not use it from other collections.

"""The run report: a host's items as Markdown (problems first) and JSON, and the summary over hosts.

Pure functions over checklist items (module_utils/_checklist.py); the action
plugin milos_shop.ops.checklist_report writes what they return.
"""

from __future__ import annotations

from ansible_collections.milos_shop.ops.plugins.module_utils import _checklist

# Hosts in the summary: fail first, then hosts without a result, warn, skip, pass.
HOST_ORDER = ("fail", "no result", "warn", "skip", "pass")


def host_status(items):
    """A host's status: the worst of its items; fail when nothing was checked."""
    return _checklist.worst(items, empty="fail")


def host_document(name, host, items, time, check_mode=False):
    """The JSON report of one host."""
    return {"report": name, "host": host, "status": host_status(items), "time": time,
            "check_mode": bool(check_mode), "counts": _checklist.counts(items), "items": list(items)}


def host_markdown(name, host, items, time):
    """The Markdown report of one host: a heading with the status, counts, one line per item, worst first."""
    status = host_status(items)
    counts = _checklist.counts(items)
    lines = ["# %s check of %s: %s" % (name.capitalize(), host, status.upper()), "",
             "%s: %d failed, %d warnings, %d skipped, %d passed." % (
                 time, counts["fail"], counts["warn"], counts["skip"], counts["pass"]), ""]
    for item in _checklist.sort_items(items):
        lines.append("- %s %s: %s" % (item["status"].upper(), item["title"], " ".join(str(item["summary"]).split())))
    if not items:
        lines.append("- FAIL No check ran: see the play's output.")
    return "\n".join(lines) + "\n"


def summary_hosts(results):
    """Rows of the summary from {host: (status or None, problems or None)}, problems first."""
    rows = []
    for host, (status, problems) in results.items():
        if status is None:
            rows.append({"host": host, "status": "no result", "problems": ["the play did not finish on this host"]})
        else:
            rows.append({"host": host, "status": status, "problems": list(problems or [])})
    order = dict((status, index) for index, status in enumerate(HOST_ORDER))
    return sorted(rows, key=lambda row: order.get(row["status"], 0))


def overall(rows):
    """The run's status over hosts: fail when any host failed or has no result; else the worst of the rest."""
    if not rows or any(row["status"] not in _checklist.RANK or row["status"] == "fail" for row in rows):
        return "fail"
    return _checklist.worst([row["status"] for row in rows])


def summary_markdown(name, rows, time):
    """The Markdown summary over hosts."""
    lines = ["# %s check summary: %s" % (name.capitalize(), overall(rows).upper()), "",
             "%s: %d hosts." % (time, len(rows)), ""]
    for row in rows:
        line = "- %s %s" % (row["status"].upper(), row["host"])
        if row["problems"]:
            line += ": " + "; ".join(row["problems"])
        lines.append(line)
    return "\n".join(lines) + "\n"
