#!/usr/bin/python
# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
module: backup_manifest
short_description: Publish a finished backup file with its manifest, or verify one against its manifest
version_added: 0.2.0
description:
  - Writes the JSON manifest C(<backup file name>.manifest.json) of a backup that another tool made, such as a PostgreSQL
    dump from C(pg_dump --format=custom), and publishes the backup and its manifest under their final names. It is the
    manifest M(milos_shop.ops.sqlite_backup) writes, in the same form, written by the same code.
  - With O(state=published), O(path) is the finished backup under a temporary (hidden) name in the directory of O(dest).
    The module measures its size and sha256, runs C(pg_restore --list) on it (O(check=pg_restore_list)) and counts the
    entries of its table of contents, gives the file O(owner), O(group) and O(mode), writes the manifest into a temporary
    file, and then publishes the backup under O(dest) and the manifest beside it.
  - Publishing never replaces a file, in one step (C(renameat2(RENAME_NOREPLACE)), or C(link) then C(unlink)), so there
    is no window between a check and the rename. The backup is published first and the manifest after it; when the
    manifest cannot be published, the backup is taken back, so no backup is ever left under its final name without its
    manifest. When anything fails, nothing is published and the temporary backup O(path) is left for the caller to remove.
  - With O(state=verified), O(path) is a published backup. The module reads its manifest, re-hashes the file and
    compares size and sha256, and runs C(pg_restore --list) on it (O(check=pg_restore_list)). This changes nothing.
    The task fails when the backup does not verify, unless O(fail_on_problems=false).
author:
  - milos_shop.ops contributors (@milos-shop)
extends_documentation_fragment:
  - milos_shop.ops._attributes
attributes:
  check_mode:
    support: full
    details:
      - With O(state=published), check mode checks that O(dest) is free and reports C(changed=true) with the paths that
        would be written, without writing. When O(path) exists, it is measured and listed as in a real run; when it
        does not (the dump that would be taken was not taken in check mode), the size and sha256 are V(null).
      - With O(state=verified), the verification runs as usual; it changes nothing.
  diff_mode:
    support: full
    details:
      - With O(state=published), the diff shows the backup and its manifest as absent before and present after.
  idempotent:
    support: none
    details:
      - O(state=published) moves O(path) to O(dest); a second run finds no O(path) and fails, and O(dest) is never
        overwritten.
      - O(state=verified) never changes anything.
options:
  state:
    description:
      - V(published) writes the manifest of the finished backup O(path) and publishes both under O(dest).
      - V(verified) verifies the published backup O(path) against its manifest and changes nothing.
    type: str
    choices: [published, verified]
    default: published
  path:
    description:
      - With O(state=published), the finished backup under its temporary name, in the directory of O(dest) (or at least
        on the same file system).
      - With O(state=verified), the published backup; its manifest is expected beside it.
    type: path
    required: true
  dest:
    description:
      - The final path of the backup. Its manifest is written as O(dest) followed by C(.manifest.json).
      - Neither may exist. Required with O(state=published).
    type: path
  check:
    description:
      - V(pg_restore_list) runs C(pg_restore --list) on the backup; a backup that it cannot read is not published (and
        does not verify). The manifest records RV(toc_entries).
      - V(none) runs no check (a file that is not a PostgreSQL dump).
    type: str
    choices: [pg_restore_list, none]
    default: pg_restore_list
  pg_restore:
    description:
      - The C(pg_restore) command, a name looked up on E(PATH) or a path.
    type: str
    default: pg_restore
  source:
    description:
      - What was backed up, recorded as C(source) in the manifest, for example C(postgresql://milos@127.0.0.1:5432/milos_shop).
      - Never put a password here.
    type: str
  compression:
    description:
      - The format of the backup, recorded as C(compression) in the manifest.
    type: str
    default: pg_dump custom
  created:
    description:
      - The time of the backup, ISO 8601 in UTC (C(2026-11-28T03:00:00Z)), recorded as C(created) in the manifest.
      - The default is the time the module runs.
    type: str
  started:
    description:
      - When the backup started, recorded as C(started) in the manifest. The default is O(created).
    type: str
  fields:
    description:
      - More fields for the manifest. They cannot replace C(format), C(backup), C(size), C(sha256), C(check) or
        C(check_result).
    type: dict
    default: {}
  mode:
    description:
      - The permissions of the backup and of its manifest, as for M(ansible.builtin.file).
    type: raw
    default: '0600'
  owner:
    description:
      - The user that owns the backup and its manifest. The default is the user running the module.
    type: str
  group:
    description:
      - The group of the backup and its manifest. The default is the primary group of the user running the module.
    type: str
  fail_on_problems:
    description:
      - With O(state=verified), fail the task when the backup does not verify. With V(false) the result says so in
        RV(ok) and RV(problems) and the task succeeds (to walk several candidates, as the restore role does).
    type: bool
    default: true
notes:
  - The temporary manifest is named C(.<backup file name>.manifest.json.tmp-*) beside O(dest) and is removed on failure;
    a run that is killed cannot remove it, so remove those older than a day, as the backup role does.
  - The module never removes O(path) on failure; the caller created it and removes it.
requirements:
  - The C(pg_restore) command with O(check=pg_restore_list).
seealso:
  - module: milos_shop.ops.sqlite_backup
  - module: milos_shop.ops.backup_status
"""

EXAMPLES = r"""
- name: Publish a finished dump with its manifest
  milos_shop.ops.backup_manifest:
    path: /srv/milos-shop/backups/.milos_shop_backup_2026-11-28T03-00-00.partial.pgc
    dest: /srv/milos-shop/backups/milos_shop_backup_2026-11-28T03-00-00.pgc
    source: postgresql://milos@127.0.0.1:5432/milos_shop
    created: '2026-11-28T03:00:00Z'
    owner: root
    group: root
    mode: '0600'
  register: __published

- name: Verify a dump before restoring it
  milos_shop.ops.backup_manifest:
    state: verified
    path: /srv/milos-shop/backups/milos_shop_backup_2026-11-28T03-00-00.pgc
    fail_on_problems: false
  register: __verified
"""

RETURN = r"""
path:
  description: The backup, under its final name (O(dest)) with O(state=published), or the backup verified.
  returned: always
  type: str
  sample: /srv/milos-shop/backups/milos_shop_backup_2026-11-28T03-00-00.pgc
manifest_path:
  description: Its manifest.
  returned: always
  type: str
  sample: /srv/milos-shop/backups/milos_shop_backup_2026-11-28T03-00-00.pgc.manifest.json
size:
  description: The size of the backup in bytes; V(null) in check mode when O(path) does not exist.
  returned: always
  type: int
  sample: 48213
sha256:
  description: The SHA-256 of the backup; V(null) in check mode when O(path) does not exist.
  returned: always
  type: str
  sample: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
toc_entries:
  description: The number of entries in the table of contents (C(pg_restore --list)); V(null) with O(check=none).
  returned: always
  type: int
  sample: 14
tables:
  description: The number of tables in the table of contents (C(TABLE) entries, not C(TABLE DATA)).
  returned: always
  type: int
  sample: 3
manifest:
  description:
    - The manifest written (O(state=published); V(null) in check mode) or read (O(state=verified); V(null) when it
      is missing or unreadable).
  returned: always
  type: dict
  sample:
    format: 1
    backup: milos_shop_backup_2026-11-28T03-00-00.pgc
    source: postgresql://milos@127.0.0.1:5432/milos_shop
    created: '2026-11-28T03:00:00Z'
    compression: pg_dump custom
    size: 48213
    sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
    check: pg_restore --list
    check_result: ok
    toc_entries: 14
    started: '2026-11-28T03:00:00Z'
    finished: '2026-11-28T03:00:02.514Z'
ok:
  description: Whether the backup verifies (O(state=verified)).
  returned: O(state=verified)
  type: bool
  sample: true
problems:
  description: What is wrong with the backup; empty when RV(ok=true).
  returned: O(state=verified)
  type: list
  elements: str
  sample:
    - "checksum mismatch: sha256 of '/srv/milos-shop/backups/milos_shop_backup_2026-11-28T03-00-00.pgc' is 1f2e... but the manifest says '9f86...'"
"""

import datetime
import os
import re
import traceback

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.milos_shop.ops.plugins.module_utils._files import TempFiles
from ansible_collections.milos_shop.ops.plugins.module_utils._manifest import (
    iso_utc,
    manifest_path_for,
    publish_backup,
    sha256_file,
    verify_file,
    write_manifest,
)

TABLE_LINE = re.compile(r"^\d+; \d+ \d+ TABLE (?!DATA )")
RESERVED = ("format", "backup", "size", "sha256", "check", "check_result")


def argument_spec():
    return dict(
        state=dict(type="str", choices=["published", "verified"], default="published"),
        path=dict(type="path", required=True),
        dest=dict(type="path"),
        check=dict(type="str", choices=["pg_restore_list", "none"], default="pg_restore_list"),
        pg_restore=dict(type="str", default="pg_restore"),
        source=dict(type="str"),
        compression=dict(type="str", default="pg_dump custom"),
        created=dict(type="str"),
        started=dict(type="str"),
        fields=dict(type="dict", default={}),
        mode=dict(type="raw", default="0600"),
        owner=dict(type="str"),
        group=dict(type="str"),
        fail_on_problems=dict(type="bool", default=True),
    )


def read_toc(lines):
    """(entries, tables) of pg_restore --list output: lines that are not comments, and the TABLE ones among them."""
    entries = [line for line in lines if line.strip() and not line.startswith(";")]
    return len(entries), len([line for line in entries if TABLE_LINE.match(line)])


def pg_restore_command(module):
    """The pg_restore command; fails naming the option when it is not there (also in check mode)."""
    name = module.params["pg_restore"]
    command = module.get_bin_path(name) if "/" not in name else name
    if not command or not os.access(command, os.X_OK):
        module.fail_json(msg="pg_restore %r is not an executable command here: install the PostgreSQL client, set pg_restore, "
                             "or use check=none" % (name,))
    return command


def list_toc(module, path):
    """Run pg_restore --list; (entries, tables, problem or None)."""
    rc, out, err = module.run_command([pg_restore_command(module), "--list", path])
    if rc != 0:
        return None, None, "pg_restore --list cannot read it: %s" % (err.strip() or "exit code %d" % rc)
    entries, tables = read_toc(out.splitlines())
    return entries, tables, None


def _time(module, option, value):
    if value is None:
        return None
    try:
        datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        module.fail_json(msg="%s %r is not an ISO 8601 time such as '2026-11-28T03:00:00Z'" % (option, value))
    return value


def published(module):
    params = module.params
    path, dest = params["path"], params["dest"]
    if dest is None:
        module.fail_json(msg="dest is required with state=published")
    manifest_final = manifest_path_for(dest)
    bad = [key for key in params["fields"] if key in RESERVED]
    if bad:
        module.fail_json(msg="fields %r: %s cannot be set through fields" % (params["fields"], ", ".join(sorted(bad))))
    created = _time(module, "created", params["created"]) or iso_utc(datetime.datetime.now(datetime.timezone.utc))
    started = _time(module, "started", params["started"]) or created
    result = dict(changed=True, path=dest, manifest_path=manifest_final, size=None, sha256=None, toc_entries=None, tables=None,
                  manifest=None)
    result["diff"] = dict(before=dict(path=dest, state="absent"), after=dict(path=dest, state="file", manifest_path=manifest_final))
    for final in (dest, manifest_final):
        if os.path.lexists(final):
            module.fail_json(msg="dest %r already exists (%r); refusing to overwrite it" % (dest, final), **dict(result, changed=False))
    directory = os.path.dirname(os.path.abspath(dest))
    if not os.path.isdir(directory):
        if module.check_mode and not os.path.lexists(path):
            return result  # a new host: the directory (and the dump) would be made by the tasks before this one
        module.fail_json(msg="dest %r: the directory %r does not exist" % (dest, directory), **dict(result, changed=False))
    exists = os.path.isfile(path)
    if not exists and not module.check_mode:
        module.fail_json(msg="path %r does not exist or is not a regular file: nothing to publish" % (path,), **dict(result, changed=False))
    if exists and os.stat(path).st_dev != os.stat(directory).st_dev:
        module.fail_json(msg="path %r is on another file system than dest %r; write it into %r" % (path, dest, directory),
                         **dict(result, changed=False))
    if exists:
        result["size"] = os.path.getsize(path)
        result["sha256"] = sha256_file(path)
        if params["check"] == "pg_restore_list":
            entries, tables, problem = list_toc(module, path)
            if problem:
                module.fail_json(msg="backup %r was not published: %s" % (path, problem), **dict(result, changed=False))
            result.update(toc_entries=entries, tables=tables)
    if module.check_mode:
        return result

    def fix_attributes(target, kind):
        module.set_mode_if_different(target, params["mode"], False)
        if params["owner"] is not None:
            module.set_owner_if_different(target, params["owner"], False)
        if params["group"] is not None:
            module.set_group_if_different(target, params["group"], False)

    fix_attributes(path, "file")
    fields = [("source", params["source"]), ("created", created), ("compression", params["compression"]),
              ("size", result["size"]), ("sha256", result["sha256"]),
              ("check", "pg_restore --list" if params["check"] == "pg_restore_list" else "none"), ("check_result", "ok")]
    if params["check"] == "pg_restore_list":
        fields.append(("toc_entries", result["toc_entries"]))
    fields += sorted(params["fields"].items())
    fields += [("started", started), ("finished", iso_utc(datetime.datetime.now(datetime.timezone.utc), precise=True))]
    temps = TempFiles()
    try:
        temp_manifest, manifest = write_manifest(dest, [item for item in fields if item[1] is not None], temps=temps,
                                                 fix_attributes=fix_attributes, publish=False)
        try:
            publish_backup(path, dest, temp_manifest, temps=temps)
        except FileExistsError:
            module.fail_json(msg="dest %r already exists; refusing to overwrite it, nothing was published" % (dest,), **dict(result, changed=False))
    finally:
        temps.cleanup()
    result["manifest"] = dict(manifest)
    return result


def verified(module):
    params = module.params
    path = params["path"]
    ok, problems, manifest, facts = verify_file(path, rehash=True, always_hash=True)
    result = dict(changed=False, path=path, manifest_path=manifest_path_for(path), size=facts["size"], sha256=facts["sha256"],
                  toc_entries=None, tables=None, manifest=manifest, ok=False, problems=list(problems))
    if params["check"] == "pg_restore_list" and os.path.isfile(path):
        entries, tables, problem = list_toc(module, path)
        if problem:
            result["problems"].append(problem)
        result.update(toc_entries=entries, tables=tables)
    result["ok"] = not result["problems"]
    if not result["ok"] and params["fail_on_problems"]:
        module.fail_json(msg="backup %r failed verification: %s" % (path, "; ".join(result["problems"])), **result)
    return result


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True,
                           required_if=[("state", "published", ("dest",))])
    if module.params["check"] == "pg_restore_list":
        pg_restore_command(module)
    try:
        result = published(module) if module.params["state"] == "published" else verified(module)
    except Exception as exc:  # pylint: disable=broad-except
        module.fail_json(msg="backup_manifest failed unexpectedly: %s" % to_native(exc), exception=traceback.format_exc())
    diff = result.pop("diff", None)
    if module._diff and diff is not None:
        result["diff"] = diff
    module.exit_json(**result)


if __name__ == "__main__":
    main()
