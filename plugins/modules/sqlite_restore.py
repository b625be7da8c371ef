#!/usr/bin/python
# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: sqlite_restore
short_description: Put a verified SQLite backup in place of a stopped database, keep and put back pre-restore copies
version_added: 0.1.0
description:
  - With O(state=restored), replaces the SQLite database O(dest) with the backup O(backup_path) that
    M(milos_shop.ops.sqlite_backup) published. The database must not be in use; stop the application first.
  - The backup is checked against its manifest (size and SHA-256) while it is decompressed into a temporary file in the
    directory of O(dest), the decompressed database must pass C(PRAGMA integrity_check) (see O(check)) and match the
    manifest, and the file is synced to disk. This is the verification of M(milos_shop.ops.sqlite_backup) with
    O(milos_shop.ops.sqlite_backup#module:state=verified).
  - Only then are the stale C(-wal), C(-shm) and C(-journal) files of the old database removed (SQLite would otherwise
    replay them into the restored database and corrupt it), the temporary file renamed over O(dest) in one atomic step and
    the directory synced. O(dest) is never touched when the backup or the decompressed copy fails a check.
  - With O(state=saved), copies the stopped database O(dest) and its C(-wal), C(-shm) and C(-journal) files byte for byte
    to O(copy_path) (the side files to O(copy_path) plus the same suffix). The database is not opened, so a corrupt one is
    copied as it is. The copies are written under temporary names and renamed, the database last.
  - With O(state=reverted), puts such a copy back in place of O(dest), byte for byte, with its side files; side files of
    O(dest) that are not in the copy are removed. The copy is kept.
  - With O(state=checked), runs C(PRAGMA integrity_check) (see O(check)) on O(dest) from a read-only connection, which is
    safe while the application runs, and fails when the database does not pass. This never changes anything.
  - A database is in use when another process holds SQLite's locks on it; every connection to a database in WAL mode
    does. O(state=restored), O(state=saved) and O(state=reverted) refuse to work on a database in use.
author:
  - milos_shop.ops contributors (@milos-shop)
extends_documentation_fragment:
  - milos_shop.ops._attributes
attributes:
  check_mode:
    support: full
    details:
      - With O(state=restored), check mode verifies the backup as a real run does (decompressed into O(tmpdir) instead of
        the directory of O(dest)) and reports whether O(dest) would be replaced and which stale files would be removed.
      - With O(state=saved) and O(state=reverted), check mode reports the files that would be written and removed.
      - A database in use is reported in RV(in_use) in check mode instead of failing, since the task that stops the
        application does not run in check mode.
  diff_mode:
    support: full
    details:
      - O(state=restored) shows O(dest) before and after with size, SHA-256 (before only in diff mode), page size and
        count, owner, group, mode and side files.
      - O(state=saved) and O(state=reverted) show the files before and after.
  idempotent:
    support: full
    details:
      - A restore whose O(dest) already holds the same bytes as the decompressed backup, with no side files and the
        wanted attributes, changes nothing; so does a copy that already exists with the same bytes.
options:
  state:
    description:
      - V(restored) puts the backup O(backup_path) in place of O(dest).
      - V(saved) copies O(dest) and its side files to O(copy_path).
      - V(reverted) puts the copy O(copy_path) and its side files back in place of O(dest).
      - V(checked) checks O(dest) and changes nothing.
    type: str
    choices:
      - restored
      - saved
      - reverted
      - checked
    default: restored
  dest:
    description:
      - The SQLite database file, for example C(/srv/milos-shop/data/milos_shop.db).
      - Its directory must exist. It must not be a symbolic link.
    type: path
    required: true
  backup_path:
    description:
      - The backup to restore, as published by M(milos_shop.ops.sqlite_backup) (C(.db.gz), C(.db.zst) or C(.db)), with its
        manifest C(<backup_path>.manifest.json) beside it.
      - Required with O(state=restored).
    type: path
  copy_path:
    description:
      - The pre-restore copy of the database; its side files are O(copy_path) with C(-wal), C(-shm) and C(-journal) appended.
      - With O(state=saved), where the copy is written. Its directory must exist. An existing copy with other bytes is never
        overwritten.
      - With O(state=reverted), the copy that is put back.
      - Required with O(state=saved) and O(state=reverted).
    type: path
  owner:
    description:
      - The user (name or number) that owns the files written.
      - With O(state=restored) and O(state=reverted), the default is the owner of the current O(dest), or of its directory
        when there is no O(dest).
      - With O(state=saved), the default is the user running the module.
    type: str
  group:
    description:
      - The group (name or number) of the files written; the defaults are those of O(owner), with groups.
    type: str
  mode:
    description:
      - The permissions of the files written, as an octal string such as V('0640'). Symbolic modes are not supported.
      - With O(state=restored) and O(state=reverted), the default is the mode of the current O(dest), or C(0640) when there
        is no O(dest).
      - With O(state=saved), the default is C(0600).
    type: str
  check:
    description:
      - The SQLite check run on the decompressed backup (O(state=restored)) or on O(dest) (O(state=checked)).
    type: str
    choices:
      - quick_check
      - integrity_check
    default: integrity_check
  tmpdir:
    description:
      - Where the backup is decompressed for verification in check mode with O(state=restored); the default is the
        system temporary directory. A real run decompresses it in the directory of O(dest), so that it can be renamed.
      - It needs room for the whole uncompressed database.
    type: path
notes:
  - The temporary files are named C(.<dest file name>.restore-*) and C(.<dest file name>.revert-*) beside O(dest), and
    C(.<copy file name>.tmp-*) beside O(copy_path); they are removed on success and on failure.
  - The directory of O(dest) needs free space for the uncompressed backup, since the old database stays until the rename.
  - Setting the owner of the files to another user needs root (become).
  - The test whether O(dest) is in use takes and drops a lock on SQLite's lock bytes without waiting, so it needs write
    access to O(dest) and its C(-shm) file (root has it). It sees every connection in WAL mode (the shop's mode), but in
    rollback-journal mode only a connection inside a transaction.
  - With O(state=reverted), the database is renamed into place before its saved side files. A crash between those renames
    leaves the database without its WAL; run the revert again.
requirements:
  - For zstd backups, the C(zstd) command or the Python library C(zstandard) on the target.
seealso:
  - module: milos_shop.ops.sqlite_backup
  - name: How to corrupt an SQLite database file
    description: Why stale C(-wal) and hot C(-journal) files must not stay beside a database that replaces another.
    link: https://www.sqlite.org/howtocorrupt.html
"""

EXAMPLES = r"""
- name: Keep the stopped database as a pre-restore copy
  milos_shop.ops.sqlite_restore:
    state: saved
    dest: /srv/milos-shop/data/milos_shop.db
    copy_path: /var/backups/milos-shop/pre-restore/milos_shop.db.pre-restore-2026-11-28T16-20-00

- name: Restore a backup (the application is stopped)
  milos_shop.ops.sqlite_restore:
    dest: /srv/milos-shop/data/milos_shop.db
    backup_path: /var/backups/milos-shop/milos_shop_backup_2026-11-28T16-14-42.db.gz
  register: __restore

- name: Put the pre-restore copy back
  milos_shop.ops.sqlite_restore:
    state: reverted
    dest: /srv/milos-shop/data/milos_shop.db
    copy_path: /var/backups/milos-shop/pre-restore/milos_shop.db.pre-restore-2026-11-28T16-20-00

- name: Check the live database after the application started
  milos_shop.ops.sqlite_restore:
    state: checked
    dest: /srv/milos-shop/data/milos_shop.db
"""

RETURN = r"""
dest:
  description: The database file.
  returned: always
  type: str
  sample: /srv/milos-shop/data/milos_shop.db
backup_path:
  description: The backup that was restored.
  returned: O(state=restored)
  type: str
  sample: /var/backups/milos-shop/milos_shop_backup_2026-11-28T16-14-42.db.gz
manifest_path:
  description: The manifest of the backup.
  returned: O(state=restored)
  type: str
  sample: /var/backups/milos-shop/milos_shop_backup_2026-11-28T16-14-42.db.gz.manifest.json
manifest:
  description: The manifest of the backup as read; V(null) when it is missing or unreadable.
  returned: O(state=restored), when the backup could be read
  type: dict
  sample: {"backup": "milos_shop_backup_2026-11-28T16-14-42.db.gz", "sha256": "9f86d08...", "db_size": 454656}
copy_path:
  description: The pre-restore copy.
  returned: O(state=saved) and O(state=reverted)
  type: str
  sample: /var/backups/milos-shop/pre-restore/milos_shop.db.pre-restore-2026-11-28T16-20-00
replaced:
  description: Whether O(dest) existed before (and is or would be replaced).
  returned: O(state=restored) and O(state=reverted)
  type: bool
  sample: true
removed:
  description: The stale side files of O(dest) that were removed (or would be, in check mode).
  returned: O(state=restored) and O(state=reverted)
  type: list
  elements: str
  sample: [/srv/milos-shop/data/milos_shop.db-wal, /srv/milos-shop/data/milos_shop.db-shm]
in_use:
  description: Whether another process had O(dest) open. Only check mode returns V(true); a real run fails instead.
  returned: O(state=restored), O(state=saved) and O(state=reverted)
  type: bool
  sample: false
exists:
  description: Whether O(dest) existed; when it did not, there was nothing to copy.
  returned: O(state=saved)
  type: bool
  sample: true
files:
  description: The files copied, each with its source, the path written, its size and SHA-256 (V(null) in check mode).
  returned: O(state=saved) and O(state=reverted)
  type: list
  elements: dict
  sample:
    - src: /srv/milos-shop/data/milos_shop.db
      path: /var/backups/milos-shop/pre-restore/milos_shop.db.pre-restore-2026-11-28T16-20-00
      size: 454656
      sha256: 1f2e3d4c...
attributes:
  description: The owner (uid), group (gid) and mode that the files written get (or would get, in check mode).
  returned: O(state=restored), O(state=saved) and O(state=reverted)
  type: dict
  contains:
    owner:
      description: The uid.
      type: int
      sample: 1000
    group:
      description: The gid.
      type: int
      sample: 1000
    mode:
      description: The mode, in octal.
      type: str
      sample: '0644'
  sample: {"owner": 1000, "group": 1000, "mode": "0644"}
state:
  description: What O(dest) is now, as Ansible reports for every module that returns C(dest) (V(file)).
  returned: when O(dest) exists
  type: str
  sample: file
uid:
  description: The uid of O(dest) now (added by Ansible, see RV(state)).
  returned: when O(dest) exists
  type: int
  sample: 1000
gid:
  description: The gid of O(dest) now (added by Ansible, see RV(state)).
  returned: when O(dest) exists
  type: int
  sample: 1000
owner:
  description: The user name of O(dest) now (added by Ansible, see RV(state)).
  returned: when O(dest) exists
  type: str
  sample: node
group:
  description: The group name of O(dest) now (added by Ansible, see RV(state)).
  returned: when O(dest) exists
  type: str
  sample: node
mode:
  description: The mode of O(dest) now (added by Ansible, see RV(state)).
  returned: when O(dest) exists
  type: str
  sample: '0644'
size:
  description: The size of O(dest) now in bytes (added by Ansible, see RV(state)).
  returned: when O(dest) exists
  type: int
  sample: 454656
sha256:
  description: The SHA-256 of the backup file.
  returned: O(state=restored)
  type: str
  sample: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
db_sha256:
  description: The SHA-256 of the decompressed database, the restored O(dest).
  returned: O(state=restored), when the backup passed verification
  type: str
  sample: 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae
db_size:
  description: The size of the decompressed database in bytes.
  returned: O(state=restored), when the backup could be decompressed
  type: int
  sample: 454656
page_size:
  description: The page size of the database in bytes.
  returned: O(state=restored) and O(state=checked), when the database could be read
  type: int
  sample: 4096
page_count:
  description: The number of pages of the database.
  returned: O(state=restored) and O(state=checked), when the database could be read
  type: int
  sample: 111
user_version:
  description: The C(PRAGMA user_version) of the database.
  returned: O(state=restored) and O(state=checked), when the database could be read
  type: int
  sample: 1
check:
  description: The SQLite check that was run.
  returned: O(state=restored) and O(state=checked)
  type: str
  sample: integrity_check
ok:
  description: Whether O(dest) passed the check.
  returned: O(state=checked)
  type: bool
  sample: true
problems:
  description: What is wrong with the backup (O(state=restored)) or with O(dest) (O(state=checked)); empty when all is well.
  returned: O(state=restored) and O(state=checked)
  type: list
  elements: str
  sample:
    - "checksum mismatch: sha256 of '/var/backups/milos-shop/milos_shop_backup_2026-11-28T16-14-42.db.gz' is 1f2e... but the manifest says '9f86...'"
"""

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.milos_shop.ops.plugins.module_utils._sqlite_backup import BackupError, MissingDependency
from ansible_collections.milos_shop.ops.plugins.module_utils._sqlite_restore import (
    check_database,
    restore_backup,
    revert_copy,
    save_copy,
)


def argument_spec():
    return dict(
        state=dict(type="str", choices=["restored", "saved", "reverted", "checked"], default="restored"),
        dest=dict(type="path", required=True),
        backup_path=dict(type="path"),
        copy_path=dict(type="path"),
        owner=dict(type="str"),
        group=dict(type="str"),
        mode=dict(type="str"),
        check=dict(type="str", choices=["quick_check", "integrity_check"], default="integrity_check"),
        tmpdir=dict(type="path"),
    )


def run(params, check_mode, want_diff):
    """Apply params; return the result dict (with a diff entry) or raise BackupError."""
    state = params["state"]
    attrs = dict(owner=params["owner"], group=params["group"], mode=params["mode"])
    if state == "restored":
        return restore_backup(params["backup_path"], params["dest"], check=params["check"], tmpdir=params["tmpdir"],
                              check_mode=check_mode, want_diff=want_diff, **attrs)
    if state == "saved":
        return save_copy(params["dest"], params["copy_path"], check_mode=check_mode, **attrs)
    if state == "reverted":
        return revert_copy(params["copy_path"], params["dest"], check_mode=check_mode, **attrs)
    result = check_database(params["dest"], check=params["check"], check_mode=check_mode)
    if not result["ok"]:
        raise BackupError("database %r failed the check: %s" % (params["dest"], "; ".join(result["problems"])), result)
    return result


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        required_if=[
            ("state", "restored", ("backup_path",)),
            ("state", "saved", ("copy_path",)),
            ("state", "reverted", ("copy_path",)),
        ],
        supports_check_mode=True,
    )
    try:
        result = run(module.params, module.check_mode, module._diff)
    except MissingDependency as exc:
        module.fail_json(msg=missing_required_lib(exc.library, reason=exc.reason), exception=exc.import_error)
    except BackupError as exc:
        failed = dict(exc.result)
        failed.pop("diff", None)
        failed.pop("changed", None)
        module.fail_json(msg=exc.msg, **failed)
    except Exception as exc:  # pylint: disable=broad-except
        module.fail_json(msg="sqlite_restore failed unexpectedly: %s" % to_native(exc), exception=traceback.format_exc())

    diff = result.pop("diff", None)
    if module._diff and diff is not None:
        result["diff"] = diff
    module.exit_json(**result)


if __name__ == "__main__":
    main()
