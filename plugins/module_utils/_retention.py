# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module_utils file is private to the milos_shop.ops collection: its
# functions and their signatures may change or go away without notice. Do not
# import it from other collections, roles or playbooks.

"""Grandfather-father-son retention of backup files, with restic's ``forget`` semantics.

Two layers:

* :func:`apply_policy` is the policy arithmetic, a pure function over
  ``(name, datetime)`` items. It follows restic's ``ApplyPolicy``
  (internal/restic/snapshot_policy.go) rule for rule, including its keeping of
  the oldest snapshot (restic 0.16 and later) and the ``oldest`` label of that reason.
* :func:`prune` scans one directory, recognises the backup files by name,
  finds the newest backup that verifies now (its file re-hashed against its
  manifest, the rule of _manifest.newest_verifying), applies the policy and
  deletes (or, in check mode, only lists) what the policy drops.

Only the standard library is used, so the logic can be tested without Ansible.
"""

from __future__ import annotations

import datetime
import os
import re
import traceback

from ansible_collections.milos_shop.ops.plugins.module_utils._duration import (
    Duration,
    DurationError,
    grammar_error,
    parse_duration as _parse_duration,
)
from ansible_collections.milos_shop.ops.plugins.module_utils._files import (
    Deadline,
    DeadlineExceeded,
    DirectoryLock,
)
from ansible_collections.milos_shop.ops.plugins.module_utils._manifest import (
    MANIFEST_SUFFIX,
    newest_verifying,
)

try:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
except ImportError:  # Python 3.8: zoneinfo is in the standard library from 3.9 on
    try:
        from backports.zoneinfo import ZoneInfo, ZoneInfoNotFoundError
    except ImportError:
        ZoneInfo = None
        ZoneInfoNotFoundError = LookupError
        HAS_ZONEINFO = False
        ZONEINFO_IMPORT_ERROR = traceback.format_exc()
    else:
        HAS_ZONEINFO = True
        ZONEINFO_IMPORT_ERROR = None
else:
    HAS_ZONEINFO = True
    ZONEINFO_IMPORT_ERROR = None


UTC = datetime.timezone.utc

DEFAULT_PREFIX = 'milos_shop_backup_'
DEFAULT_EXTENSIONS = ('.db.gz', '.db.zst', '.db')
DEFAULT_NAME_FORMAT = '%Y-%m-%dT%H-%M-%S'

REASON_EMPTY = 'policy is empty'
REASON_VERIFIED = 'newest verified'
REASON_NEWEST = 'newest (never delete every backup)'
REASON_ROTTEN = 'rotten'

# The rules in restic's order: name, option, bucket function over
# (local time, position in the newest-first list).
_RULES = (
    ('last', 'keep_last', lambda t, nr: nr),
    ('hourly', 'keep_hourly', lambda t, nr: (t.year, t.month, t.day, t.hour)),
    ('daily', 'keep_daily', lambda t, nr: (t.year, t.month, t.day)),
    ('weekly', 'keep_weekly', lambda t, nr: tuple(t.isocalendar()[:2])),
    ('monthly', 'keep_monthly', lambda t, nr: (t.year, t.month)),
    ('yearly', 'keep_yearly', lambda t, nr: t.year),
)

# The default name_format, read without strptime (several times faster on 10,000 names);
# anything this does not match goes to strptime, so the result is the same.
_DEFAULT_TIME_RE = re.compile(r'([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2})-([0-9]{2})-([0-9]{2})')


class RetentionError(Exception):
    """The one failure of this module: a message naming the option, plus result keys."""

    def __init__(self, msg, **details):
        super(RetentionError, self).__init__(msg)
        self.msg = msg
        self.details = details


# ---------------------------------------------------------------------------
# Durations (keep_within)
# ---------------------------------------------------------------------------

def parse_duration(value, option='keep_within'):
    """Parse a keep_within duration with the collection's one grammar (_duration), calendar units allowed.

    ``<number><unit>`` parts: y, mo, w, d (calendar) and h, min, s (exact); a
    bare ``m`` is refused (restic reads it as months, other tools as minutes).
    RetentionError names the option.
    """
    if isinstance(value, Duration):
        return value
    if not isinstance(value, str) or value != value.strip():
        raise RetentionError(grammar_error(option, value))
    try:
        return _parse_duration(value, option, calendar=True)
    except DurationError as exc:
        raise RetentionError(str(exc))


def subtract_duration(moment, duration, tz=UTC):
    """Return ``moment - duration`` as an aware UTC datetime, or None when that is before year 1.

    Like Go's ``Time.AddDate`` (which restic uses), years, months and days move
    the wall clock in the time zone ``tz`` and a day of month that does not
    exist overflows into the next month (31 March - 1mo = 3 March, or 2 March in
    a leap year); hours, minutes and seconds are then taken off as exact time.
    """
    local = moment.astimezone(tz)
    try:
        if duration.years or duration.months or duration.days:
            index = local.year * 12 + (local.month - 1) - duration.years * 12 - duration.months
            year, month0 = divmod(index, 12)
            wall = datetime.datetime(year, month0 + 1, 1, local.hour, local.minute, local.second, local.microsecond)
            wall += datetime.timedelta(days=local.day - 1 - duration.days)
            local = wall.replace(tzinfo=tz)
        return local.astimezone(UTC) - datetime.timedelta(seconds=duration.seconds)
    except (OverflowError, ValueError):
        return None


# ---------------------------------------------------------------------------
# Time zones
# ---------------------------------------------------------------------------

def get_timezone(name, option='timezone'):
    """An IANA time zone by name; C(UTC) works without zoneinfo."""
    if name == 'UTC':
        return UTC
    if not HAS_ZONEINFO:
        raise RetentionError(
            '%s: the time zone %r needs the zoneinfo module (Python 3.9 or later, or backports.zoneinfo on 3.8); '
            'use UTC or install it' % (option, name), exception=ZONEINFO_IMPORT_ERROR)
    if not isinstance(name, str) or not name:
        raise RetentionError('%s: expected an IANA time zone name such as Europe/Madrid, got %r' % (option, name))
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise RetentionError('%s: unknown time zone %r; expected an IANA name such as UTC or Europe/Madrid' % (option, name))


def to_utc(moment):
    """Aware UTC datetime; a naive one is taken as UTC."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


# ---------------------------------------------------------------------------
# The policy arithmetic
# ---------------------------------------------------------------------------

class Policy(object):
    """The keep_* options. A count of 0 turns a rule off, -1 means unlimited."""

    __slots__ = ('last', 'hourly', 'daily', 'weekly', 'monthly', 'yearly', 'within')

    def __init__(self, last=0, hourly=0, daily=0, weekly=0, monthly=0, yearly=0, within=None):
        counts = dict(last=last, hourly=hourly, daily=daily, weekly=weekly, monthly=monthly, yearly=yearly)
        for rule, option, dummy in _RULES:
            value = counts[rule]
            if isinstance(value, bool) or not isinstance(value, int) or value < -1:
                raise RetentionError('%s: expected a whole number of 0 or more (or -1 for unlimited), got %r' % (option, value))
            setattr(self, rule, value)
        if within is not None and not isinstance(within, Duration):
            within = parse_duration(within)
        if within is not None and within.is_zero():
            within = None
        self.within = within

    def is_empty(self):
        return self.within is None and not any(getattr(self, rule) for rule, dummy, dummy2 in _RULES)

    def __repr__(self):
        parts = ['%s=%r' % (rule, getattr(self, rule)) for rule, dummy, dummy2 in _RULES if getattr(self, rule)]
        if self.within is not None:
            parts.append('within=%r' % self.within.text)
        return 'Policy(%s)' % ', '.join(parts)


def sort_newest_first(items):
    """``(name, aware UTC datetime)`` pairs sorted newest first; equal times by name, descending."""
    return sorted(((name, to_utc(moment)) for name, moment in items), key=lambda item: (item[1], item[0]), reverse=True)


def apply_policy(items, policy, tz=UTC, now=None, pinned=None):
    """Split ``(name, datetime)`` items into kept and deleted, as restic's ``forget`` does.

    The items are sorted newest first. Then, for each item in that order:

    * ``within``: kept when its time is after (newest time - duration); the
      newest time is that of the newest item before ``now`` (restic
      ignores snapshots in the future here); with ``now=None`` every item counts.
    * each rule last, hourly, daily, weekly, monthly, yearly with a count left
      (count > 0, or -1 for unlimited): the item's bucket in ``tz`` (its
      position for last; the hour, day, ISO year and week, month or year) is
      compared with the bucket of the item this rule kept last. A different
      bucket keeps the item for that rule and uses one count, so the newest
      item of each bucket is kept and buckets without items do not count.
    * the oldest item is also kept by every rule that still has a count left,
      with the reason ``oldest <rule>`` when its bucket is one the rule already
      kept (restic 0.16 and later, which labels that reason ``oldest``).
    * names in ``pinned`` (name -> reason) are kept, with that reason added.

    An empty policy keeps everything (reason ``policy is empty``), as restic does.

    Returns ``(kept, deleted)``, both newest first: ``kept`` as
    ``(name, time, reasons)`` and ``deleted`` as ``(name, time)``, times being
    aware UTC datetimes.
    """
    ordered = sort_newest_first(items)
    pinned = pinned or {}
    kept = []
    deleted = []
    if not ordered:
        return kept, deleted

    if policy.is_empty():
        for name, moment in ordered:
            reasons = [REASON_EMPTY]
            if name in pinned:
                reasons.append(pinned[name])
            kept.append((name, moment, reasons))
        return kept, deleted

    within_after = None
    within_reason = None
    within_all = False
    if policy.within is not None:
        within_reason = 'within %s' % policy.within.text
        latest = None
        for dummy, moment in ordered:
            if now is None or moment < now:
                latest = moment
                break
        if latest is None:
            # restic's latest is then Go's zero time: everything is "within".
            within_all = True
        else:
            within_after = subtract_duration(latest, policy.within, tz)
            within_all = within_after is None

    # [rule, count left, bucket of the item this rule kept last]
    active = [[rule, getattr(policy, rule), bucket, None] for rule, dummy, bucket in _RULES if getattr(policy, rule)]
    last_index = len(ordered) - 1
    utc = tz is UTC

    for nr, (name, moment) in enumerate(ordered):
        reasons = []
        if within_reason is not None and (within_all or moment > within_after):
            reasons.append(within_reason)
        local = moment if utc else moment.astimezone(tz)
        for state in active:
            rule, count, bucket_of, last = state
            if count == 0:
                continue
            value = bucket_of(local, nr)
            if value != last or nr == last_index:
                reasons.append(rule if value != last else 'oldest ' + rule)
                state[3] = value
                if count > 0:
                    state[1] = count - 1
        if name in pinned:
            reasons.append(pinned[name])
        if reasons:
            kept.append((name, moment, reasons))
        else:
            deleted.append((name, moment))

    if not kept:
        # Cannot happen with restic's rules (the newest item fills every rule
        # with a count and is always within); kept as a last line of defence.
        name, moment = deleted.pop(0)
        kept.append((name, moment, [REASON_NEWEST]))
    return kept, deleted


# ---------------------------------------------------------------------------
# Recognising backup files
# ---------------------------------------------------------------------------

class BackupNames(object):
    """Tells backup file names from other names and reads the time from them."""

    def __init__(self, prefix=DEFAULT_PREFIX, extensions=DEFAULT_EXTENSIONS, pattern=None,
                 name_format=DEFAULT_NAME_FORMAT, time_source='name'):
        if time_source not in ('name', 'mtime'):
            raise RetentionError('time_source: expected one of name, mtime; got %r' % (time_source,))
        self.time_source = time_source
        self.name_format = name_format
        self.prefix = prefix
        self.pattern = None
        self.extensions = ()
        self.given_extensions = []
        if time_source == 'name' and (not isinstance(name_format, str) or '%' not in name_format):
            raise RetentionError('name_format: expected a strptime format such as %%Y-%%m-%%dT%%H-%%M-%%S, got %r' % (name_format,))
        if pattern is not None:
            try:
                self.pattern = re.compile(pattern)
            except (re.error, TypeError) as exc:
                raise RetentionError('pattern: not a valid regular expression (%s): %r' % (exc, pattern))
            if time_source == 'name' and 'time' not in self.pattern.groupindex:
                raise RetentionError('pattern: needs a named group (?P<time>...) holding the time when time_source=name, got %r' % (pattern,))
        else:
            if not isinstance(prefix, str):
                raise RetentionError('prefix: expected a string, got %r' % (prefix,))
            if not extensions or any(not isinstance(ext, str) or not ext for ext in extensions):
                raise RetentionError('extensions: expected a list of one or more non-empty file name endings, got %r' % (extensions,))
            self.given_extensions = list(extensions)
            # Longest first, so that .db.gz is tried before .db (a stable sort: ties keep the given order).
            self.extensions = tuple(sorted(dict.fromkeys(extensions), key=len, reverse=True))

    def describe(self):
        if self.pattern is not None:
            text = 'pattern %r' % self.pattern.pattern
        else:
            text = 'prefix %r and extensions %r' % (self.prefix, self.given_extensions)
        if self.time_source == 'name':
            text += ' with the time as %r' % self.name_format
        return text

    def _parse_time(self, text):
        try:
            if self.name_format == DEFAULT_NAME_FORMAT:
                match = _DEFAULT_TIME_RE.fullmatch(text)
                if match is not None:
                    return datetime.datetime(*[int(part) for part in match.groups()], tzinfo=UTC)
            moment = datetime.datetime.strptime(text, self.name_format)
        except (ValueError, TypeError):
            return None
        return to_utc(moment)

    def parse(self, name):
        """Return ``(matched, time)``: (False, None) for a foreign name, (True, None) when the time does not parse.

        With time_source=mtime the time is None here and is read from the file.
        """
        if self.pattern is not None:
            match = self.pattern.fullmatch(name)
            if match is None:
                return False, None
            if self.time_source != 'name':
                return True, None
            return True, self._parse_time(match.group('time') or '')
        prefix = self.prefix
        if not name.startswith(prefix):
            return False, None
        matched = False
        for ext in self.extensions:
            if name.endswith(ext) and len(name) >= len(prefix) + len(ext):
                matched = True
                if self.time_source != 'name':
                    return True, None
                moment = self._parse_time(name[len(prefix):len(name) - len(ext)])
                if moment is not None:
                    return True, moment
        return matched, None


# ---------------------------------------------------------------------------
# The directory
# ---------------------------------------------------------------------------

def _kind(entry):
    if entry.is_symlink():
        return 'symbolic link'
    if entry.is_dir(follow_symlinks=False):
        return 'directory'
    if entry.is_file(follow_symlinks=False):
        return 'file'
    return 'special file'


def scan(path, names):
    """Scan one directory (not recursively).

    Returns ``(backups, manifests, ignored, files)``: backups as name -> aware
    UTC time, the names of the manifests of those backups, ignored entries as
    ``(name, reason)`` and the number of regular files seen.
    """
    if not isinstance(path, str) or not path:
        raise RetentionError('path: expected the backup directory, got %r' % (path,))
    if not os.path.lexists(path):
        raise RetentionError('path: the backup directory %r does not exist' % (path,))
    if not os.path.isdir(path):
        raise RetentionError('path: %r is not a directory' % (path,))
    backups = {}
    manifest_names = set()
    ignored = []
    files = 0
    try:
        with os.scandir(path) as entries:
            for entry in entries:
                name = entry.name
                kind = _kind(entry)
                if kind != 'file':
                    ignored.append((name, 'not a regular file (%s)' % kind))
                    continue
                files += 1
                if name.endswith(MANIFEST_SUFFIX):
                    manifest_names.add(name)
                    continue
                matched, moment = names.parse(name)
                if not matched:
                    ignored.append((name, 'name does not match the backup name'))
                    continue
                if names.time_source == 'mtime':
                    moment = datetime.datetime.fromtimestamp(entry.stat(follow_symlinks=False).st_mtime, UTC)
                elif moment is None:
                    ignored.append((name, 'the time in the name does not parse with name_format %r' % names.name_format))
                    continue
                backups[name] = moment
    except OSError as exc:
        raise RetentionError('path: cannot list the backup directory %r: %s' % (path, exc))
    manifests = set()
    for name in manifest_names:
        if name[:-len(MANIFEST_SUFFIX)] in backups:
            manifests.add(name)
        else:
            ignored.append((name, 'manifest without a recognised backup'))
    ignored.sort()
    return backups, manifests, ignored, files


def newest_verified(path, backups, manifests=None, deadline=None):
    """The newest backup that verifies *now*, and the rotten ones newer than it.

    The same rule as the daily backup_status check (_manifest.newest_verifying):
    walking newest first, each backup's manifest is read and the file re-hashed
    until one matches its manifest (size and sha256) and records
    check_result ok. Returns ``(name or None, rotten)``: rotten lists, newest
    first, each newer backup that was good once (its manifest says so) but does
    not verify now, as ``{name, path, problems}``. A newer backup that never
    was good (no manifest, a failed check) is not rotten; the policy decides
    about it as before.
    """
    order = sorted(backups, key=lambda name: (backups[name], name), reverse=True)
    found = newest_verifying([os.path.join(path, name) for name in order], rehash=True, deadline=deadline)
    rotten = [{'name': os.path.basename(item['path']), 'path': item['path'], 'problems': item['problems']}
              for item in found['rotten'] if item.get('was_good')]
    return (os.path.basename(found['path']) if found['path'] else None), rotten


def _iso(moment):
    return moment.strftime('%Y-%m-%dT%H:%M:%SZ') if not moment.microsecond else moment.strftime('%Y-%m-%dT%H:%M:%S.%fZ')


def _lines(names):
    return ''.join(name + '\n' for name in names)


DEFAULT_LOCK_TIMEOUT_S = 600


def prune(path, policy, names, tz=UTC, check_mode=False, diff=False, now=None, lock_timeout=DEFAULT_LOCK_TIMEOUT_S):
    """Apply ``policy`` to ``path`` holding a shared lock on the directory; see :func:`prune_locked`.

    sqlite_backup holds the directory's lock (exclusive) while it backs up and
    publishes, so retention never sees a backup without its manifest half way
    through publishing; retention runs side by side with each other. The wait
    is bounded by lock_timeout seconds (0: as long as it takes).
    """
    lock = None
    if isinstance(path, str) and os.path.isdir(path):
        lock = DirectoryLock(path, shared=True)
        try:
            lock.acquire(Deadline(lock_timeout) if lock_timeout else None, 'lock')
        except DeadlineExceeded:
            raise RetentionError('lock_timeout: a backup into %r held its lock for more than %s s; nothing was deleted. '
                                 'Raise lock_timeout or run retention after the backup' % (path, lock_timeout))
        except OSError as exc:
            raise RetentionError('path: cannot open the backup directory %r: %s' % (path, exc))
    try:
        return prune_locked(path, policy, names, tz=tz, check_mode=check_mode, diff=diff, now=now)
    finally:
        if lock is not None:
            lock.release()


def prune_locked(path, policy, names, tz=UTC, check_mode=False, diff=False, now=None):
    """Apply ``policy`` to the backups in ``path``; delete what it drops unless in check mode.

    Returns the module result: changed, kept, deleted, ignored,
    newest_verified, rotten, msg, warnings and (with ``diff``) diff.

    Before anything is deleted, the newest backup the run relies on is
    re-hashed (newest_verified): the newest backup that verifies now is kept
    whatever the policy says, and the rotten ones newer than it are kept too.
    """
    if now is None:
        now = datetime.datetime.now(UTC)
    backups, manifests, ignored, files = scan(path, names)
    base = os.path.join(path, '')  # base + name == os.path.join(path, name), without a call per file
    ignored_out = [{'path': base + name, 'reason': reason} for name, reason in ignored]
    warnings = []

    if not backups:
        if files:
            examples = [name for name, dummy in ignored][:5]
            raise RetentionError(
                'path: the directory %r holds %d file(s) but none is recognised as a backup by %s (for example %s); '
                'refusing to guess: check prefix, extensions, pattern and name_format'
                % (path, files, names.describe(), ', '.join(repr(name) for name in examples)),
                ignored=ignored_out)
        result = dict(changed=False, kept=[], deleted=[], ignored=ignored_out, newest_verified=None, rotten=[],
                      msg='no backups in %s: nothing to do' % path, warnings=warnings)
        if diff:
            result['diff'] = dict(before='', after='', before_header=path, after_header=path)
        return result

    verified, rotten = newest_verified(path, backups, manifests)
    pinned = {}
    if verified is None:
        warnings.append('no backup in %s passed verification (a manifest with check_result ok and a sha256 that the file '
                        'still matches); only the retention policy decides what is kept' % path)
    else:
        pinned[verified] = REASON_VERIFIED
    # A rotten backup is kept by this run whatever the policy says: it is evidence (bit rot, a partial copy,
    # tampering) and a person decides about it; it is never the newest verified one.
    for item in rotten:
        pinned[item['name']] = REASON_ROTTEN
        warnings.append('backup %s does not verify now and is kept for inspection: %s' % (item['path'], '; '.join(item['problems'])))
    if policy.is_empty():
        warnings.append('every keep_* option is 0 and keep_within is not set: the policy is empty and every backup is kept')

    kept, dropped = apply_policy(backups.items(), policy, tz=tz, now=now, pinned=pinned)

    result_kept = [{'path': base + name, 'time': _iso(moment), 'reasons': reasons} for name, moment, reasons in kept]
    result_deleted = []
    for name, moment in dropped:
        manifest = name + MANIFEST_SUFFIX
        result_deleted.append({'path': base + name, 'time': _iso(moment), 'manifest': base + manifest if manifest in manifests else None})

    result = dict(changed=bool(result_deleted), kept=result_kept, deleted=result_deleted, ignored=ignored_out,
                  newest_verified=base + verified if verified else None, warnings=warnings,
                  rotten=[{'name': item['name'], 'path': item['path'], 'problems': item['problems']} for item in rotten])

    if diff:
        before = sorted([base + name for name in backups] + [base + name for name in manifests])
        gone = set()
        for item in result_deleted:
            gone.add(item['path'])
            if item['manifest']:
                gone.add(item['manifest'])
        after = [name for name in before if name not in gone]
        result['diff'] = dict(before=_lines(before), after=_lines(after), before_header=path, after_header=path)

    if not check_mode:
        done = []
        for item in result_deleted:
            for victim in (item['path'], item['manifest']):
                if victim is None:
                    continue
                try:
                    os.unlink(victim)
                except FileNotFoundError:
                    pass  # gone already (another run); the outcome is the same
                except OSError as exc:
                    raise RetentionError('path: could not delete %r: %s' % (victim, exc), deleted=done, kept=result_kept,
                                         ignored=ignored_out, changed=bool(done))
            done.append(item)

    verb = 'would delete' if check_mode else 'deleted'
    result['msg'] = '%s: kept %d backup(s), %s %d, left %d other entr%s alone' % (
        path, len(result_kept), verb, len(result_deleted), len(ignored_out), 'y' if len(ignored_out) == 1 else 'ies')
    if rotten:
        result['msg'] += '; %d rotten backup(s) kept, they do not verify now: %s' % (
            len(rotten), ', '.join(item['name'] for item in rotten))
    return result
