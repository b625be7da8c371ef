# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module_utils file is private to the milos_shop.ops collection; it may change
# or go away without notice. Do not use it from other collections.

"""The maintenance marker: a small JSON file on the host that says who stopped the app, why and until when.

A step that stops the app on purpose opens a window (writes the marker) and
closes it (removes the marker) when it ends, also when it fails; checks read the
marker and hand it to ``_checklist.apply_window``. The marker::

    {"by": "milos", "reason": "restore of the 16:14 backup", "since": "2026-11-28T16:20:00Z",
     "until": "2026-11-28T17:20:00Z", "token": "9c1f...", "host": "shop-1", "pid": 4242}

A marker that cannot be read, is not JSON or has no valid ``until`` counts as an
expired window (a warn): a check must never die on it, and it is itself a
problem to look at. No Ansible import, so it is unit-tested alone.
"""

from __future__ import annotations

import binascii
import datetime
import errno
import fcntl
import json
import os
import socket
import tempfile

from ansible_collections.milos_shop.ops.plugins.module_utils import _checklist
from ansible_collections.milos_shop.ops.plugins.module_utils._duration import parse_seconds

STATES = ("open", "closed", "read")
FILE_MODE = 0o644
DIR_MODE = 0o755
# Larger markers are not read whole: the marker is a few hundred bytes.
MAX_READ = 64 * 1024


class MaintenanceError(Exception):
    """A window that cannot be opened or closed; ``result`` holds what is known so far."""

    def __init__(self, msg, result=None):
        super(MaintenanceError, self).__init__(msg)
        self.msg = msg
        self.result = dict(result or {})


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def iso(moment):
    """An aware datetime as ISO 8601 UTC with a Z, to the second: 2026-11-28T16:20:00Z."""
    return moment.astimezone(datetime.timezone.utc).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def default_by(environ=None):
    """Who opens a window when ``by`` is not given: SUDO_USER, else USER, else ``ansible``."""
    environ = os.environ if environ is None else environ
    for name in ("SUDO_USER", "USER"):
        value = (environ.get(name) or "").strip()
        if value:
            return value
    return "ansible"


def new_token():
    return binascii.hexlify(os.urandom(16)).decode("ascii")


def check_path(path):
    if not isinstance(path, str) or not path or not os.path.isabs(path):
        raise MaintenanceError("path must be an absolute file path, got %r" % (path,))
    if path.endswith(os.sep):
        raise MaintenanceError("path must name a file, not a directory, got %r" % (path,))
    return path


# -- reading ----------------------------------------------------------------------

def read_marker(path):
    """The marker at ``path`` as ``(window, raw, problem)``.

    ``window`` is None when there is no marker. A marker that cannot be used
    (unreadable, not JSON, not an object, no valid ``until``) gives a window
    dict that ``_checklist.window_state`` calls ``expired`` (``until`` is then
    missing or invalid), with ``problem`` saying what is wrong; ``raw`` is the
    text read (or None).
    """
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_READ + 1)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return None, None, None
        problem = "maintenance marker %r cannot be read: %s" % (path, exc.strerror or exc)
        return _unusable({}, problem), None, problem
    raw = data[:MAX_READ].decode("utf-8", errors="replace")
    if len(data) > MAX_READ:
        problem = "maintenance marker %r is larger than %d bytes: not a marker this collection wrote" % (path, MAX_READ)
        return _unusable({}, problem), raw, problem
    try:
        parsed = json.loads(raw)
    except ValueError as exc:
        problem = "maintenance marker %r is not valid JSON (%s): %r" % (path, exc, raw[:200])
        return _unusable({}, problem), raw, problem
    if not isinstance(parsed, dict):
        problem = "maintenance marker %r is not a JSON object: %r" % (path, raw[:200])
        return _unusable({}, problem), raw, problem
    if "until" not in parsed:
        problem = "maintenance marker %r has no until: %r" % (path, raw[:200])
        return _unusable(parsed, problem), raw, problem
    try:
        _checklist.parse_time(parsed["until"])
    except (ValueError, TypeError, OverflowError) as exc:
        problem = "maintenance marker %r has an invalid until %r: %s" % (path, parsed["until"], exc)
        return _unusable(parsed, problem), raw, problem
    return parsed, raw, None


def _unusable(parsed, problem):
    """A window for a marker that cannot be used: expired for every reader, saying why."""
    window = dict(parsed)
    window.setdefault("by", "unknown")
    window.setdefault("reason", problem)
    if "until" in window:
        # Keep what was there for a person to see, but never a value that parses.
        window["invalid_until"] = window.pop("until")
    window["until"] = None
    window["problem"] = problem
    return window


def state_of(window, now=None):
    """``none``, ``active`` or ``expired`` (a marker that cannot be used is expired)."""
    if window is None:
        return "none"
    if window.get("problem"):
        return "expired"
    try:
        return _checklist.window_state(window, now or utcnow())
    except (TypeError, OverflowError, AttributeError):
        return "expired"


def describe(path, window, state):
    """One sentence about the window at ``path`` for a person."""
    if state == "none":
        return "no maintenance window: no marker at %s" % path
    if window.get("problem"):
        return "%s; it counts as an expired window: look at it and remove it" % window["problem"]
    who = window.get("by") or "someone"
    why = window.get("reason") or "no reason given"
    where = (" on %s" % window["host"]) if window.get("host") else ""
    if state == "active":
        return "maintenance by %s until %s (%s), opened at %s%s" % (
            who, window.get("until"), why, window.get("since") or "an unknown time", where)
    return ("maintenance window by %s (%s) ended at %s but its marker %s is still there: the step that opened it did "
            "not finish; check the app and remove the marker" % (who, why, window.get("until"), path))


def read_window(path, now=None):
    """The result of state=read: never changes anything."""
    check_path(path)
    window, dummy, problem = read_marker(path)
    state = state_of(window, now)
    result = {"changed": False, "path": path, "window": window, "window_state": state,
              "msg": describe(path, window, state)}
    if problem:
        result["problem"] = problem
    return result


# -- writing ----------------------------------------------------------------------

def render(window):
    return json.dumps(window, indent=2, sort_keys=True) + "\n"


def make_dirs(directory):
    """Create ``directory`` and missing parents with mode 0755 (whatever the umask); return those created."""
    created = []
    missing = []
    current = directory
    while current and not os.path.isdir(current):
        missing.append(current)
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    for name in reversed(missing):
        try:
            os.mkdir(name, DIR_MODE)
        except OSError as exc:
            if exc.errno != errno.EEXIST or not os.path.isdir(name):
                raise
            continue
        os.chmod(name, DIR_MODE)
        created.append(name)
    return created


def _fsync_dir(directory):
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_marker(path, window):
    """Write the marker atomically: a temp file in the same directory, fsync, rename, mode 0644."""
    directory = os.path.dirname(path)
    make_dirs(directory)
    fd, tmp = tempfile.mkstemp(prefix=".%s.tmp-" % os.path.basename(path), dir=directory)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(render(window))
            handle.flush()
            os.fchmod(handle.fileno(), FILE_MODE)
            os.fsync(handle.fileno())
        os.rename(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(directory)


class _DirLock(object):
    """An exclusive flock on the marker's directory, so that two opens cannot both win.

    Where the directory cannot be locked (it does not exist yet, or the file
    system has no flock), the window works without the lock.
    """

    def __init__(self, directory):
        self.directory = directory
        self.fd = None

    def __enter__(self):
        try:
            self.fd = os.open(self.directory, os.O_RDONLY)
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        except OSError:
            if self.fd is not None:
                os.close(self.fd)
            self.fd = None
        return self

    def __exit__(self, *exc_info):
        if self.fd is not None:
            os.close(self.fd)  # closing drops the lock
            self.fd = None
        return False


def _diff(path, before_raw, after_raw):
    return {"before": before_raw or "", "after": after_raw or "",
            "before_header": "%s (before)" % path, "after_header": "%s (after)" % path}


def open_window(path, reason, by=None, duration="1h", force=False, token=None, check_mode=False,
                now=None, hostname=None, pid=None):
    """The result of state=open; raises MaintenanceError when another window is active (unless ``force``).

    A marker of the same ``token`` that is still active is renewed: ``since``
    and ``token`` stay, ``until`` moves to now + duration, ``by`` and ``reason``
    are the new ones.
    """
    check_path(path)
    if not isinstance(reason, str) or not reason.strip():
        raise MaintenanceError("reason is required to open a maintenance window, got %r" % (reason,))
    seconds = parse_seconds(duration, "duration")
    now = now or utcnow()
    with _DirLock(os.path.dirname(path)):
        current, before_raw, dummy = read_marker(path)
        state = state_of(current, now)
        result = {"path": path, "replaced_expired": None, "taken_over": None, "renewed": False}
        ours = bool(token) and state == "active" and current.get("token") == token
        if state == "active" and not ours:
            if not force:
                result["window"] = current
                raise MaintenanceError(
                    "maintenance already in progress by %s until %s (%s): wait until it ends, close it with "
                    "state=closed when it is over, or take it over with force=true"
                    % (current.get("by") or "someone", current.get("until"), current.get("reason") or "no reason given"),
                    result)
            result["taken_over"] = current
        elif state == "expired":
            result["replaced_expired"] = current
        window = {
            "by": by or default_by(),
            "reason": reason,
            "since": current.get("since") if ours and current.get("since") else iso(now),
            "until": iso(now + datetime.timedelta(seconds=seconds)),
            "token": token or new_token(),
            "host": hostname or socket.gethostname(),
            "pid": os.getpid() if pid is None else pid,
        }
        result["renewed"] = ours
        after_raw = render(window)
        result.update(changed=after_raw != before_raw, window=window, token=window["token"],
                      diff=_diff(path, before_raw, after_raw))
        if result["changed"] and not check_mode:
            try:
                write_marker(path, window)
            except OSError as exc:
                raise MaintenanceError("could not write the maintenance marker %r: %s" % (path, exc), result)
        verb = ("renew" if ours else "open") if check_mode else ("renewed" if ours else "opened")
        result["msg"] = "%s%s maintenance by %s until %s (%s)" % (
            "would " if check_mode else "", verb, window["by"], window["until"], reason)
        if result["taken_over"]:
            result["msg"] += "; took over the active window of %s" % (result["taken_over"].get("by") or "someone")
        elif result["replaced_expired"] and current.get("problem"):
            result["msg"] += "; replaced a marker that could not be used: %s" % current["problem"]
        elif result["replaced_expired"]:
            result["msg"] += "; replaced the expired window of %s (%s) that ended at %s" % (
                current.get("by") or "someone", current.get("reason") or "no reason given", current.get("until"))
        return result


def close_window(path, token=None, check_mode=False):
    """The result of state=closed: the marker removed, unless ``token`` is given and the marker is someone else's."""
    check_path(path)
    with _DirLock(os.path.dirname(path)):
        current, before_raw, problem = read_marker(path)
        result = {"path": path, "window": None, "changed": False}
        if current is None:
            result["msg"] = "no maintenance window to close: no marker at %s" % path
            return result
        if token and current.get("token") != token:
            if problem:
                result["msg"] = ("left the maintenance marker %s in place: it cannot be read, so it cannot be shown to "
                                 "be the window of token %r (%s)" % (path, token, problem))
            else:
                result["msg"] = ("left the maintenance marker %s in place: it is the window of %s until %s (%s), not "
                                 "the one opened with this token" % (path, current.get("by") or "someone",
                                                                     current.get("until"),
                                                                     current.get("reason") or "no reason given"))
            result["open_window"] = current
            return result
        result.update(changed=True, window=current, diff=_diff(path, before_raw, ""))
        if not check_mode:
            try:
                os.unlink(path)
            except OSError as exc:
                if exc.errno != errno.ENOENT:
                    raise MaintenanceError("could not remove the maintenance marker %r: %s" % (path, exc), result)
            _fsync_dir(os.path.dirname(path))
        result["msg"] = "%s the maintenance window of %s (%s)" % (
            "would close" if check_mode else "closed", current.get("by") or "someone",
            current.get("reason") or "no reason given")
        return result


def run(params, check_mode=False, now=None):
    """Apply the module's params; return its result (with ``diff``) or raise MaintenanceError / ValueError."""
    state = params.get("state") or "read"
    if state not in STATES:
        raise MaintenanceError("state must be one of %s, got %r" % (", ".join(STATES), state))
    path = check_path(params.get("path"))
    # Parse the duration whatever the state: a typo should not wait for the day a window is opened.
    duration = "1h" if params.get("duration") is None else params["duration"]
    parse_seconds(duration, "duration")
    if state == "open":
        return open_window(path, params.get("reason"), by=params.get("by"), duration=duration,
                           force=bool(params.get("force")), token=params.get("token"), check_mode=check_mode, now=now)
    if state == "closed":
        return close_window(path, token=params.get("token"), check_mode=check_mode)
    return read_window(path, now)
