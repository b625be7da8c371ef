# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module_utils file is private to the milos_shop.ops collection; it may change
# or go away without notice. Do not use it from other collections.

"""The state of a backup directory and its verdict (milos_shop.ops.backup_status).

:func:`list_backups` lists the backups of a directory newest first, the ones
whose file is gone but whose manifest is left included. :func:`find_newest`
walks them with :func:`_manifest.newest_verifying` (re-hashed now, not the
manifest's word) until one verifies, optionally deep-checking it too.
:func:`judge` turns that into the ``backup`` checklist item: the newest good
backup's age against the maximum (the RPO), and every newer one that is rotten
or missing, by name. No Ansible import: unit-tested with real files.
"""

from __future__ import annotations

import datetime
import os
import re

from ansible_collections.milos_shop.ops.plugins.module_utils._checklist import alert, make_item
from ansible_collections.milos_shop.ops.plugins.module_utils._manifest import (
    MANIFEST_SUFFIX,
    created_at,
    newest_verifying,
)

ITEM_ID = "backup"
ITEM_TITLE = "Backup ran (backup-db.sh)"
DEFAULT_PREFIX = "milos_shop_backup_"
DEFAULT_EXTENSIONS = (".db.gz", ".db.zst", ".db", ".pgc")
# Dumps of PostgreSQL (pg_dump --format=custom): no SQLite integrity_check for them.
NO_DEEP_CHECK = (".pgc",)
# The time in a backup's name, as sqlite_backup and the backup role write it.
_NAME_TIME_RE = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d)-(\d\d)-(\d\d)")


class BackupStatusError(Exception):
    """The directory cannot be read; the message says why."""


def _name_time(stem):
    match = _NAME_TIME_RE.fullmatch(stem)
    if not match:
        return None
    try:
        return datetime.datetime(*[int(part) for part in match.groups()], tzinfo=datetime.timezone.utc)
    except ValueError:
        return None


def _extension(name, extensions):
    for ext in sorted(extensions, key=len, reverse=True):
        if name.endswith(ext):
            return ext
    return None


def list_backups(directory, prefix=DEFAULT_PREFIX, extensions=DEFAULT_EXTENSIONS):
    """The backups in ``directory``, newest first.

    Each is a dict: ``name``, ``path``, ``has_file``, ``has_manifest``, ``size``
    (bytes, None without the file), ``time`` (from the name, else the file's or
    the manifest's mtime: the order). A manifest whose backup is gone is listed
    too (``has_file`` false): a deleted backup must not pass unnoticed. Hidden
    names (temporary files of a running backup) are not backups. Raises
    BackupStatusError when the directory cannot be listed; returns None when it
    does not exist.
    """
    if not os.path.lexists(directory):
        return None
    if not os.path.isdir(directory):
        raise BackupStatusError("%s is not a directory" % (directory,))
    found = {}
    try:
        with os.scandir(directory) as entries:
            for entry in entries:
                name = entry.name
                if name.startswith(".") or not name.startswith(prefix):
                    continue
                is_manifest = name.endswith(MANIFEST_SUFFIX)
                base = name[:-len(MANIFEST_SUFFIX)] if is_manifest else name
                ext = _extension(base, extensions)
                if ext is None or len(base) <= len(prefix) + len(ext):
                    continue
                try:
                    if not entry.is_file():
                        continue
                    st = entry.stat()
                except OSError:
                    continue
                backup = found.setdefault(base, {"name": base, "path": os.path.join(directory, base), "has_file": False,
                                                 "has_manifest": False, "size": None, "extension": ext,
                                                 "time": _name_time(base[len(prefix):-len(ext)]), "mtime": None})
                if is_manifest:
                    backup["has_manifest"] = True
                    backup["mtime"] = backup["mtime"] or st.st_mtime
                else:
                    backup["has_file"] = True
                    backup["size"] = st.st_size
                    backup["mtime"] = st.st_mtime
    except OSError as exc:
        raise BackupStatusError("cannot list %s: %s" % (directory, exc.strerror or exc))
    for backup in found.values():
        if backup["time"] is None:
            backup["time"] = datetime.datetime.fromtimestamp(backup["mtime"] or 0, datetime.timezone.utc)
        del backup["mtime"]
    return sorted(found.values(), key=lambda b: (b["time"], b["name"]), reverse=True)


def _deep_check(path, verify, tmpdir):
    """(ok, problems, note) of the deep check of one backup; ok None when it cannot run."""
    if path.endswith(NO_DEEP_CHECK):
        return None, [], "not deep-checked: %s is a PostgreSQL dump (integrity_check is for SQLite)" % os.path.basename(path)
    try:
        result = verify(path, check="integrity_check", tmpdir=tmpdir)
    except Exception as exc:  # pylint: disable=broad-except
        problems = list(getattr(exc, "result", {}).get("problems") or []) or [getattr(exc, "msg", None) or str(exc)]
        if exc.__class__.__name__ == "MissingDependency":
            return None, [], "not deep-checked: %s" % (getattr(exc, "msg", None) or exc)
        return False, problems, None
    return bool(result.get("ok")), list(result.get("problems") or []), None


def find_newest(backups, deep_check=False, verify=None, tmpdir=None):
    """The newest backup that verifies now, walking back past the ones that do not.

    Returns a dict: ``backup`` (the entry of :func:`list_backups`, None when none
    verifies), ``manifest``, ``sha256`` (as re-hashed now), ``rotten`` (every newer
    one, ``{name, problems}``), ``checked`` and ``deep_check`` (``{ran, ok,
    note}``). With ``deep_check``, ``verify`` (``_sqlite_backup.verify_backup``)
    runs integrity_check of the one found; one that fails it is rotten too, and
    the walk goes on.
    """
    by_path = dict((b["path"], b) for b in backups)
    remaining = [b["path"] for b in backups]
    rotten = []
    checked = 0
    deep = {"ran": False, "ok": None, "note": None}
    while True:
        found = newest_verifying(remaining)
        checked += found["checked"]
        rotten.extend({"name": os.path.basename(r["path"]), "problems": r["problems"]} for r in found["rotten"])
        if found["path"] is None:
            return {"backup": None, "manifest": None, "sha256": None, "rotten": rotten, "checked": checked, "deep_check": deep}
        if deep_check:
            ok, problems, note = _deep_check(found["path"], verify, tmpdir)
            deep = {"ran": ok is not None, "ok": ok, "note": note}
            if ok is False:
                rotten.append({"name": os.path.basename(found["path"]),
                               "problems": ["integrity_check failed: " + "; ".join(problems)]})
                remaining = remaining[remaining.index(found["path"]) + 1:]
                continue
        return {"backup": by_path[found["path"]], "manifest": found["manifest"], "sha256": (found["facts"] or {}).get("sha256"),
                "rotten": rotten, "checked": checked, "deep_check": deep}


def backup_time(backup, manifest):
    """When a backup was taken: its manifest's ``created``, else the time in its name (or its mtime)."""
    return created_at(manifest) or backup["time"]


def _hours(seconds):
    return round(seconds / 3600.0, 2)


def _fmt_hours(hours):
    return ("%.1f" % hours).rstrip("0").rstrip(".") if hours is not None else "?"


def _rotten_text(rotten):
    parts = []
    for entry in rotten:
        problem = entry["problems"][0] if entry["problems"] else "does not verify"
        parts.append("%s (%s)" % (entry["name"], problem))
    return ", ".join(parts)


def judge(directory, backups, found, max_age_s, now=None, backup_error=None, predicted=False, backup_ran=False,
          item_id=ITEM_ID, title=ITEM_TITLE):
    """The ``backup`` item.

    fail: the backup step failed (``backup_error``, first in the summary); no
    backup verifies; the newest that does is older than ``max_age_s``. warn: a
    newer backup is rotten or missing but an older one verifies within the
    maximum age. pass otherwise. With ``predicted`` (check mode: a backup run
    would take a new one now), the age is judged as the new backup's: pass
    unless the backup step itself failed.
    """
    now = now or datetime.datetime.now(datetime.timezone.utc)
    max_age_hours = _hours(max_age_s)
    listed = [b for b in (backups or []) if b["has_file"]]
    newest = found["backup"]
    rotten = found["rotten"]
    age_hours = age_s = None
    if newest is not None:
        age_s = (now - backup_time(newest, found["manifest"])).total_seconds()
        age_hours = _hours(age_s)
    predicted = bool(predicted) and not backup_error
    evidence = {
        "directory": directory,
        "backup_ran": bool(backup_ran),
        "backup_predicted": predicted,
        "backup_error": backup_error or None,
        "newest": backups[0]["name"] if backups else None,
        "newest_verified": newest["name"] if newest else None,
        "newest_sha256": found["sha256"],
        "newest_created": backup_time(newest, found["manifest"]).strftime("%Y-%m-%dT%H:%M:%SZ") if newest else None,
        "age_hours": age_hours,
        "max_age_hours": max_age_hours,
        "backups_listed": len(listed),
        "total_bytes": sum(b["size"] or 0 for b in listed),
        "rotten": rotten,
        "checked": found["checked"],
        "deep_check": found["deep_check"],
    }
    alerts = []
    parts = []
    if backup_error:
        message = "backup failed: %s" % backup_error
        alerts.append(alert("backup_error", "fail", message, value=backup_error))
        parts.append(message)
    if predicted:
        parts.append("check mode: a new backup would be taken now")
    if newest is None:
        if backups is None:
            sentence = "no verified backup in %s (the directory does not exist)" % directory
        else:
            sentence = "no verified backup in %s" % directory
        if rotten:
            sentence += "; %d do not verify: %s" % (len(rotten), _rotten_text(rotten))
        if not predicted:
            alerts.append(alert("no_backup", "fail", sentence, value=len(rotten), threshold=1))
    else:
        sentence = "newest verified backup %s is %s h old" % (newest["name"], _fmt_hours(age_hours))
        if age_s > max_age_s:
            sentence += " (older than %s h)" % _fmt_hours(max_age_hours)
            if not predicted:
                alerts.append(alert("stale", "fail", sentence, value=age_hours, threshold=max_age_hours))
        if rotten:
            newer = ("newest backup %s does not verify (%s)" % (rotten[0]["name"], rotten[0]["problems"][0])
                     if len(rotten) == 1 and rotten[0]["problems"] else
                     "%d newer backups do not verify: %s" % (len(rotten), _rotten_text(rotten)))
            sentence = "%s; %s" % (newer, sentence)
            if not predicted:
                alerts.append(alert("rotten", "warn", newer, value=[r["name"] for r in rotten], threshold=0))
    if found["deep_check"]["note"]:
        sentence += "; " + found["deep_check"]["note"]
    elif found["deep_check"]["ran"] and newest is not None:
        sentence += "; integrity_check ok"
    parts.append(sentence)
    return make_item(item_id, title, summary="; ".join(parts), evidence=evidence, alerts=alerts)


def error_item(directory, message, backup_error=None, item_id=ITEM_ID, title=ITEM_TITLE):
    """The item when the directory cannot be read."""
    summary = "cannot read the backups in %s: %s" % (directory, message)
    if backup_error:
        summary = "backup failed: %s; %s" % (backup_error, summary)
    return make_item(item_id, title, summary=summary, evidence={"directory": directory, "backup_error": backup_error or None},
                     alerts=[alert("check_error", "fail", summary)])
