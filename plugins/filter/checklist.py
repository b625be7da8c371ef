# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Filters over checklist items, backed by module_utils/_checklist.py (the one ranking of statuses)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.milos_shop.ops.plugins.module_utils import _checklist


def _items(value, name):
    if not isinstance(value, list):
        raise AnsibleFilterError("%s expects a list of checklist items, got %s" % (name, type(value).__name__))
    try:
        return [_checklist.validate(item) for item in value]
    except _checklist.ChecklistError as exc:
        raise AnsibleFilterError("%s: %s" % (name, exc))


def checklist_worst(value, empty="fail"):
    """The worst status of a list of items or statuses (fail, warn, skip, pass); ``empty`` for none."""
    if not isinstance(value, list):
        raise AnsibleFilterError("checklist_worst expects a list of items or statuses, got %s" % type(value).__name__)
    if empty not in _checklist.RANK:
        raise AnsibleFilterError("checklist_worst: empty must be one of %s, got %r" % (", ".join(_checklist.STATUSES), empty))
    for entry in value:
        status = entry.get("status") if isinstance(entry, dict) else entry
        if status not in _checklist.RANK:
            raise AnsibleFilterError("checklist_worst: unknown status %r (expected one of %s)"
                                     % (status, ", ".join(_checklist.STATUSES)))
    return _checklist.worst(value, empty=empty)


def checklist_sort(value):
    """Items worst first (fail, warn, skip, pass), keeping their order within a status."""
    return _checklist.sort_items(_items(value, "checklist_sort"))


def checklist_counts(value):
    """How many items have each status."""
    return _checklist.counts(_items(value, "checklist_counts"))


def checklist_problems(value):
    """The items that are not pass, worst first."""
    return _checklist.problems(_items(value, "checklist_problems"))


def checklist_record(results, titles=None):
    """Checklist items from registered check results, keyed by item id, in that order.

    A result that holds ``item`` gives it; a result of a check that could not
    run (no ``item``, a ``msg``) gives a ``fail`` item saying why; a step that
    was skipped by its ``when`` gives a ``skip`` item with the reason; None (the
    step did not run: --tags) gives nothing.
    """
    if not isinstance(results, dict):
        raise AnsibleFilterError("checklist_record expects a mapping of item id to registered result, got %s"
                                 % type(results).__name__)
    titles = titles or {}
    if not isinstance(titles, dict):
        raise AnsibleFilterError("checklist_record expects titles as a mapping of item id to title, got %s"
                                 % type(titles).__name__)
    items = []
    for item_id, result in results.items():
        if result is None:
            continue
        if not isinstance(result, dict):
            raise AnsibleFilterError("checklist_record: the result for %r is not a registered result: %r" % (item_id, result))
        title = titles.get(item_id, item_id)
        if isinstance(result.get("item"), dict):
            try:
                items.append(_checklist.validate(result["item"]))
            except _checklist.ChecklistError as exc:
                raise AnsibleFilterError("checklist_record: %s" % exc)
        elif result.get("skipped"):
            reason = result.get("skip_reason") or result.get("msg") or "skipped"
            items.append(_checklist.skip_item(item_id, title, "not checked: %s" % reason))
        else:
            message = result.get("msg") or "the check returned no item"
            items.append(_checklist.error_item(item_id, title, "the check could not run: %s" % str(message).strip()))
    return items


def checklist_window(value, window=None, exempt=None):
    """Items as a maintenance window makes them (see _checklist.apply_window)."""
    items = _items(value, "checklist_window")
    if window is not None and not isinstance(window, dict):
        raise AnsibleFilterError("checklist_window expects the window as a mapping {by, reason, since, until}, got %r"
                                 % (window,))
    if isinstance(exempt, str):
        exempt = [exempt]
    kwargs = {} if exempt is None else {"exempt": tuple(exempt)}
    return _checklist.apply_window(items, window or None, **kwargs)


def checklist_message_kind(status, previous="unknown", notify_on=("fail", "warn"), partial=False):
    """Which message a run sends: ``alert`` (its status is in ``notify_on``), ``recovery`` (it passes
    after a run that alerted, and it checked everything) or ``''`` (nothing to say)."""
    for name, value in (("status", status), ("previous", previous)):
        if not isinstance(value, str):
            raise AnsibleFilterError("checklist_message_kind: %s must be a status string, got %r" % (name, value))
    if not isinstance(notify_on, (list, tuple)):
        raise AnsibleFilterError("checklist_message_kind: notify_on must be a list of statuses, got %r" % (notify_on,))
    if status in notify_on:
        return "alert"
    if status == "pass" and previous in notify_on and not partial:
        return "recovery"
    return ""


class FilterModule(object):
    """Checklist filters."""

    def filters(self):
        return {
            "checklist_worst": checklist_worst,
            "checklist_sort": checklist_sort,
            "checklist_counts": checklist_counts,
            "checklist_problems": checklist_problems,
            "checklist_record": checklist_record,
            "checklist_window": checklist_window,
            "checklist_message_kind": checklist_message_kind,
        }
