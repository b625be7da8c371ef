#!/usr/bin/python
# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: disk_usage
short_description: Judge the space left on the filesystems of the shop's directories as one checklist item
version_added: 0.2.0
description:
  - Measures the filesystems that hold O(required_paths) and O(optional_paths) as C(df) shows them (reserved blocks
    count as used), one entry per filesystem naming the paths on it, replacing the guide's C(df -h) and
    C(check-disk-space.sh).
  - Returns the checklist item RV(item) with id V(disk). V(fail) when a filesystem is more than O(threshold_percent)
    used, when a path of O(required_paths) does not exist (C(data directory ... does not exist)), or when a path cannot
    be measured; V(pass) otherwise.
  - A path of O(optional_paths) that does not exist (a backup directory the first backup has not made yet) is listed
    in the item's C(evidence.missing), not measured, and changes nothing.
  - Only reads. A problem found is reported in RV(item) and never fails the task; only options the module cannot work
    with do.
author:
  - milos_shop.ops contributors (@milos-shop)
extends_documentation_fragment:
  - milos_shop.ops._attributes
  - milos_shop.ops._attributes.read_only
  - milos_shop.ops._checklist
requirements:
  - statvfs (Linux or another POSIX system) on the target
options:
  required_paths:
    description:
      - Absolute paths that must exist (C(/), the data directory); their filesystems are measured. Empty entries are
        ignored.
    type: list
    elements: path
    default: [/]
  optional_paths:
    description:
      - Absolute paths measured when they exist (the backup directory). Empty entries are ignored.
    type: list
    elements: path
    default: []
  threshold_percent:
    description:
      - A filesystem more used than this, in percent (0 to 100), fails the item (the guide alerts above 90).
    type: int
    default: 90
"""

EXAMPLES = r"""
- name: Space on /, the data and the backup directories (the guide's df -h, 90 % threshold)
  milos_shop.ops.disk_usage:
    required_paths: [/, /opt/milos-shop/data]
    optional_paths: [/var/backups/milos-shop]
  register: disk

- name: Show the verdict
  ansible.builtin.debug:
    msg: "{{ disk.item.status }}: {{ disk.item.summary }}"
"""

RETURN = r"""
item:
  description:
    - The checklist item (id V(disk) unless O(item_id) is set); see the notes for its shape.
    - "C(evidence): C(disks) (as RV(disks)), C(missing) (every path that does not exist), C(required_missing) (those of
      O(required_paths)) and C(threshold_percent)."
    - C(alerts) kinds, all V(fail), V(disk) (a filesystem over the threshold; C(value) its use in percent),
      V(missing_path) and V(check_error) (a path that cannot be measured).
  returned: always
  type: dict
  sample:
    id: disk
    title: Disk space (df -h)
    status: pass
    summary: "/, /opt/milos-shop/data: 41.2% used; /var/backups/milos-shop: 12.5% used"
    evidence: {disks: [], missing: [], required_missing: [], threshold_percent: 90}
    alerts: []
disks:
  description: One entry per filesystem, with C(paths), C(total_bytes), C(used_bytes), C(free_bytes) and C(used_percent).
  returned: always
  type: list
  elements: dict
missing:
  description: The paths that do not exist (not measured).
  returned: always
  type: list
  elements: str
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.milos_shop.ops.plugins.module_utils._resources import (
    DISK_ID,
    DISK_TITLE,
    judge_disk,
    measure_disks,
)


def argument_spec():
    return dict(
        required_paths=dict(type="list", elements="path", default=["/"]),
        optional_paths=dict(type="list", elements="path", default=[]),
        threshold_percent=dict(type="int", default=90),
        item_id=dict(type="str"),
        item_title=dict(type="str"),
    )


def check_params(params):
    """(required, optional) paths without empty entries; ValueError naming the option otherwise."""
    if not 0 <= params["threshold_percent"] <= 100:
        raise ValueError("threshold_percent must be a percentage from 0 to 100, got %r" % (params["threshold_percent"],))
    lists = []
    for name in ("required_paths", "optional_paths"):
        paths = [p for p in params[name] if p]
        relative = [p for p in paths if not os.path.isabs(p)]
        if relative:
            raise ValueError("%s must hold absolute paths, got %s" % (name, ", ".join(repr(p) for p in relative)))
        lists.append(paths)
    if not lists[0] and not lists[1]:
        raise ValueError("required_paths and optional_paths are both empty: nothing to measure")
    return lists


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    params = module.params
    try:
        required, optional = check_params(params)
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    disks, missing, required_missing, errors = measure_disks(required, optional)
    item = judge_disk(disks, missing, required_missing, params["threshold_percent"], errors,
                      params["item_id"] or DISK_ID, params["item_title"] or DISK_TITLE)
    module.exit_json(changed=False, item=item, disks=disks, missing=missing)


if __name__ == "__main__":
    main()
