# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module_utils file is private to the milos_shop.ops collection; it may change
# or go away without notice. Do not use it from other collections.

"""The backup manifest: ``<backup>.manifest.json`` beside each backup, read and verified in one place.

A manifest is a JSON object with at least ``backup`` (the file's base name),
``sha256``, ``size`` and ``check_result`` (``ok`` when the backup passed its
check before it was published) and ``created`` (ISO 8601 UTC).

A backup *verifies now* when its manifest reads, names it, says ``ok``, and
the file is there with the manifest's size and sha256 (re-hashed, not taken
from the manifest's word). :func:`newest_verifying` walks newest first until
one does, and names every newer one that did not: retention and the daily
``backup_status`` check rely on this one rule.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os

MANIFEST_SUFFIX = ".manifest.json"
MANIFEST_FORMAT = 1
# A manifest is a few hundred bytes; never read more than this of one.
MANIFEST_MAX_BYTES = 1024 * 1024
CHUNK_SIZE = 4 * 1024 * 1024


class ManifestError(Exception):
    """A manifest that is missing, unreadable or not a manifest."""


def manifest_path_for(path):
    """The manifest's path for a backup path."""
    return path + MANIFEST_SUFFIX


def sha256_file(path, deadline=None, phase="checksum"):
    """Hex sha256 of a file, read in blocks; ``deadline.check(phase)`` between blocks when given."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while True:
            block = handle.read(CHUNK_SIZE)
            if not block:
                break
            digest.update(block)
            if deadline is not None:
                deadline.check(phase)
    return digest.hexdigest()


def read_manifest(backup_path):
    """The manifest of a backup as a dict; ManifestError saying what is wrong otherwise."""
    path = manifest_path_for(backup_path)
    try:
        with open(path, "rb") as handle:
            data = handle.read(MANIFEST_MAX_BYTES + 1)
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
    if manifest.get("backup") != name:
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


def verify_file(backup_path, rehash=True, deadline=None):
    """Does the backup verify *now*? Returns ``(ok, problems, manifest, facts)``.

    Checks: the manifest reads and names the file with check_result ok; the file
    is there, a regular file, with the manifest's size; and (``rehash``) its
    sha256 is the manifest's. ``facts`` holds the measured ``size`` and ``sha256``.
    """
    facts = {"size": None, "sha256": None}
    try:
        manifest = read_manifest(backup_path)
    except ManifestError as exc:
        manifest = None
        problems = [str(exc)]
    else:
        problems = manifest_problems(backup_path, manifest)
    try:
        st = os.stat(backup_path)
    except FileNotFoundError:
        return False, problems + ["backup %r is missing (its manifest is left)" % (backup_path,)], manifest, facts
    except OSError as exc:
        return False, problems + ["backup %r cannot be read: %s" % (backup_path, exc.strerror or exc)], manifest, facts
    facts["size"] = st.st_size
    if manifest is not None and manifest.get("size") is not None and manifest.get("size") != st.st_size:
        problems.append("size mismatch: %r has %d bytes but the manifest says %r" % (backup_path, st.st_size, manifest.get("size")))
    if rehash and manifest is not None and not problems:
        try:
            facts["sha256"] = sha256_file(backup_path, deadline)
        except OSError as exc:
            problems.append("backup %r cannot be read: %s" % (backup_path, exc.strerror or exc))
        else:
            if facts["sha256"] != manifest.get("sha256"):
                problems.append("checksum mismatch: sha256 of %r is %s but the manifest says %r (the file changed after it was written)"
                                % (backup_path, facts["sha256"], manifest.get("sha256")))
    return not problems, problems, manifest, facts


def newest_verifying(paths_newest_first, rehash=True, deadline=None):
    """Walk the backups newest first until one verifies now.

    Returns a dict: ``path`` and ``manifest`` of the newest backup that verifies
    (None when none does), ``facts`` of it, ``rotten`` (every newer backup that
    did not, each ``{path, problems}``) and ``checked`` (how many were verified).
    """
    rotten = []
    checked = 0
    for path in paths_newest_first:
        checked += 1
        ok, problems, manifest, facts = verify_file(path, rehash=rehash, deadline=deadline)
        if ok:
            return {"path": path, "manifest": manifest, "facts": facts, "rotten": rotten, "checked": checked}
        rotten.append({"path": path, "problems": problems})
    return {"path": None, "manifest": None, "facts": None, "rotten": rotten, "checked": checked}
