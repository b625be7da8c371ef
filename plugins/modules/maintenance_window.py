#!/usr/bin/python
# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: maintenance_window
short_description: Open, close and read the maintenance marker that says the app is stopped on purpose
version_added: 0.2.0
description:
  - A step that stops the application on purpose (a restore; later an update, a C(VACUUM), an image update) opens a
    maintenance window with O(state=open) before it stops the app and closes it with O(state=closed) when it ends, also
    when it fails (in the C(always:) of a block).
  - The window is a small JSON file on the host, O(path), that says who opened it (C(by)), why (C(reason)), since and
    until when (C(since), C(until), ISO 8601 in UTC with a C(Z)), with the C(token) of the step that opened it, the
    C(host) name and the C(pid) of the module process.
  - Checks read it with O(state=read) and pass RV(window) to the P(milos_shop.ops.checklist_window#filter) filter.
    During an active window an item that does not pass becomes C(skip) with "maintenance by ... until ..." and raises no
    alert; a marker past its C(until) is itself a C(warn).
  - The marker is written atomically (a temporary file in the same directory, synced, then renamed) with mode C(0644);
    its directory is created with mode C(0755) when it is missing. Opening and closing hold a lock on the directory, so
    that two steps cannot both open a window.
author:
  - milos_shop.ops contributors (@milos-shop)
extends_documentation_fragment:
  - milos_shop.ops._attributes
attributes:
  check_mode:
    support: full
    details:
      - Check mode reports whether the window would be opened or closed (C(changed)), the marker that would be written
        (RV(window)), and fails as a real run would when another window is active; nothing is written or removed.
      - With O(state=open) and no O(token), the RV(token) returned in check mode is a new random one that no marker holds.
  diff_mode:
    support: full
    details:
      - Shows the marker's content before and after (empty when there is no marker).
  idempotent:
    support: partial
    details:
      - O(state=closed) and O(state=read) are idempotent.
      - O(state=open) writes a new window each time. Opening again with the O(token) of the active window renews it (the
        same C(since) and C(token), C(until) moved to now plus O(duration), the new C(by), C(reason) and C(pid)); it
        reports C(changed=true) whenever the marker changes, which it does as soon as time has moved on by a second.
        Opening again without the token fails, as any second window does.
options:
  path:
    description:
      - The marker file, an absolute path, for example C(/var/lib/milos-shop/maintenance.json).
      - Its directory is created with mode C(0755) when it is missing.
    type: path
    required: true
  state:
    description:
      - V(open) writes the marker. It fails when an active marker of another O(token) is there, unless O(force=true);
        an expired marker (or one that cannot be read) is replaced, and RV(replaced_expired) says so.
      - V(closed) removes the marker. With O(token), a marker of another token is left in place (C(changed=false)).
      - V(read) changes nothing and returns the marker (RV(window)) and its state (RV(window_state)).
    type: str
    choices:
      - open
      - closed
      - read
    default: read
  by:
    description:
      - Who opens the window, written to the marker.
      - The default is the user the module runs for, from the E(SUDO_USER) or E(USER) environment variable of the module
        process, else V(ansible).
      - Used with O(state=open).
    type: str
  reason:
    description:
      - Why the window is opened, for example V(restore of milos_shop_backup_2026-11-28T16-14-42.db.gz).
      - Required with O(state=open).
    type: str
  duration:
    description:
      - How long the window may last, from now; after that it counts as expired (a step that never closed it).
      - A duration of the collection's grammar, such as V(30min), V(1h) or V(1h30min); a bare number is seconds. The unit
        V(m) is refused (write V(min)).
      - Used with O(state=open); checked with every state.
    type: str
    default: 1h
  force:
    description:
      - With O(state=open), replace an active window of another token (RV(taken_over) holds it) instead of failing.
    type: bool
    default: false
  token:
    description:
      - The identity of the step that owns the window. Not a secret; it is written to the marker, which everyone on the
        host can read.
      - With O(state=open), the token the marker gets (the default is a new random one, returned in RV(token)); an active
        window of the same token is renewed instead of refused.
      - With O(state=closed), only a marker of this token is removed. Without it, any marker is removed.
    type: str
notes:
  - The lock is an C(flock) on the directory of O(path); where the file system cannot lock a directory, the module works
    without it.
  - A marker that is not valid JSON, is not an object, or lacks a valid C(until) is never a crash. O(state=read) reports
    it as an expired window (RV(window_state=expired)) and says what is wrong in RV(msg), and O(state=open) replaces it.
    A check treats it as an expired window, which is a C(warn), since something wrote a marker this module did not write.
seealso:
  - module: milos_shop.ops.sqlite_restore
"""

EXAMPLES = r"""
- name: Restore with the app stopped during a maintenance window
  block:
    - name: Open the maintenance window
      milos_shop.ops.maintenance_window:
        path: /var/lib/milos-shop/maintenance.json
        state: open
        reason: restore of milos_shop_backup_2026-11-28T16-14-42.db.gz
        duration: 30min
      register: __window

    - name: Stop the app, restore and start it
      ansible.builtin.debug:
        msg: "The restore steps go here."
  always:
    - name: Close the maintenance window
      milos_shop.ops.maintenance_window:
        path: /var/lib/milos-shop/maintenance.json
        state: closed
        token: "{{ __window.token }}"
      when: __window is defined and 'token' in __window

- name: Read the maintenance window before the checks
  milos_shop.ops.maintenance_window:
    path: /var/lib/milos-shop/maintenance.json
  register: __maintenance

- name: Turn the items into what the window makes them
  ansible.builtin.set_fact:
    __items: "{{ __items | milos_shop.ops.checklist_window(__maintenance.window) }}"
"""

RETURN = r"""
path:
  description: The marker file.
  returned: always
  type: str
  sample: /var/lib/milos-shop/maintenance.json
window:
  description:
    - The marker. With O(state=open), the one written (or that would be, in check mode); with O(state=closed), the one
      removed (V(null) when none was); with O(state=read), the one there (V(null) when there is none).
    - A marker that cannot be used has V(null) in C(until), what is wrong in C(problem), and the C(until) it had, if any,
      in C(invalid_until).
  returned: always
  type: dict
  contains:
    by:
      description: Who opened the window.
      type: str
      sample: milos
    reason:
      description: Why.
      type: str
      sample: restore of milos_shop_backup_2026-11-28T16-14-42.db.gz
    since:
      description: When the window was opened, ISO 8601 in UTC.
      type: str
      sample: "2026-11-28T16:20:00Z"
    until:
      description: When the window ends, ISO 8601 in UTC.
      type: str
      sample: "2026-11-28T16:50:00Z"
    token:
      description: The token of the step that opened it.
      type: str
      sample: 9c1f4b2e6a0d4f7e8b3c5a1d2e4f6a8b
    host:
      description: The host name where it was opened.
      type: str
      sample: shop-1
    pid:
      description: The process id of the module that opened it.
      type: int
      sample: 4242
    problem:
      description: What is wrong with a marker that cannot be used.
      type: str
      returned: for a marker that cannot be used
      sample: "maintenance marker '/var/lib/milos-shop/maintenance.json' is not valid JSON (...)"
  sample:
    by: milos
    reason: restore of milos_shop_backup_2026-11-28T16-14-42.db.gz
    since: "2026-11-28T16:20:00Z"
    until: "2026-11-28T16:50:00Z"
    token: 9c1f4b2e6a0d4f7e8b3c5a1d2e4f6a8b
    host: shop-1
    pid: 4242
window_state:
  description: V(none) (no marker), V(active) (until is in the future) or V(expired) (until has passed, or the marker
    cannot be used).
  returned: O(state=read)
  type: str
  sample: active
problem:
  description: What is wrong with a marker that cannot be used.
  returned: O(state=read), for a marker that cannot be used
  type: str
  sample: "maintenance marker '/var/lib/milos-shop/maintenance.json' has no until: '{}'"
token:
  description: The token of the window opened; pass it to O(state=closed) so that only this window is closed.
  returned: O(state=open)
  type: str
  sample: 9c1f4b2e6a0d4f7e8b3c5a1d2e4f6a8b
renewed:
  description: Whether an active window of the same O(token) was renewed.
  returned: O(state=open)
  type: bool
  sample: false
replaced_expired:
  description: The expired marker (or one that could not be used) that was replaced; V(null) when none was.
  returned: O(state=open)
  type: dict
  sample: {"by": "milos", "reason": "update", "since": "2026-11-27T02:00:00Z", "until": "2026-11-27T03:00:00Z"}
taken_over:
  description: The active window of another token that O(force=true) replaced; V(null) when none was.
  returned: O(state=open)
  type: dict
  sample: null
open_window:
  description: The marker of another token that O(state=closed) left in place.
  returned: O(state=closed), when O(token) does not match the marker
  type: dict
  sample: {"by": "milos", "reason": "update", "since": "2026-11-28T02:00:00Z", "until": "2026-11-28T03:00:00Z"}
msg:
  description: What was done or found, in one sentence.
  returned: always
  type: str
  sample: maintenance by milos until 2026-11-28T16:50:00Z (restore of milos_shop_backup_2026-11-28T16-14-42.db.gz)
"""

import traceback

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.milos_shop.ops.plugins.module_utils._maintenance import MaintenanceError, run


def argument_spec():
    return dict(
        path=dict(type="path", required=True),
        state=dict(type="str", choices=["open", "closed", "read"], default="read"),
        by=dict(type="str"),
        reason=dict(type="str"),
        duration=dict(type="str", default="1h"),
        force=dict(type="bool", default=False),
        token=dict(type="str", no_log=False),
    )


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        required_if=[("state", "open", ("reason",))],
        supports_check_mode=True,
    )
    try:
        result = run(module.params, check_mode=module.check_mode)
    except MaintenanceError as exc:
        failed = dict(exc.result)
        failed.pop("diff", None)
        failed.pop("changed", None)
        module.fail_json(msg=exc.msg, **failed)
    except ValueError as exc:
        module.fail_json(msg=to_native(exc))
    except Exception as exc:  # pylint: disable=broad-except
        module.fail_json(msg="maintenance_window failed unexpectedly: %s" % to_native(exc), exception=traceback.format_exc())

    diff = result.pop("diff", None)
    if module._diff and diff is not None:
        result["diff"] = diff
    module.exit_json(**result)


if __name__ == "__main__":
    main()
