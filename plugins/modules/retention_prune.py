#!/usr/bin/python
# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: retention_prune
short_description: Delete old database backups by a grandfather-father-son policy
version_added: 0.1.0
description:
  - Applies a grandfather-father-son retention policy to the backup files in one directory and deletes the backups that
    the policy does not keep, together with their manifests.
  - The defaults are those of the Milos-Shop maintenance guide, 7 daily, 4 weekly and 12 monthly backups. The module
    replaces the guide's C(find /app/backups -name "*.db.gz" -mtime +7 -delete).
  - The policy has the semantics of restic's C(forget) command, including the keeping of the oldest backup that restic
    does since 0.16. The backups are sorted newest first and each one is kept when at least one of the following keeps
    it.
  - O(keep_within) keeps every backup whose time is after the time of the newest backup minus the duration. The newest
    backup is the newest one that is not in the future; the reference point is that backup, not the current time.
  - Each of O(keep_last), O(keep_hourly), O(keep_daily), O(keep_weekly), O(keep_monthly) and O(keep_yearly) that is not
    V(0) walks the backups newest first and keeps a backup when its bucket differs from the bucket of the backup the
    rule kept before it, until the rule has kept its count of backups. The buckets are the backup itself for
    O(keep_last), its hour, day, ISO 8601 week (ISO year and week number, so 31 December 2020 and 1 January 2021 are
    both in week 2020-W53), month or year for the other rules, taken in O(timezone). So the newest backup of each hour,
    day, week, month or year is the one kept, and an hour, day, week, month or year without any backup does not use up
    a count.
  - When a rule still has counts left at the oldest backup, the oldest backup is kept too, with the reason
    C(oldest daily) (and so on) when a newer backup of the same bucket was already kept. This keeps the longest history
    while the backups do not yet fill the policy.
  - One backup can be kept by several rules; RV(kept[].reasons) lists them all, in the order C(within ...), C(last),
    C(hourly), C(daily), C(weekly), C(monthly), C(yearly), then C(newest verified) or C(rotten).
  - Apart from the policy, the newest backup that verifies B(now) is always kept, with the reason C(newest verified).
    Before anything is deleted, the backups are walked newest first; the manifest C(<backup file name>.manifest.json)
    beside each is read and the backup file is re-hashed, until one passes. A backup passes when its manifest is a JSON
    object whose C(backup) names the backup file, whose C(check_result) is C(ok), and whose C(size) and C(sha256) are
    those of the file as it is now. This is the same function the daily C(backup_status) check uses. A backup without a
    manifest is unverified. Usually only the newest backup is re-hashed.
  - A backup newer than that one whose manifest says it was good but which does not verify now (the file changed after
    its manifest was written, shrank, or is gone) is B(rotten). Rotten backups are kept by this run whatever the policy
    says, with the reason C(rotten), are never taken for the newest verified backup, and are listed in RV(rotten),
    named in RV(msg) and warned about. They are evidence (bit rot, a partial copy, tampering) and a person decides what
    to do with them, the module neither deletes nor moves them.
  - The module never deletes every backup and never deletes the newest one. When every C(keep_*) option is V(0) and
    O(keep_within) is not set, the policy is empty and every backup is kept, as in restic.
  - Only regular files whose name is that of a backup (see O(prefix), O(extensions), O(pattern) and O(name_format)) are
    candidates for deletion. Symbolic links, directories and other files are never touched and are listed in
    RV(ignored), and so is a file whose name looks like a backup but whose time does not parse. The manifest of a
    deleted backup is deleted with it.
  - When the directory holds files but none of them is recognised as a backup, the module fails rather than guess. An
    empty directory is fine and nothing is done.
author:
  - milos_shop.ops contributors (@milos-shop)
extends_documentation_fragment:
  - milos_shop.ops._attributes
attributes:
  check_mode:
    support: full
    details:
      - Check mode makes the same plan as a real run (the newest backups are re-hashed in check mode too) and lists the
        backups it would delete, without deleting them.
  diff_mode:
    support: full
    details:
      - The diff lists the backups and manifests in the directory before and after, one path per line.
  idempotent:
    support: full
    details:
      - Every rule measures from the backups themselves, not from the current time (O(keep_within) only looks at the
        clock to leave out backups dated in the future), so a second run over the kept backups keeps them all and
        deletes nothing until a new backup is added.
options:
  path:
    description:
      - The directory that holds the backups. It is not searched recursively.
      - The module fails when the directory does not exist.
    type: path
    required: true
  prefix:
    description:
      - A backup's file name is this prefix, its time as O(name_format) and one of O(extensions).
      - Mutually exclusive with O(pattern).
    type: str
    default: milos_shop_backup_
  extensions:
    description:
      - The endings of backup file names, tried longest first.
      - Mutually exclusive with O(pattern).
    type: list
    elements: str
    default: ['.db.gz', '.db.zst', '.db']
  pattern:
    description:
      - A Python regular expression that a backup's whole file name must match, instead of O(prefix) and O(extensions).
      - With O(time_source=name) it must have a named group called C(time), whose text is parsed with O(name_format);
        see the examples.
      - Mutually exclusive with O(prefix) and O(extensions).
    type: str
  name_format:
    description:
      - The C(strptime) format of the time in a backup's file name.
      - A time without a UTC offset (no C(%z) in the format) is taken as UTC, as the backups are named.
      - Not used with O(time_source=mtime).
    type: str
    default: '%Y-%m-%dT%H-%M-%S'
  time_source:
    description:
      - Where the time of a backup comes from.
      - V(name) reads it from the file name with O(name_format); a backup-like name whose time does not parse is ignored.
      - V(mtime) takes the file's modification time; the name must still match O(prefix) and O(extensions) or
        O(pattern), but its time part is not read.
    type: str
    choices: [name, mtime]
    default: name
  timezone:
    description:
      - The IANA time zone, such as V(Europe/Madrid), in which the hours, days, weeks, months and years of the rules
        begin and end. A backup at 23:30 UTC belongs to the next day in V(Europe/Madrid).
      - Any zone other than V(UTC) needs the Python C(zoneinfo) module (Python 3.9 or later) on the target.
    type: str
    default: UTC
  keep_last:
    description:
      - Keep the newest N backups. V(0) turns the rule off, V(-1) keeps all.
    type: int
    default: 0
  keep_hourly:
    description:
      - Keep the newest backup of each of the last N hours that have a backup. V(0) turns the rule off, V(-1) has no limit.
    type: int
    default: 0
  keep_daily:
    description:
      - Keep the newest backup of each of the last N days that have a backup. V(0) turns the rule off, V(-1) has no limit.
    type: int
    default: 7
  keep_weekly:
    description:
      - Keep the newest backup of each of the last N ISO 8601 weeks (Monday to Sunday) that have a backup. V(0) turns the
        rule off, V(-1) has no limit.
    type: int
    default: 4
  keep_monthly:
    description:
      - Keep the newest backup of each of the last N months that have a backup. V(0) turns the rule off, V(-1) has no limit.
    type: int
    default: 12
  keep_yearly:
    description:
      - Keep the newest backup of each of the last N years that have a backup. V(0) turns the rule off, V(-1) has no limit.
    type: int
    default: 0
  keep_within:
    description:
      - Keep every backup whose time is after the time of the newest backup minus this duration.
      - The duration is one or more C(<number><unit>) parts without spaces, such as V(36h), V(2w), V(1y6mo) or V(1d12h).
        The units are C(y) (years), C(mo) (months), C(w) (weeks of 7 days), C(d) (days), C(h) (hours), C(min) (minutes)
        and C(s) (seconds). A bare C(m) is refused as ambiguous.
      - Years, months, weeks and days are calendar units on the wall clock of O(timezone), as in restic (31 March less
        V(1mo) is 3 March, or 2 March in a leap year); hours, minutes and seconds are exact.
      - Not set, or a zero duration such as V(0d), turns the rule off.
    type: str
  lock_timeout:
    description:
      - The most seconds to wait while a backup into O(path) holds the directory's lock. M(milos_shop.ops.sqlite_backup)
        holds it (exclusive) while it backs up and publishes; this module takes it shared, so it never sees a backup
        whose manifest is not published yet, and two prunes can run side by side.
      - When the wait is longer, the task fails and nothing is deleted. V(0) waits as long as it takes.
    version_added: 0.2.0
    type: float
    default: 600
notes:
  - The time of a backup comes from its name, not from the file's modification time, unless O(time_source=mtime).
  - Scanning uses one directory listing; a run over 10,000 backups takes a fraction of a second.
seealso:
  - name: restic forget
    description: The policy whose semantics this module follows.
    link: https://restic.readthedocs.io/en/stable/060_forget.html
"""

EXAMPLES = r"""
- name: Prune the backups by the maintenance guide's policy (7 daily, 4 weekly, 12 monthly)
  milos_shop.ops.retention_prune:
    path: /app/backups

- name: Show what would be deleted, with days counted in Madrid
  milos_shop.ops.retention_prune:
    path: /app/backups
    timezone: Europe/Madrid
  check_mode: true
  diff: true
  register: __retention_plan

- name: Keep everything from the last two days and one backup a day for two weeks
  milos_shop.ops.retention_prune:
    path: /app/backups
    keep_within: 2d
    keep_daily: 14
    keep_weekly: 0
    keep_monthly: 0

- name: Prune backups named differently, for example app_2026-01-31T02-00-00.sql.gz
  milos_shop.ops.retention_prune:
    path: /srv/dumps
    pattern: '^app_(?P<time>.+)\.sql\.gz$'
    keep_daily: 7
"""

RETURN = r"""
kept:
  description:
    - The backups kept, newest first, each with the rules that kept it.
  returned: success
  type: list
  elements: dict
  contains:
    path:
      description: The path of the backup file.
      type: str
      sample: /app/backups/milos_shop_backup_2026-11-28T03-00-00.db.gz
    time:
      description: The time of the backup, in UTC, ISO 8601.
      type: str
      sample: '2026-11-28T03:00:00Z'
    reasons:
      description:
        - Why the backup is kept. C(within <duration>), C(last), C(hourly), C(daily), C(weekly), C(monthly),
          C(yearly), C(oldest <rule>) for the oldest backup kept by a rule that still had counts left,
          C(newest verified), C(rotten) for a backup that does not verify now and is kept for inspection, or
          C(policy is empty).
      type: list
      elements: str
      sample: [daily, weekly, monthly, newest verified]
  sample:
    - path: /app/backups/milos_shop_backup_2026-11-28T03-00-00.db.gz
      time: '2026-11-28T03:00:00Z'
      reasons: [daily, weekly, monthly, newest verified]
deleted:
  description:
    - The backups deleted, or in check mode those that would be deleted, newest first.
  returned: success
  type: list
  elements: dict
  contains:
    path:
      description: The path of the backup file.
      type: str
      sample: /app/backups/milos_shop_backup_2026-11-20T15-00-00.db.gz
    time:
      description: The time of the backup, in UTC, ISO 8601.
      type: str
      sample: '2026-11-20T15:00:00Z'
    manifest:
      description: The path of its manifest, deleted with it; V(null) when it had none.
      type: str
      sample: /app/backups/milos_shop_backup_2026-11-20T15-00-00.db.gz.manifest.json
  sample:
    - path: /app/backups/milos_shop_backup_2026-11-20T15-00-00.db.gz
      time: '2026-11-20T15:00:00Z'
      manifest: /app/backups/milos_shop_backup_2026-11-20T15-00-00.db.gz.manifest.json
ignored:
  description:
    - The entries of the directory that are neither a backup nor the manifest of one, left alone, with the reason.
  returned: success
  type: list
  elements: dict
  contains:
    path:
      description: The path of the entry.
      type: str
      sample: /app/backups/notes.txt
    reason:
      description: Why it is not a backup.
      type: str
      sample: name does not match the backup name
  sample:
    - path: /app/backups/notes.txt
      reason: name does not match the backup name
newest_verified:
  description:
    - The newest backup that verifies now (its manifest says it passed its check, and the file still has the
      manifest's size and sha256), kept whatever the policy says; V(null) when none does.
  returned: success
  type: str
  sample: /app/backups/milos_shop_backup_2026-11-28T03-00-00.db.gz
rotten:
  description:
    - The backups newer than RV(newest_verified) whose manifest says they were good but that do not verify now,
      newest first. They are kept by this run.
  returned: success
  type: list
  elements: dict
  contains:
    name:
      description: The file name of the backup.
      type: str
      sample: milos_shop_backup_2026-11-29T03-00-00.db.gz
    path:
      description: The path of the backup.
      type: str
      sample: /app/backups/milos_shop_backup_2026-11-29T03-00-00.db.gz
    problems:
      description: Why it does not verify.
      type: list
      elements: str
      sample:
        - "checksum mismatch: sha256 of '/app/backups/milos_shop_backup_2026-11-29T03-00-00.db.gz' is 1f2e... but the manifest says '9f86...'"
  sample:
    - name: milos_shop_backup_2026-11-29T03-00-00.db.gz
      path: /app/backups/milos_shop_backup_2026-11-29T03-00-00.db.gz
      problems:
        - "checksum mismatch: sha256 of '/app/backups/milos_shop_backup_2026-11-29T03-00-00.db.gz' is 1f2e... but the manifest says '9f86...'"
msg:
  description: A one-line summary.
  returned: always
  type: str
  sample: '/app/backups: kept 23 backup(s), deleted 1, left 0 other entries alone'
"""

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.milos_shop.ops.plugins.module_utils._retention import (
    HAS_ZONEINFO,
    ZONEINFO_IMPORT_ERROR,
    BackupNames,
    Policy,
    RetentionError,
    get_timezone,
    prune,
)


ARGUMENT_SPEC = dict(
    path=dict(type='path', required=True),
    prefix=dict(type='str', default='milos_shop_backup_'),
    extensions=dict(type='list', elements='str', default=['.db.gz', '.db.zst', '.db']),
    pattern=dict(type='str'),
    name_format=dict(type='str', default='%Y-%m-%dT%H-%M-%S'),
    time_source=dict(type='str', choices=['name', 'mtime'], default='name'),
    timezone=dict(type='str', default='UTC'),
    keep_last=dict(type='int', default=0),
    keep_hourly=dict(type='int', default=0),
    keep_daily=dict(type='int', default=7),
    keep_weekly=dict(type='int', default=4),
    keep_monthly=dict(type='int', default=12),
    keep_yearly=dict(type='int', default=0),
    keep_within=dict(type='str'),
    lock_timeout=dict(type='float', default=600),
)


def run_module(module):
    """Build the policy and the name rules from the options and prune; RetentionError on bad input."""
    params = module.params
    if not HAS_ZONEINFO and params['timezone'] != 'UTC':
        module.fail_json(msg=missing_required_lib('zoneinfo (Python 3.9 or later) or backports.zoneinfo', reason='for timezone=%r' % params['timezone']),
                         exception=ZONEINFO_IMPORT_ERROR)
    policy = Policy(
        last=params['keep_last'],
        hourly=params['keep_hourly'],
        daily=params['keep_daily'],
        weekly=params['keep_weekly'],
        monthly=params['keep_monthly'],
        yearly=params['keep_yearly'],
        within=params['keep_within'],
    )
    names = BackupNames(
        prefix=params['prefix'],
        extensions=params['extensions'],
        pattern=params['pattern'],
        name_format=params['name_format'],
        time_source=params['time_source'],
    )
    tz = get_timezone(params['timezone'])
    if params['lock_timeout'] < 0:
        raise RetentionError('lock_timeout: expected 0 or more seconds, got %r' % (params['lock_timeout'],))
    return prune(params['path'], policy, names, tz=tz, check_mode=module.check_mode, diff=module._diff,
                 lock_timeout=params['lock_timeout'])


def main():
    module = AnsibleModule(
        argument_spec=ARGUMENT_SPEC,
        mutually_exclusive=[['pattern', 'prefix'], ['pattern', 'extensions']],
        supports_check_mode=True,
    )
    try:
        result = run_module(module)
    except RetentionError as exc:
        module.fail_json(msg=exc.msg, **exc.details)
    except Exception as exc:  # pylint: disable=broad-except
        module.fail_json(msg='retention_prune failed unexpectedly: %s' % to_native(exc), exception=traceback.format_exc())
    else:
        for warning in result.pop('warnings'):
            module.warn(warning)
        module.exit_json(**result)


if __name__ == '__main__':
    main()
