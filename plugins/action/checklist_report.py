# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Action plugin of milos_shop.ops.checklist_report: writes run reports on the control node.

It runs in the controller's worker, without a module process: the reports of a
fleet cost no module call per host. The rendering is module_utils/_report.py.
"""

from __future__ import annotations

import json
import os
import tempfile

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_bytes
from ansible.plugins.action import ActionBase

from ansible_collections.milos_shop.ops.plugins.module_utils import _checklist, _report

ARGS = {
    "dir": {"type": "path", "required": True},
    "name": {"type": "str", "required": True},
    "scope": {"type": "str", "default": "host", "choices": ["host", "summary"]},
    "items": {"type": "list", "elements": "dict", "default": []},
    "hosts": {"type": "list", "elements": "str", "default": []},
    "time": {"type": "str", "required": True},
    "history": {"type": "bool", "default": True},
    "mode": {"type": "raw", "default": "0640"},
    "dir_mode": {"type": "raw", "default": "0750"},
}


def _mode(value, option):
    try:
        mode = int(str(value), 8)
    except ValueError:
        raise AnsibleActionFail("%s must be an octal mode such as '0640', got %r" % (option, value))
    if not 0 <= mode <= 0o7777:
        raise AnsibleActionFail("%s must be an octal mode such as '0640', got %r" % (option, value))
    return mode


def _write(path, text, mode):
    """Write ``text`` to ``path`` atomically (temp file in the same directory, fsync, rename)."""
    directory = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(to_bytes(text))
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _mkdir(path, mode):
    os.makedirs(path, exist_ok=True)
    os.chmod(path, mode)


class ActionModule(ActionBase):
    """Write a host's report (Markdown and JSON, with a timestamped copy) or the summary over hosts."""

    TRANSFERS_FILES = False
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        task_vars = task_vars or {}
        args = self.validate_argument_spec(argument_spec=ARGS)[1]
        mode = _mode(args["mode"], "mode")
        dir_mode = _mode(args["dir_mode"], "dir_mode")
        base = os.path.join(os.path.expanduser(args["dir"]), args["name"])
        check_mode = bool(self._task.check_mode)
        written = []
        try:
            if args["scope"] == "host":
                host = task_vars.get("inventory_hostname")
                try:
                    items = [_checklist.validate(item) for item in args["items"]]
                except _checklist.ChecklistError as exc:
                    raise AnsibleActionFail("items: %s" % exc)
                directory = os.path.join(base, host)
                _mkdir(os.path.dirname(directory), dir_mode)
                _mkdir(directory, dir_mode)
                doc = _report.host_document(args["name"], host, items, args["time"], check_mode)
                texts = {"md": _report.host_markdown(args["name"], host, items, args["time"]),
                         "json": json.dumps(doc, indent=2, sort_keys=False) + "\n"}
                for ext, text in texts.items():
                    names = ["latest." + ext] + (["%s.%s" % (args["time"], ext)] if args["history"] else [])
                    for name in names:
                        path = os.path.join(directory, name)
                        _write(path, text, mode)
                        written.append(path)
                result.update(status=doc["status"], counts=doc["counts"],
                              problems=[item["id"] for item in _checklist.problems(items)],
                              path=os.path.join(directory, "latest.md"), lines=texts["md"].splitlines())
            else:
                hostvars = task_vars.get("hostvars", {})
                results = {}
                for host in args["hosts"]:
                    values = hostvars.get(host, {})
                    status = values.get("report_status")
                    results[host] = (status, values.get("report_problems")) if status else (None, None)
                rows = _report.summary_hosts(results)
                status = _report.overall(rows)
                _mkdir(base, dir_mode)
                for ext, text in (("md", _report.summary_markdown(args["name"], rows, args["time"])),
                                  ("json", json.dumps({"report": args["name"], "status": status, "time": args["time"],
                                                       "hosts": rows}, indent=2) + "\n")):
                    path = os.path.join(base, "summary." + ext)
                    _write(path, text, mode)
                    written.append(path)
                result.update(status=status, hosts=rows, path=os.path.join(base, "summary.md"))
        except OSError as exc:
            raise AnsibleActionFail("cannot write the %s report under %s: %s" % (args["name"], base, exc))
        result.update(changed=True, written=written)
        return result
