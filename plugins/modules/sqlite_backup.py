#!/usr/bin/python
# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: sqlite_backup
short_description: Consistent, checked and compressed backups of a live SQLite database
version_added: 0.1.0
description:
  - Takes a consistent snapshot of a SQLite database while the application keeps writing to it, checks the copy, compresses
    it and publishes it atomically in a directory together with a JSON manifest.
  - The snapshot uses the SQLite online backup API (the C(backup) method of Python's C(sqlite3.Connection)) from a separate read-only
    connection, in one step. In WAL mode that read transaction does not block the writers, and the snapshot includes every
    transaction committed before it started, also those still in the C(-wal) file. The database file is never copied as a file.
  - The copy is checked with C(PRAGMA quick_check) (or C(PRAGMA integrity_check)) before anything is published. A source
    that fails the check produces no backup.
  - The backup is named C(<prefix>YYYY-MM-DDTHH-MM-SS.db.gz) after the UTC time the run started (C(.db.zst) with zstd,
    C(.db) without compression). It is written under a dot-prefixed temporary name in O(dest), synced, and renamed, so a
    file under the final name is always complete and checked. The manifest C(<backup file name>.manifest.json) is
    published the same way.
  - With O(verify) set, the compressed file is verified in the same run before it is published (decompressed into a
    temporary file, checked, compared with the snapshot); a backup that fails is not published. This saves a second
    task with O(state=verified).
  - Runs into one O(dest) take turns on a lock on the directory (C(flock), no lock file), each waiting up to its
    O(deadline). Each run publishes its own backup under its own name. The name has one-second resolution; a run whose
    name was just taken by the run before it waits for the next second, so every backup keeps the name form that
    M(milos_shop.ops.retention_prune) and M(milos_shop.ops.backup_status) read. Publishing never replaces a file. It
    uses C(renameat2(RENAME_NOREPLACE)), or C(link) then C(unlink), so there is no window between a check and the rename.
  - With O(state=verified), checks an existing backup (O(path)) against its manifest, decompresses it to a temporary
    file and runs an integrity check on it. This never changes anything, and the task fails when the backup is not good.
author:
  - milos_shop.ops contributors (@milos-shop)
extends_documentation_fragment:
  - milos_shop.ops._attributes
attributes:
  check_mode:
    support: full
    details:
      - With O(state=present), check mode validates the source (it exists, is readable and is a SQLite database), the
        destination and the compression tools, and reports the file it would write with C(changed=true), without writing.
        It reports whether O(dest) would be created (RV(dest_created)) and the verification that would run (RV(verify),
        with RV(verified=null)).
      - With O(state=verified), the verification runs as usual; it changes nothing.
  diff_mode:
    support: full
    details:
      - With O(state=present), the diff shows the backup file as absent before and present after, with its size (an
        estimate of the uncompressed size in check mode), and a directory that O(create_dest) creates, with its mode,
        owner and group.
  idempotent:
    support: partial
    details:
      - Every run with O(state=present) takes a new backup under a new name, so it always reports a change.
      - O(state=verified) never changes anything.
options:
  state:
    description:
      - V(present) takes a new backup of O(src) into O(dest).
      - V(verified) verifies the existing backup O(path) and changes nothing.
    type: str
    choices:
      - present
      - verified
    default: present
  src:
    description:
      - The SQLite database to back up, for example C(/app/data/milos_shop.db).
      - It is opened read-only. In WAL mode, SQLite needs its C(-shm) file to exist (as it does while the application runs)
        or its directory to be writable; otherwise the task fails and says so.
      - Required with O(state=present).
    type: path
  dest:
    description:
      - The directory the backup and its manifest are written to.
      - Required with O(state=present).
    type: path
  path:
    description:
      - The backup file to verify, as published by this module (its manifest is expected beside it).
      - Required with O(state=verified).
    type: path
  prefix:
    description:
      - The start of the backup file name; the UTC timestamp and the suffix follow it.
      - It must not contain C(/) and must not start with C(.) (dot-prefixed names are temporary files).
    type: str
    default: milos_shop_backup_
  compression:
    description:
      - How the published backup is compressed.
      - V(gzip) writes gzip members compressed in parallel on every CPU core (in-process with zlib); any C(gunzip) reads them
        as one stream. The file ends in C(.db.gz).
      - V(zstd) uses the C(zstd) command with C(-T0) (every core) when it is on E(PATH), otherwise the Python library
        C(zstandard). The file ends in C(.db.zst).
      - V(none) publishes the uncompressed database file, ending in C(.db).
    type: str
    choices:
      - gzip
      - zstd
      - none
    default: gzip
  compression_level:
    description:
      - The compression level, from V(1) to V(9) for V(gzip) and from V(1) to V(19) for V(zstd).
      - Ignored with O(compression=none).
    type: int
    default: 6
  check:
    description:
      - The SQLite check run on the snapshot before it is published, or on the decompressed backup with O(state=verified).
      - The default is V(quick_check) with O(state=present) and V(integrity_check) with O(state=verified).
    type: str
    choices:
      - quick_check
      - integrity_check
  mode:
    description:
      - The permissions of the backup and of its manifest, as for M(ansible.builtin.file) (octal string or symbolic).
      - A directory created by O(create_dest) gets O(dir_mode).
    type: raw
    default: '0600'
  dir_mode:
    description:
      - The permissions, as an octal string, of the directory O(dest) when O(create_dest) creates it.
      - An existing O(dest) is left as it is. Parent directories that have to be created too get the default
        permissions of the user (the umask) and are not given O(owner) or O(group).
    version_added: 0.2.0
    type: str
    default: '0700'
  verify:
    description:
      - Verify the compressed backup in the same run, before it is published, with this check.
      - V(none) does not (the snapshot is still checked with O(check) before it is compressed).
      - V(quick_check) and V(integrity_check) decompress the compressed file into a temporary file in O(tmpdir) (or
        O(dest)), run that SQLite check on it and compare its size, page count and C(user_version) with the snapshot's.
        Its sha256, computed once, is the one the manifest records; the file that is published is that very file,
        renamed. A backup that fails is not published and the task fails. The manifest then records C(verify) and
        C(verify_result).
      - Ignored with O(state=verified), which always verifies.
    version_added: 0.2.0
    type: str
    choices:
      - none
      - quick_check
      - integrity_check
    default: none
  owner:
    description:
      - The user that owns the backup and its manifest, and a directory created by O(create_dest).
      - The default is the user running the module.
    type: str
  group:
    description:
      - The group of the backup and its manifest, and a directory created by O(create_dest).
      - The default is the primary group of the user running the module.
    type: str
  create_dest:
    description:
      - Create O(dest) when it does not exist, with O(dir_mode), O(owner) and O(group). When V(false), a missing
        O(dest) is an error.
    type: bool
    default: false
  deadline:
    description:
      - The most seconds the run may take; V(0) means no limit.
      - When it passes, temporary files are removed and the task fails, naming the phase it was in. The single step of the
        snapshot cannot be interrupted; the deadline is checked while it waits for a lock and when it ends.
      - It also bounds the wait for the lock on O(dest) while another backup into it runs; with V(0) the run waits as
        long as that takes.
    type: float
    default: 0
  tmpdir:
    description:
      - The directory for the uncompressed temporary copy of the database.
      - The default is O(dest) with O(state=present) and the system temporary directory with O(state=verified).
      - It needs room for the whole uncompressed database.
    type: path
notes:
  - The temporary files are named C(.<backup file name>.tmp-*), C(.<backup file name>.snapshot-*) and
    C(.<backup file name>.manifest.json.tmp-*) in O(dest) (the snapshot in O(tmpdir) when set); they are removed on
    success and on failure. Tools that list backups should skip dot-prefixed names.
  - A run that is killed (C(kill -9), a reboot) cannot remove its temporary files. Each run holds a lock on its own
    temporary files, and the next run with O(state=present) removes those of O(prefix) in O(dest) and O(tmpdir) that no
    running backup holds and that are older than a few seconds; RV(removed_temps) lists them. Check mode only lists them.
  - Reading a WAL database that no connection has open creates its C(-wal) and C(-shm) files, as any SQLite reader does;
    SQLite gives them the owner of the database when the module runs as root. Check mode does not create them.
  - When the database is not in WAL mode, the snapshot holds a shared lock for its duration, so writers wait until it ends.
requirements:
  - For O(compression=zstd) and for verifying zstd backups, the C(zstd) command or the Python library C(zstandard) on the
    target.
seealso:
  - name: SQLite Online Backup API
    description: How the snapshot is taken.
    link: https://www.sqlite.org/backup.html
  - name: SQLite WAL mode
    description: Why a read transaction does not block writers, and the C(-shm) file a read-only connection needs.
    link: https://www.sqlite.org/wal.html
"""

EXAMPLES = r"""
- name: Back up the shop database
  milos_shop.ops.sqlite_backup:
    src: /srv/milos-shop/data/milos_shop.db
    dest: /srv/milos-shop/backups
  register: __backup

- name: Back up, create the directory for the backup user, and verify the backup before it is published
  milos_shop.ops.sqlite_backup:
    src: /srv/milos-shop/data/milos_shop.db
    dest: /srv/milos-shop/backups
    create_dest: true
    dir_mode: '0750'
    owner: backup
    group: backup
    verify: integrity_check
  register: __backup

- name: Back up with zstd, a full integrity check and a time limit
  milos_shop.ops.sqlite_backup:
    src: /srv/milos-shop/data/milos_shop.db
    dest: /srv/milos-shop/backups
    compression: zstd
    compression_level: 9
    check: integrity_check
    deadline: 600
    owner: backup
    group: backup
    mode: '0640'
    create_dest: true

- name: Verify the backup just taken
  milos_shop.ops.sqlite_backup:
    state: verified
    path: "{{ __backup.path }}"
"""

RETURN = r"""
path:
  description:
    - The backup file (with O(state=present), the file written, or that would be written in check mode).
    - The file verified with O(state=verified).
  returned: always
  type: str
  sample: /srv/milos-shop/backups/milos_shop_backup_2026-11-28T15-55-49.db.gz
manifest_path:
  description: The JSON manifest beside the backup.
  returned: always
  type: str
  sample: /srv/milos-shop/backups/milos_shop_backup_2026-11-28T15-55-49.db.gz.manifest.json
src:
  description: The database that was backed up.
  returned: O(state=present)
  type: str
  sample: /srv/milos-shop/data/milos_shop.db
created:
  description: The UTC time in the backup file name, in ISO 8601 form.
  returned: O(state=present)
  type: str
  sample: '2026-11-28T15:55:49Z'
size:
  description: The size of the backup file in bytes. V(null) in check mode.
  returned: always
  type: int
  sample: 48213
db_size:
  description:
    - The size of the uncompressed database in bytes.
    - In check mode, an estimate (page size times page count of the source).
  returned: always
  type: int
  sample: 454656
sha256:
  description: The SHA-256 of the backup file. V(null) in check mode.
  returned: always
  type: str
  sample: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
duration_s:
  description: How long the backup took, in seconds. V(null) in check mode.
  returned: O(state=present)
  type: float
  sample: 0.412
throughput_mib_s:
  description: The uncompressed database size divided by RV(duration_s), in MiB per second. V(null) in check mode.
  returned: O(state=present)
  type: float
  sample: 85.3
compression:
  description: The compression of the backup.
  returned: always
  type: str
  sample: gzip
check:
  description: The SQLite check that was run (V(quick_check) or V(integrity_check)).
  returned: always
  type: str
  sample: quick_check
page_size:
  description: The page size of the database in bytes.
  returned: when the database could be read
  type: int
  sample: 4096
page_count:
  description: The number of pages of the database.
  returned: when the database could be read
  type: int
  sample: 111
user_version:
  description: The C(PRAGMA user_version) of the database (the stand-in counts its migrations there).
  returned: when the database could be read
  type: int
  sample: 1
manifest:
  description:
    - The manifest written beside the backup (O(state=present)) or read from beside it (O(state=verified); V(null) when
      it is missing or unreadable).
  returned: success, or failed verification
  type: dict
  sample:
    format: 1
    backup: milos_shop_backup_2026-11-28T15-55-49.db.gz
    source: /srv/milos-shop/data/milos_shop.db
    created: '2026-11-28T15:55:49Z'
    compression: gzip
    size: 48213
    db_size: 454656
    page_size: 4096
    page_count: 111
    user_version: 1
    sqlite_version: 3.40.1
    sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
    check: quick_check
    check_result: ok
    started: '2026-11-28T15:55:49.102Z'
    finished: '2026-11-28T15:55:49.514Z'
    duration_s: 0.412
removed_temps:
  description:
    - Temporary files of earlier runs that were killed before they could clean up, removed by this run (in check mode,
      those that would be removed).
  returned: O(state=present)
  type: list
  elements: str
  sample:
    - /srv/milos-shop/backups/.milos_shop_backup_2026-11-28T15-55-49.db.gz.tmp-k2j4x9_a
verify:
  description: The verification run on the compressed backup before it was published (V(none) when none was).
  returned: O(state=present)
  type: str
  sample: integrity_check
verified:
  description:
    - Whether the backup was verified before it was published (V(false) with O(verify=none)). V(null) in check mode.
  returned: O(state=present)
  type: bool
  sample: true
verify_problems:
  description: What the verification found wrong; empty when it passed. The task fails when it is not empty.
  returned: O(state=present)
  type: list
  elements: str
  sample: []
dest_created:
  description: Whether O(dest) was created by this run (in check mode, whether it would be).
  returned: O(state=present)
  type: bool
  sample: false
lock_wait_s:
  description: How many seconds the run waited for another backup into O(dest) to finish.
  returned: O(state=present)
  type: float
  sample: 0.0
ok:
  description: Whether the backup passed every verification.
  returned: O(state=verified)
  type: bool
  sample: true
problems:
  description: What is wrong with the backup; empty when RV(ok=true).
  returned: O(state=verified)
  type: list
  elements: str
  sample:
    - "checksum mismatch: sha256 of '/srv/milos-shop/backups/milos_shop_backup_2026-11-28T15-55-49.db.gz' is 1f2e... but the manifest says '9f86...'"
"""

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.milos_shop.ops.plugins.module_utils._sqlite_backup import (
    BackupError,
    MissingDependency,
    take_backup,
    verify_backup,
)


def argument_spec():
    return dict(
        state=dict(type="str", choices=["present", "verified"], default="present"),
        src=dict(type="path"),
        dest=dict(type="path"),
        path=dict(type="path"),
        prefix=dict(type="str", default="milos_shop_backup_"),
        compression=dict(type="str", choices=["gzip", "zstd", "none"], default="gzip"),
        compression_level=dict(type="int", default=6),
        check=dict(type="str", choices=["quick_check", "integrity_check"]),
        mode=dict(type="raw", default="0600"),
        owner=dict(type="str"),
        group=dict(type="str"),
        create_dest=dict(type="bool", default=False),
        dir_mode=dict(type="str", default="0700"),
        verify=dict(type="str", choices=["none", "quick_check", "integrity_check"], default="none"),
        deadline=dict(type="float", default=0),
        tmpdir=dict(type="path"),
    )


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        required_if=[
            ("state", "present", ("src", "dest")),
            ("state", "verified", ("path",)),
        ],
        supports_check_mode=True,
    )
    params = module.params

    def fix_attributes(path, kind):
        if kind == "file":
            module.set_mode_if_different(path, params["mode"], False)
        if params["owner"] is not None:
            module.set_owner_if_different(path, params["owner"], False)
        if params["group"] is not None:
            module.set_group_if_different(path, params["group"], False)

    try:
        if params["state"] == "verified":
            result = verify_backup(params["path"], check=params["check"], tmpdir=params["tmpdir"], deadline=params["deadline"])
            if not result["ok"]:
                module.fail_json(msg="backup %r failed verification: %s" % (params["path"], "; ".join(result["problems"])), **result)
        else:
            result = take_backup(
                params["src"],
                params["dest"],
                prefix=params["prefix"],
                compression=params["compression"],
                compression_level=params["compression_level"],
                check=params["check"],
                create_dest=params["create_dest"],
                deadline=params["deadline"],
                tmpdir=params["tmpdir"],
                check_mode=module.check_mode,
                fix_attributes=fix_attributes,
                verify=params["verify"],
                dir_mode=params["dir_mode"],
                dest_attributes=dict((key, params[key]) for key in ("owner", "group") if params[key] is not None),
            )
            diff = result.pop("diff")
            if module._diff:
                result["diff"] = diff
    except MissingDependency as exc:
        module.fail_json(msg=missing_required_lib(exc.library, reason=exc.reason), exception=exc.import_error)
    except BackupError as exc:
        module.fail_json(msg=exc.msg, **exc.result)
    except Exception as exc:  # pylint: disable=broad-except
        module.fail_json(msg="sqlite_backup failed unexpectedly: %s" % to_native(exc), exception=traceback.format_exc())

    module.exit_json(**result)


if __name__ == "__main__":
    main()
