# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module_utils file is private to the milos_shop.ops collection; it may change
# or go away without notice. Do not use it from other collections.

"""The backup manifest: ``<backup>.manifest.json`` beside each backup, written, read and verified in one place.

A manifest is a JSON object with at least ``backup`` (the file's base name),
``sha256``, ``size`` and ``check_result`` (``ok`` when the backup passed its
check before it was published) and ``created`` (ISO 8601 UTC).

A backup *verifies now* when its manifest reads, names it, says ``ok``, and
the file is there with the manifest's size and sha256 (re-hashed, not taken
from the manifest's word). :func:`newest_verifying` walks newest first until
one does, and names every newer one that did not: retention and the daily
``backup_status`` check rely on this one rule.

Writing: :func:`write_manifest` builds a manifest and writes it atomically (a
temporary file, fsync, then a no-replace publish) and :func:`publish_backup`
publishes a finished backup and its manifest as a pair. The SQLite backup and
the PostgreSQL dumps (the ``backup_manifest`` module) both use them.
"""

from __future__ import annotations

import collections
import datetime
import json
import os

from ansible_collections.milos_shop.ops.plugins.module_utils._files import (
    TempFiles,
    fsync_dir,
    publish_no_replace,
    remove,
    sha256_of,
    write_file,
)

MANIFEST_SUFFIX = ".manifest.json"
MANIFEST_FORMAT = 1
# A manifest is a few hundred bytes; never read more than this of one.
MANIFEST_MAX_BYTES = 1024 * 1024
ISO_SECONDS = "%Y-%m-%dT%H:%M:%SZ"


class ManifestError(Exception):
    """A manifest that is missing, unreadable or not a manifest."""


def manifest_path_for(path):
    """The manifest's path for a backup path."""
    return path + MANIFEST_SUFFIX


def sha256_file(path, deadline=None, phase="checksum"):
    """Hex sha256 of a file, read in blocks; ``deadline.check(phase)`` between blocks when given."""
    return sha256_of(path, deadline, phase)


def iso_utc(when, precise=False):
    """2026-11-28T15:55:49Z (or with milliseconds when precise), the form of ``created``, ``started``, ``finished``."""
    when = when.astimezone(datetime.timezone.utc)
    if precise:
        return when.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (when.microsecond // 1000)
    return when.strftime(ISO_SECONDS)


def build_manifest(backup_path, fields):
    """The manifest of backup_path: ``format``, ``backup`` (its base name), then fields in their order.

    fields is a dict or a list of (key, value) pairs; it must hold at least
    ``created``, ``size``, ``sha256`` and ``check_result``.
    """
    manifest = collections.OrderedDict([("format", MANIFEST_FORMAT), ("backup", os.path.basename(backup_path))])
    items = fields.items() if isinstance(fields, dict) else fields
    for key, value in items:
        if key not in ("format", "backup"):
            manifest[key] = value
    missing = [key for key in ("created", "size", "sha256", "check_result") if key not in manifest]
    if missing:
        raise ValueError("a manifest needs %s" % ", ".join(missing))
    return manifest


def manifest_text(manifest):
    return (json.dumps(manifest, indent=2) + "\n").encode("utf-8")


def write_manifest(backup_path, fields, temps=None, fix_attributes=None, publish=True):
    """Build the manifest of backup_path and write it atomically beside it; return (path, manifest).

    It is written into a temporary file ``.<backup name>.manifest.json.tmp-*`` in
    the backup's directory (kept in ``temps``, a TempFiles, so that a failure
    removes it), synced, given its attributes (``fix_attributes(path, "file")``).
    With publish=True it is then published under its final name, never over an
    existing file (FileExistsError), and the directory is synced; the final
    path is returned. With publish=False the temporary path is returned, for
    :func:`publish_backup` to publish after the backup.
    """
    manifest = build_manifest(backup_path, fields)
    final = manifest_path_for(backup_path)
    own = temps is None
    temps = TempFiles() if own else temps
    try:
        temp = temps.new(os.path.dirname(os.path.abspath(backup_path)), os.path.basename(final), "tmp")
        write_file(temp, manifest_text(manifest), fix_attributes)
        if not publish:
            if own:
                temps.forget(temp)  # the caller's now
            return temp, manifest
        publish_no_replace(temp, final)
        temps.forget(temp)
        fsync_dir(os.path.dirname(os.path.abspath(final)))
        return final, manifest
    finally:
        if own:
            temps.cleanup()


def publish_backup(temp_backup, final, temp_manifest, temps=None):
    """Publish a finished backup and then its manifest under their final names, neither over an existing file.

    The backup first: a manifest never names a file that is not there yet. When
    the manifest cannot be published, the backup this call published is taken
    back (it is ours: the no-replace publish guarantees it), so no half pair
    stays. FileExistsError when a final name is taken. The directory is synced.
    """
    final_manifest = manifest_path_for(final)
    publish_no_replace(temp_backup, final)
    if temps is not None:
        temps.forget(temp_backup)
    try:
        publish_no_replace(temp_manifest, final_manifest)
    except BaseException:
        remove(final)
        raise
    if temps is not None:
        temps.forget(temp_manifest)
    fsync_dir(os.path.dirname(os.path.abspath(final)))
    return final, final_manifest


def read_manifest(backup_path):
    """The manifest of a backup as a dict; ManifestError saying what is wrong otherwise."""
    path = manifest_path_for(backup_path)
    try:
        with open(path, "rb") as handle:
            # Most manifests are a few hundred bytes: no megabyte buffer per read (retention reads thousands).
            data = handle.read(min(os.fstat(handle.fileno()).st_size, MANIFEST_MAX_BYTES) + 1)
    except FileNotFoundError:
        raise ManifestError("manifest %r is missing" % (path,))
    except OSError as exc:
        raise ManifestError("manifest %r cannot be read: %s" % (path, exc.strerror or exc))
    if len(data) > MANIFEST_MAX_BYTES:
        raise ManifestError("manifest %r is larger than %d bytes: not a manifest" % (path, MANIFEST_MAX_BYTES))
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ManifestError("manifest %r is not readable JSON: %s" % (path, exc))
    if not isinstance(doc, dict):
        raise ManifestError("manifest %r is not a JSON object" % (path,))
    return doc


def created_at(manifest):
    """The manifest's ``created`` as an aware UTC datetime, or None when absent or unreadable."""
    text = manifest.get("created") if isinstance(manifest, dict) else None
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.timezone.utc)
    return moment.astimezone(datetime.timezone.utc)


def manifest_problems(backup_path, manifest):
    """What the manifest itself says against the backup (name, check result, fields); [] when none."""
    problems = []
    name = os.path.basename(backup_path)
    mpath = manifest_path_for(backup_path)
    described = manifest.get("backup")
    if not isinstance(described, str) or os.path.basename(described) != name:
        problems.append("manifest %r describes %r, not %r" % (mpath, manifest.get("backup"), name))
    if manifest.get("check_result") != "ok":
        problems.append("manifest %r records check_result %r" % (mpath, manifest.get("check_result")))
    sha256 = manifest.get("sha256")
    if not isinstance(sha256, str) or len(sha256) != 64:
        problems.append("manifest %r has no sha256" % (mpath,))
    size = manifest.get("size")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int)):
        try:
            manifest["size"] = int(size)
        except (TypeError, ValueError):
            problems.append("manifest %r has a size that is not a number: %r" % (mpath, size))
    return problems


def verify_file(backup_path, rehash=True, deadline=None, always_hash=False):
    """Does the backup verify *now*? Returns ``(ok, problems, manifest, facts)``.

    Checks: the manifest reads and names the file with check_result ok; the file
    is there, a regular file, with the manifest's size; and (``rehash``) its
    sha256 is the manifest's. ``facts`` holds the measured ``size`` and ``sha256``,
    and ``was_good``: the manifest itself names the file, has a sha256 and
    records check_result ok (the backup was good when it was written).

    The file is only hashed when nothing else is wrong, unless ``always_hash``
    (a verification that reports every problem); a checksum mismatch is named first.
    """
    facts = {"size": None, "sha256": None, "was_good": False}
    try:
        manifest = read_manifest(backup_path)
    except ManifestError as exc:
        manifest = None
        problems = [str(exc)]
    else:
        problems = manifest_problems(backup_path, manifest)
        facts["was_good"] = not problems
    try:
        st = os.stat(backup_path)
    except FileNotFoundError:
        left = " (its manifest is left)" if manifest is not None else ""
        return False, problems + ["backup %r is missing%s" % (backup_path, left)], manifest, facts
    except OSError as exc:
        return False, problems + ["backup %r cannot be read: %s" % (backup_path, exc.strerror or exc)], manifest, facts
    facts["size"] = st.st_size
    size_problem = None
    if manifest is not None and manifest.get("size") is not None and manifest.get("size") != st.st_size:
        size_problem = "size mismatch: %r has %d bytes but the manifest says %r" % (backup_path, st.st_size, manifest.get("size"))
    if rehash and manifest is not None and (always_hash or not (problems or size_problem)):
        try:
            facts["sha256"] = sha256_file(backup_path, deadline)
        except OSError as exc:
            problems.append("backup %r cannot be read: %s" % (backup_path, exc.strerror or exc))
        else:
            if facts["sha256"] != manifest.get("sha256"):
                # The most telling problem first: the bytes are not those the manifest was written for.
                problems.insert(0, "checksum mismatch: sha256 of %r is %s but the manifest says %r (the file changed after it was written)"
                                % (backup_path, facts["sha256"], manifest.get("sha256")))
    if size_problem:
        problems.append(size_problem)
    return not problems, problems, manifest, facts


def newest_verifying(paths_newest_first, rehash=True, deadline=None):
    """Walk the backups newest first until one verifies now.

    Returns a dict: ``path`` and ``manifest`` of the newest backup that verifies
    (None when none does), ``facts`` of it, ``rotten`` (every newer backup that
    did not, each ``{path, problems, was_good}``) and ``checked`` (how many were
    verified). ``was_good`` tells a backup that was good once (its manifest
    names it, has a sha256 and records check_result ok) but is not now, the
    file changed, shrank or is gone, from one that never was (no manifest, a
    failed check): retention keeps the first kind whatever its policy says.
    """
    rotten = []
    checked = 0
    for path in paths_newest_first:
        checked += 1
        ok, problems, manifest, facts = verify_file(path, rehash=rehash, deadline=deadline)
        if ok:
            return {"path": path, "manifest": manifest, "facts": facts, "rotten": rotten, "checked": checked}
        rotten.append({"path": path, "problems": problems, "was_good": facts.get("was_good", False)})
    return {"path": None, "manifest": None, "facts": None, "rotten": rotten, "checked": checked}
