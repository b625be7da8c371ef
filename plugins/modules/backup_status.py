#!/usr/bin/python
# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: backup_status
short_description: Judge a backup directory by the newest backup that really verifies now, as one checklist item
version_added: 0.2.0
description:
  - Lists the backups in O(path) (names starting with O(prefix) and ending with one of O(extensions)), newest first by
    the time in their names, and finds the newest one that verifies now. A backup verifies when its manifest
    (C(<backup>.manifest.json)) names it with C(check_result) V(ok), and the file is there with the manifest's size
    and sha256, re-hashed now rather than taken from the manifest's word. The newest candidate is re-hashed, then the
    next one, until one passes.
  - The age of that backup (its manifest's C(created)) against O(max_age) is the recovery point objective of the
    guide's C(backup-db.sh) step.
  - Every newer backup that does not verify is named in the item, with what is wrong with it; a backup deleted with its
    manifest left counts as one (its manifest is listed too).
  - With O(deep_check=true), the chosen backup is also decompressed to a temporary file and checked with SQLite's
    C(integrity_check); one that fails is rotten too and the walk goes on. PostgreSQL dumps (C(.pgc)) are not
    deep-checked; the item says so.
  - Returns the checklist item RV(item) with id V(backup). V(fail) when the backup step failed (O(backup_error)), when no
    backup verifies, or when the newest that does is older than O(max_age); V(warn) when a newer backup is rotten or
    missing but an older one verifies within O(max_age) (both named, with the good one's age); V(pass) otherwise.
  - Only reads. A problem found is reported in RV(item) and never fails the task; only options the module cannot work
    with do.
author:
  - milos_shop.ops contributors (@milos-shop)
extends_documentation_fragment:
  - milos_shop.ops._attributes
  - milos_shop.ops._attributes.read_only
  - milos_shop.ops._checklist
options:
  path:
    description:
      - The backup directory (absolute). One that does not exist gives a V(fail) item (no backup), not a failed task.
    type: path
    required: true
  prefix:
    description:
      - The file name prefix of the backups.
    type: str
    default: milos_shop_backup_
  extensions:
    description:
      - The file name endings of the backups (longest match first).
    type: list
    elements: str
    default: [.db.gz, .db.zst, .db, .pgc]
  max_age:
    description:
      - The newest verified backup older than this fails the item.
      - A duration such as V(26h), V(1d12h) or V(90min), or a number of seconds. The unit V(m) is refused (write V(min)
        for minutes).
    type: str
    default: 26h
  deep_check:
    description:
      - Also decompress the chosen backup to a temporary file and run SQLite's C(integrity_check) on it (slower, it reads
        the whole database).
    type: bool
    default: false
  tmpdir:
    description:
      - Directory for the temporary copy of O(deep_check); the system's temporary directory when not set.
    type: path
  backup_error:
    description:
      - The message of a backup step that failed just before this check (the daily run's backup). The item is then
        V(fail) and its summary starts with C(backup failed:) and this message. Empty means no error.
    type: str
  predicted:
    description:
      - "In check mode, a backup run predicted that it would take a new backup now. The item is judged as if it had (no
        stale or missing backup fails it), and its summary starts with C(check mode: a new backup would be taken now;)."
      - Ignored with O(backup_error).
    type: bool
    default: false
  backup_ran:
    description:
      - A backup was taken just before this check; recorded in the item's evidence (C(backup_ran)) only.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Judge the backups (the newest one that verifies now, at most 26 h old)
  milos_shop.ops.backup_status:
    path: /var/backups/milos-shop
  register: backups

- name: The same with SQLite's integrity_check of the chosen backup
  milos_shop.ops.backup_status:
    path: /var/backups/milos-shop
    max_age: 2d
    deep_check: true

- name: Judge the daily run's backup step, which failed
  milos_shop.ops.backup_status:
    path: /var/backups/milos-shop
    backup_error: "disk full on /var/backups/milos-shop"
"""

RETURN = r"""
item:
  description:
    - The checklist item (id V(backup) unless O(item_id) is set); see the notes for its shape.
    - "C(evidence): C(directory); C(backup_ran), C(backup_predicted) and C(backup_error) (from the options);
      C(newest) (the newest backup listed, verified or not); C(newest_verified), C(newest_sha256) (re-hashed now) and
      C(newest_created) of the chosen backup; C(age_hours) (null without one) and C(max_age_hours); C(backups_listed)
      and C(total_bytes) (the backup files present); C(rotten), a list of C(name) and C(problems) of every newer
      backup that does not verify; C(checked) (how many were verified) and C(deep_check) (C(ran), C(ok), C(note))."
    - C(alerts) kinds, V(fail) unless noted, V(backup_error), V(no_backup), V(stale), V(rotten) (V(warn)) and
      V(check_error) (the directory cannot be read).
  returned: always
  type: dict
  sample:
    id: backup
    title: Backup ran (backup-db.sh)
    status: warn
    summary: "newest backup milos_shop_backup_2026-11-28T03-00-00.db.gz does not verify (checksum mismatch: ...);
      newest verified backup milos_shop_backup_2026-11-27T03-00-00.db.gz is 21.5 h old"
    evidence: {newest_verified: milos_shop_backup_2026-11-27T03-00-00.db.gz, age_hours: 21.5, max_age_hours: 26.0,
               backups_listed: 2, total_bytes: 20480, rotten: [{name: milos_shop_backup_2026-11-28T03-00-00.db.gz,
               problems: ["checksum mismatch: ..."]}]}
    alerts: [{kind: rotten, severity: warn, value: [milos_shop_backup_2026-11-28T03-00-00.db.gz], threshold: 0,
              message: "newest backup milos_shop_backup_2026-11-28T03-00-00.db.gz does not verify (...)"}]
path:
  description: The newest verified backup's full path; null when none verifies.
  returned: always
  type: str
"""

import datetime
import os
import traceback

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.milos_shop.ops.plugins.module_utils._backupstatus import (
    ITEM_ID,
    ITEM_TITLE,
    BackupStatusError,
    error_item,
    find_newest,
    judge,
    list_backups,
)
from ansible_collections.milos_shop.ops.plugins.module_utils._duration import DurationError, parse_seconds
from ansible_collections.milos_shop.ops.plugins.module_utils._sqlite_backup import verify_backup


def argument_spec():
    return dict(
        path=dict(type="path", required=True),
        prefix=dict(type="str", default="milos_shop_backup_"),
        extensions=dict(type="list", elements="str", default=[".db.gz", ".db.zst", ".db", ".pgc"]),
        max_age=dict(type="str", default="26h"),
        deep_check=dict(type="bool", default=False),
        tmpdir=dict(type="path"),
        backup_error=dict(type="str"),
        predicted=dict(type="bool", default=False),
        backup_ran=dict(type="bool", default=False),
        item_id=dict(type="str"),
        item_title=dict(type="str"),
    )


def check_params(params):
    """The maximum age in seconds; ValueError naming the option for values the check cannot work with."""
    if not os.path.isabs(params["path"]):
        raise ValueError("path must be the absolute path of the backup directory, got %r" % (params["path"],))
    if "/" in params["prefix"]:
        raise ValueError("prefix must be a file name prefix (no /), got %r" % (params["prefix"],))
    if not params["extensions"] or any(not ext or "/" in ext for ext in params["extensions"]):
        raise ValueError("extensions must list one or more file name endings, got %r" % (params["extensions"],))
    try:
        return parse_seconds(params["max_age"], "max_age")
    except DurationError as exc:
        raise ValueError(str(exc))


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    params = module.params
    try:
        max_age_s = check_params(params)
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    directory = params["path"]
    item_id = params["item_id"] or ITEM_ID
    title = params["item_title"] or ITEM_TITLE
    error = params["backup_error"] or None
    try:
        backups = list_backups(directory, params["prefix"], params["extensions"])
        found = find_newest(backups or [], deep_check=params["deep_check"], verify=verify_backup, tmpdir=params["tmpdir"])
    except (BackupStatusError, OSError) as exc:
        module.exit_json(changed=False, path=None, item=error_item(directory, str(exc), error, item_id, title))
    except Exception as exc:  # pylint: disable=broad-except
        module.fail_json(msg="checking the backups in %r failed unexpectedly: %s" % (directory, exc), exception=traceback.format_exc())
    item = judge(directory, backups, found, max_age_s, datetime.datetime.now(datetime.timezone.utc), backup_error=error,
                 predicted=params["predicted"], backup_ran=params["backup_ran"], item_id=item_id, title=title)
    module.exit_json(changed=False, path=found["backup"]["path"] if found["backup"] else None, item=item)


if __name__ == "__main__":
    main()
