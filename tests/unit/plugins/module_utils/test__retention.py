# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tests of the retention arithmetic (restic's forget policy) and of the directory handling."""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.milos_shop.ops.plugins.module_utils import _manifest, _retention
from ansible_collections.milos_shop.ops.plugins.module_utils._retention import (
    BackupNames,
    Policy,
    RetentionError,
    apply_policy,
    get_timezone,
    parse_duration,
    prune,
    subtract_duration,
)

UTC = datetime.timezone.utc
MADRID = get_timezone('Europe/Madrid')
NEW_YORK = get_timezone('America/New_York')
PREFIX = 'milos_shop_backup_'


def t(text):
    """'2024-01-31 23:30' or '2024-01-31 23:30:05' as an aware UTC datetime."""
    fmt = '%Y-%m-%d %H:%M:%S' if text.count(':') == 2 else '%Y-%m-%d %H:%M'
    return datetime.datetime.strptime(text, fmt).replace(tzinfo=UTC)


def items_of(*times):
    """Items named by their time, so expectations can be written as times."""
    return [(text, t(text)) for text in times]


def plan(times, tz=UTC, now=None, pinned=None, **policy):
    """kept as {time text: reasons}, deleted as a set of time texts."""
    kept, deleted = apply_policy(items_of(*times), Policy(**policy), tz=tz, now=now, pinned=pinned)
    return {name: reasons for name, dummy, reasons in kept}, {name for name, dummy in deleted}


# The example of restic's documentation (doc/060_forget.rst): one backup every Sunday for 12 weeks.
SUNDAYS = ['2019-09-01 11:00', '2019-09-08 11:00', '2019-09-15 11:00', '2019-09-22 11:00', '2019-09-29 11:00', '2019-10-06 11:00',
           '2019-10-13 11:00', '2019-10-20 11:00', '2019-10-27 11:00', '2019-11-03 11:00', '2019-11-10 11:00', '2019-11-17 11:00']

# One backup a day at 03:00 from Monday 1 January 2024 to Sunday 21 January 2024 (three ISO weeks).
JANUARY = ['2024-01-%02d 03:00' % day for day in range(1, 22)]


# ---------------------------------------------------------------------------
# The arithmetic, table-driven; every expectation worked out by hand from restic's algorithm
# ---------------------------------------------------------------------------

CASES = [
    pytest.param(
        SUNDAYS, dict(daily=4),
        {'2019-11-17 11:00': ['daily'], '2019-11-10 11:00': ['daily'], '2019-11-03 11:00': ['daily'], '2019-10-27 11:00': ['daily']},
        id='restic-docs-12-sundays-keep-daily-4'),
    pytest.param(
        SUNDAYS, dict(monthly=6),
        # Three months have backups; the rule still has 3 counts at the oldest, which shares September with 09-29.
        {'2019-11-17 11:00': ['monthly'], '2019-10-27 11:00': ['monthly'], '2019-09-29 11:00': ['monthly'],
         '2019-09-01 11:00': ['oldest monthly']},
        id='oldest-kept-when-monthly-cannot-be-filled'),
    pytest.param(
        SUNDAYS, dict(monthly=3),
        # Exactly three months: the rule is filled at 09-29 and the oldest is not kept.
        {'2019-11-17 11:00': ['monthly'], '2019-10-27 11:00': ['monthly'], '2019-09-29 11:00': ['monthly']},
        id='oldest-not-kept-when-rule-filled'),
    pytest.param(
        JANUARY, dict(daily=7, weekly=4, monthly=12),
        # The guide's policy: 7 days, then the Sunday of each earlier ISO week, and the oldest for weekly and monthly.
        {'2024-01-21 03:00': ['daily', 'weekly', 'monthly'], '2024-01-20 03:00': ['daily'], '2024-01-19 03:00': ['daily'],
         '2024-01-18 03:00': ['daily'], '2024-01-17 03:00': ['daily'], '2024-01-16 03:00': ['daily'], '2024-01-15 03:00': ['daily'],
         '2024-01-14 03:00': ['weekly'], '2024-01-07 03:00': ['weekly'], '2024-01-01 03:00': ['oldest weekly', 'oldest monthly']},
        id='guide-defaults-one-backup-fills-several-rules'),
    pytest.param(
        ['2020-01-06 10:00', '2020-01-06 12:00', '2020-01-10 12:00'], dict(daily=7, weekly=4),
        # Same shape as restic's own output: the two backups of Monday 6 January share the day and the week.
        {'2020-01-10 12:00': ['daily', 'weekly'], '2020-01-06 12:00': ['daily'], '2020-01-06 10:00': ['oldest daily', 'oldest weekly']},
        id='oldest-of-a-shared-day'),
    pytest.param(
        ['2024-01-01 12:00', '2024-01-05 12:00', '2024-01-10 12:00', '2024-01-20 12:00'], dict(daily=3),
        # Days without a backup do not count: "3 daily" reaches back to 5 January.
        {'2024-01-20 12:00': ['daily'], '2024-01-10 12:00': ['daily'], '2024-01-05 12:00': ['daily']},
        id='days-without-backups-do-not-count'),
    pytest.param(
        ['2024-01-10 08:00', '2024-01-10 09:00', '2024-01-10 22:00', '2024-01-11 01:00'], dict(daily=2),
        # The newest of each day is kept, not the first.
        {'2024-01-11 01:00': ['daily'], '2024-01-10 22:00': ['daily']},
        id='newest-of-each-day'),
    pytest.param(
        ['2020-12-28 12:00', '2020-12-31 12:00', '2021-01-01 12:00', '2021-01-03 12:00', '2021-01-04 12:00'], dict(weekly=2),
        # 28 Dec 2020 to 3 Jan 2021 are all ISO week 2020-W53; 4 Jan 2021 opens 2021-W01.
        {'2021-01-04 12:00': ['weekly'], '2021-01-03 12:00': ['weekly']},
        id='iso-week-2020-W53-spans-new-year'),
    pytest.param(
        ['2020-12-31 12:00', '2021-01-01 12:00'], dict(weekly=1),
        {'2021-01-01 12:00': ['weekly']},
        id='dec-31-and-jan-1-same-iso-week'),
    pytest.param(
        ['2020-12-31 12:00', '2021-01-01 12:00'], dict(weekly=2),
        {'2021-01-01 12:00': ['weekly'], '2020-12-31 12:00': ['oldest weekly']},
        id='dec-31-and-jan-1-same-iso-week-oldest'),
    pytest.param(
        ['2020-12-31 12:00', '2021-01-01 12:00'], dict(monthly=2),
        {'2021-01-01 12:00': ['monthly'], '2020-12-31 12:00': ['monthly']},
        id='dec-31-and-jan-1-different-months'),
    pytest.param(
        ['2019-12-29 12:00', '2019-12-30 12:00', '2020-01-05 12:00'], dict(weekly=2),
        # Monday 30 December 2019 is in ISO week 2020-W01, Sunday 29 December in 2019-W52.
        {'2020-01-05 12:00': ['weekly'], '2019-12-29 12:00': ['weekly']},
        id='iso-year-differs-from-calendar-year'),
    pytest.param(
        ['2024-01-30 12:00', '2024-01-31 23:59', '2024-02-01 00:00', '2024-02-29 12:00', '2024-03-01 00:00'], dict(monthly=3),
        {'2024-03-01 00:00': ['monthly'], '2024-02-29 12:00': ['monthly'], '2024-01-31 23:59': ['monthly']},
        id='month-boundaries-leap-february'),
    pytest.param(
        ['2022-06-01 00:00', '2023-01-01 00:00', '2023-12-31 23:59', '2024-05-01 00:00'], dict(yearly=2),
        {'2024-05-01 00:00': ['yearly'], '2023-12-31 23:59': ['yearly']},
        id='yearly'),
    pytest.param(
        ['2024-01-10 08:05', '2024-01-10 08:55', '2024-01-10 09:00', '2024-01-10 11:30'], dict(hourly=5),
        {'2024-01-10 11:30': ['hourly'], '2024-01-10 09:00': ['hourly'], '2024-01-10 08:55': ['hourly'], '2024-01-10 08:05': ['oldest hourly']},
        id='hourly'),
    pytest.param(
        ['2024-01-01 00:00', '2024-01-02 00:00', '2024-01-03 00:00', '2024-01-04 00:00', '2024-01-05 00:00'], dict(last=2),
        {'2024-01-05 00:00': ['last'], '2024-01-04 00:00': ['last']},
        id='keep-last'),
    pytest.param(
        ['2024-01-01 00:00', '2024-01-01 00:00:01', '2024-01-01 00:00:02'], dict(last=10),
        # The "last" bucket is the backup itself, so the oldest is a plain "last", never "oldest last".
        {'2024-01-01 00:00:02': ['last'], '2024-01-01 00:00:01': ['last'], '2024-01-01 00:00': ['last']},
        id='keep-last-more-than-there-are'),
    pytest.param(
        ['2024-01-01 00:00', '2024-01-05 00:00', '2024-01-05 12:00', '2024-01-06 00:00'], dict(last=1, daily=2),
        {'2024-01-06 00:00': ['last', 'daily'], '2024-01-05 12:00': ['daily']},
        id='last-and-daily'),
    pytest.param(
        ['2024-01-01 10:00', '2024-01-01 11:00', '2024-01-02 09:00', '2024-01-03 09:00'], dict(daily=-1),
        # -1 is unlimited (restic's "unlimited"): the newest of every day, and the oldest as "oldest daily".
        {'2024-01-03 09:00': ['daily'], '2024-01-02 09:00': ['daily'], '2024-01-01 11:00': ['daily'], '2024-01-01 10:00': ['oldest daily']},
        id='unlimited'),
    pytest.param(
        ['2024-01-01 00:00', '2024-01-02 00:00'], dict(),
        {'2024-01-02 00:00': ['policy is empty'], '2024-01-01 00:00': ['policy is empty']},
        id='empty-policy-keeps-all'),
    pytest.param(
        ['2024-01-08 12:00', '2024-01-08 12:01', '2024-01-09 06:00', '2024-01-10 12:00'], dict(within='2d'),
        # Measured from the newest backup (10 Jan 12:00), strictly after: 8 Jan 12:00 itself is out.
        {'2024-01-10 12:00': ['within 2d'], '2024-01-09 06:00': ['within 2d'], '2024-01-08 12:01': ['within 2d']},
        id='keep-within-from-newest-backup'),
    pytest.param(
        ['2024-01-08 23:00', '2024-01-09 00:00:01', '2024-01-10 12:00'], dict(within='36h'),
        {'2024-01-10 12:00': ['within 36h'], '2024-01-09 00:00:01': ['within 36h']},
        id='keep-within-hours'),
    pytest.param(
        ['2021-03-03 10:00', '2021-03-03 10:01', '2021-03-31 10:00'], dict(within='1mo'),
        # 31 March less one month is "31 February", which Go (restic) normalises to 3 March.
        {'2021-03-31 10:00': ['within 1mo'], '2021-03-03 10:01': ['within 1mo']},
        id='keep-within-month-normalised-like-go'),
    pytest.param(
        ['2023-12-01 00:00', '2024-01-02 00:00', '2024-01-10 00:00', '2024-01-11 00:00'], dict(within='1d', monthly=1),
        {'2024-01-11 00:00': ['within 1d', 'monthly']},
        id='keep-within-and-monthly'),
]


@pytest.mark.parametrize('times, policy, expected', CASES)
def test_apply_policy(times, policy, expected):
    kept, deleted = plan(times, **policy)
    assert kept == expected
    assert deleted == set(times) - set(expected)


@pytest.mark.parametrize('tz, expected', [
    # 23:30 UTC on 10 March is 00:30 on 11 March in Madrid (CET, UTC+1): with two days to keep,
    # UTC keeps 10 and 9 March, Madrid keeps "11" and 10 March.
    pytest.param(UTC, {'2024-03-10 23:30': ['daily'], '2024-03-09 12:00': ['daily']}, id='utc'),
    pytest.param(MADRID, {'2024-03-10 23:30': ['daily'], '2024-03-10 12:00': ['daily']}, id='europe-madrid'),
])
def test_time_zone_moves_day(tz, expected):
    kept, dummy = plan(['2024-03-09 12:00', '2024-03-10 12:00', '2024-03-10 23:30'], tz=tz, daily=2)
    assert kept == expected


@pytest.mark.parametrize('tz, expected', [
    pytest.param(UTC, {'2024-02-01 03:00': ['monthly'], '2024-01-31 23:30': ['monthly']}, id='utc'),
    # Madrid: 31 Jan 23:30 UTC is already 1 February, so it shares February with the newest backup.
    pytest.param(MADRID, {'2024-02-01 03:00': ['monthly'], '2024-01-15 12:00': ['monthly']}, id='europe-madrid'),
    # New York (UTC-5): 1 Feb 03:00 UTC is still 31 January there, so both fall in January.
    pytest.param(NEW_YORK, {'2024-02-01 03:00': ['monthly'], '2024-01-15 12:00': ['oldest monthly']}, id='america-new-york'),
])
def test_time_zone_moves_month(tz, expected):
    kept, dummy = plan(['2024-01-15 12:00', '2024-01-31 23:30', '2024-02-01 03:00'], tz=tz, monthly=2)
    assert kept == expected


def test_time_zone_hours_across_dst():
    # Madrid springs forward on 31 March 2024 at 01:00 UTC: 00:30 UTC is 01:30 CET, 01:30 UTC is 03:30 CEST.
    kept, dummy = plan(['2024-03-31 00:10', '2024-03-31 00:30', '2024-03-31 01:30'], tz=MADRID, hourly=2)
    assert kept == {'2024-03-31 01:30': ['hourly'], '2024-03-31 00:30': ['hourly']}


def test_keep_within_ignores_backups_in_the_future():
    # restic measures keep-within from the newest snapshot that is not in the future.
    now = t('2024-01-11 00:00')
    kept, deleted = plan(['2024-01-05 00:00', '2024-01-09 11:00', '2024-01-10 12:00', '2030-01-01 00:00'], now=now, within='1d')
    assert kept == {'2030-01-01 00:00': ['within 1d'], '2024-01-10 12:00': ['within 1d']}
    assert deleted == {'2024-01-05 00:00', '2024-01-09 11:00'}


def test_keep_within_all_in_the_future_keeps_all():
    kept, deleted = plan(['2030-01-01 00:00', '2031-01-01 00:00'], now=t('2024-01-01 00:00'), within='1d')
    assert set(kept) == {'2030-01-01 00:00', '2031-01-01 00:00'} and not deleted


def test_pinned_adds_a_reason_and_keeps():
    kept, deleted = plan(['2024-01-01 00:00', '2024-01-02 00:00', '2024-01-03 00:00'], last=1,
                         pinned={'2024-01-02 00:00': 'newest verified', '2024-01-03 00:00': 'newest verified'})
    assert kept == {'2024-01-03 00:00': ['last', 'newest verified'], '2024-01-02 00:00': ['newest verified']}
    assert deleted == {'2024-01-01 00:00'}


def test_apply_policy_order_and_types():
    kept, deleted = apply_policy(items_of('2024-01-01 00:00', '2024-01-03 00:00', '2024-01-02 00:00'), Policy(last=2))
    assert [name for name, dummy, dummy2 in kept] == ['2024-01-03 00:00', '2024-01-02 00:00']
    assert deleted == [('2024-01-01 00:00', t('2024-01-01 00:00'))]
    assert apply_policy([], Policy(daily=7)) == ([], [])


def test_naive_times_are_utc():
    naive = [('a', datetime.datetime(2024, 1, 1, 23, 30)), ('b', datetime.datetime(2024, 1, 1, 12, 0))]
    kept, dummy = apply_policy(naive, Policy(daily=1), tz=MADRID)
    assert [(name, moment.tzinfo) for name, moment, dummy in kept] == [('a', UTC)]


# ---------------------------------------------------------------------------
# Durations and options
# ---------------------------------------------------------------------------

@pytest.mark.parametrize('text, parts', [
    ('36h', (0, 0, 0, 36 * 3600)),
    ('2d', (0, 0, 2, 0)),
    ('1w', (0, 0, 7, 0)),
    ('3mo', (0, 3, 0, 0)),
    ('1y', (1, 0, 0, 0)),
    ('90min', (0, 0, 0, 5400)),
    ('45s', (0, 0, 0, 45)),
    ('1y2mo3w4d5h6min7s', (1, 2, 25, 5 * 3600 + 6 * 60 + 7)),
    ('1d1d', (0, 0, 2, 0)),
])
def test_parse_duration(text, parts):
    duration = parse_duration(text)
    assert (duration.years, duration.months, duration.days, duration.seconds) == parts
    assert str(duration) == text


@pytest.mark.parametrize('text, message', [
    ('3m', "keep_within: the unit m is ambiguous; write mo for months or min for minutes; got '3m'"),
    ('1d3m', "keep_within: the unit m is ambiguous"),
    ('', "keep_within: expected a duration"),
    ('2 d', "got '2 d'"),
    ('1.5d', "got '1.5d'"),
    ('d', "got 'd'"),
    ('-1d', "got '-1d'"),
    ('7D', "got '7D'"),
    (7, 'got 7'),
])
def test_parse_duration_errors(text, message):
    with pytest.raises(RetentionError, match='^keep_within: ') as err:
        parse_duration(text)
    assert message in str(err.value)


@pytest.mark.parametrize('moment, text, tz, expected', [
    ('2021-03-31 10:00', '1mo', UTC, '2021-03-03 10:00'),
    ('2020-03-31 10:00', '1mo', UTC, '2020-03-02 10:00'),
    ('2024-01-31 10:00', '1y', UTC, '2023-01-31 10:00'),
    ('2024-02-29 10:00', '1y', UTC, '2023-03-01 10:00'),
    ('2024-01-10 12:00', '1w1d', UTC, '2024-01-02 12:00'),
    ('2024-01-10 12:00', '1d12h', UTC, '2024-01-09 00:00'),
    ('2024-01-01 00:30', '1mo', UTC, '2023-12-01 00:30'),
    # Calendar days keep the wall clock in the zone: from CEST back across the spring change to CET.
    ('2024-04-01 10:00', '2d', MADRID, '2024-03-30 11:00'),
    # Hours are exact whatever the zone.
    ('2024-04-01 10:00', '48h', MADRID, '2024-03-30 10:00'),
])
def test_subtract_duration(moment, text, tz, expected):
    assert subtract_duration(t(moment), parse_duration(text), tz) == t(expected)


def test_subtract_duration_before_year_one():
    assert subtract_duration(t('2024-01-01 00:00'), parse_duration('5000y'), UTC) is None
    kept, deleted = plan(['0002-01-01 00:00', '2024-01-01 00:00'], within='5000y')
    assert len(kept) == 2 and not deleted


@pytest.mark.parametrize('kwargs, message', [
    (dict(daily=-2), 'keep_daily: expected a whole number of 0 or more (or -1 for unlimited), got -2'),
    (dict(last='3'), "keep_last: expected a whole number of 0 or more (or -1 for unlimited), got '3'"),
    (dict(weekly=True), 'keep_weekly: expected a whole number of 0 or more (or -1 for unlimited), got True'),
    (dict(within='2m'), "keep_within: the unit m is ambiguous; write mo for months or min for minutes; got '2m'"),
])
def test_policy_errors_name_option_and_value(kwargs, message):
    with pytest.raises(RetentionError) as err:
        Policy(**kwargs)
    assert str(err.value) == message


def test_zero_within_is_off():
    assert Policy(within='0d').is_empty()
    assert not Policy(within='1s').is_empty()


@pytest.mark.parametrize('name, message', [
    ('Mars/Olympus_Mons', "timezone: unknown time zone 'Mars/Olympus_Mons'"),
    ('../etc/passwd', "timezone: unknown time zone '../etc/passwd'"),
    ('', "timezone: expected an IANA time zone name such as Europe/Madrid, got ''"),
])
def test_timezone_errors(name, message):
    with pytest.raises(RetentionError) as err:
        get_timezone(name)
    assert str(err.value).startswith(message)


def test_timezone_utc_needs_no_zoneinfo(monkeypatch):
    monkeypatch.setattr(_retention, 'HAS_ZONEINFO', False)
    assert get_timezone('UTC') is UTC
    with pytest.raises(RetentionError, match="timezone: the time zone 'Europe/Madrid' needs the zoneinfo module"):
        get_timezone('Europe/Madrid')


@pytest.mark.parametrize('kwargs, message', [
    (dict(pattern='('), "pattern: not a valid regular expression"),
    (dict(pattern='^backup_.*$'), "pattern: needs a named group (?P<time>...) holding the time when time_source=name, got '^backup_.*$'"),
    (dict(name_format='date'), "name_format: expected a strptime format such as %Y-%m-%dT%H-%M-%S, got 'date'"),
    (dict(extensions=[]), 'extensions: expected a list of one or more non-empty file name endings, got []'),
    (dict(extensions=['.db', '']), "extensions: expected a list of one or more non-empty file name endings, got ['.db', '']"),
    (dict(time_source='ctime'), "time_source: expected one of name, mtime; got 'ctime'"),
])
def test_name_option_errors(kwargs, message):
    with pytest.raises(RetentionError) as err:
        BackupNames(**kwargs)
    assert str(err.value).startswith(message)


@pytest.mark.parametrize('name, expected', [
    ('milos_shop_backup_2026-11-28T15-55-49.db.gz', (True, '2026-11-28 15:55:49')),
    ('milos_shop_backup_2026-11-28T15-55-49.db.zst', (True, '2026-11-28 15:55:49')),
    ('milos_shop_backup_2026-11-28T15-55-49.db', (True, '2026-11-28 15:55:49')),
    ('milos_shop_backup_garbage.db.gz', (True, None)),
    ('milos_shop_backup_2026-11-28T15-55-49.db.gz.tmp', (False, None)),
    ('milos_shop_backup_2026-11-28T15-55-49.db-journal', (False, None)),
    ('milos_shop_backup_.db.gz', (True, None)),
    ('milos_shop_backup_2026-11-28T15-55-49.db.gz.manifest.json', (False, None)),
    ('other_2026-11-28T15-55-49.db.gz', (False, None)),
    ('notes.txt', (False, None)),
    ('milos_shop_backup_2026-02-30T00-00-00.db.gz', (True, None)),
])
def test_backup_names(name, expected):
    matched, moment = BackupNames().parse(name)
    assert (matched, moment) == (expected[0], t(expected[1]) if expected[1] else None)


def test_backup_names_pattern_and_offset():
    names = BackupNames(pattern=r'app_(?P<time>.+)\.sql\.gz', name_format='%Y%m%dT%H%M%S%z')
    assert names.parse('app_20240101T013000+0100.sql.gz') == (True, t('2024-01-01 00:30'))
    assert names.parse('app_20240101T013000+0100.sql.gz.bak') == (False, None)
    assert names.parse('app_soon.sql.gz') == (True, None)


# ---------------------------------------------------------------------------
# Properties (hypothesis)
# ---------------------------------------------------------------------------

TIMES = st.datetimes(min_value=datetime.datetime(2019, 1, 1), max_value=datetime.datetime(2026, 12, 31),
                     timezones=st.just(UTC))
COUNT = st.integers(min_value=-1, max_value=6)
ZONES = st.sampled_from([UTC, MADRID, NEW_YORK, get_timezone('Asia/Kolkata'), get_timezone('Pacific/Chatham')])
WITHIN = st.one_of(st.none(), st.builds(lambda n, unit: '%d%s' % (n, unit), st.integers(0, 40), st.sampled_from(['h', 'd', 'w', 'mo', 'y'])))
POLICIES = st.builds(Policy, last=COUNT, hourly=COUNT, daily=COUNT, weekly=COUNT, monthly=COUNT, yearly=COUNT, within=WITHIN)


def clustered_times():
    """Times close together (same hours, days, weeks) as well as far apart, so buckets collide often."""
    base = st.datetimes(min_value=datetime.datetime(2020, 12, 1), max_value=datetime.datetime(2021, 2, 1), timezones=st.just(UTC))
    return st.one_of(TIMES, base)


ITEMS = st.lists(clustered_times(), max_size=60).map(lambda times: [('b%03d' % i, moment) for i, moment in enumerate(times)])
PROPERTY_SETTINGS = settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY_SETTINGS
@given(items=ITEMS, policy=POLICIES, tz=ZONES)
def test_property_partition(items, policy, tz):
    kept, deleted = apply_policy(items, policy, tz=tz)
    kept_names = [name for name, dummy, dummy2 in kept]
    deleted_names = [name for name, dummy in deleted]
    assert set(kept_names) | set(deleted_names) == {name for name, dummy in items}
    assert not set(kept_names) & set(deleted_names)
    assert len(kept_names) + len(deleted_names) == len(items)
    assert all(reasons for dummy, dummy2, reasons in kept)


@PROPERTY_SETTINGS
@given(items=ITEMS, policy=POLICIES, tz=ZONES)
def test_property_never_deletes_everything_nor_the_newest(items, policy, tz):
    kept, deleted = apply_policy(items, policy, tz=tz)
    if items:
        assert kept
        newest = max(items, key=lambda item: (item[1], item[0]))
        assert kept[0][0] == newest[0]
        assert newest[0] not in {name for name, dummy in deleted}


@PROPERTY_SETTINGS
@given(items=ITEMS, policy=POLICIES, tz=ZONES, data=st.data())
def test_property_second_run_deletes_nothing(items, policy, tz, data):
    pinned = {}
    if items:
        pinned[data.draw(st.sampled_from(items))[0]] = 'newest verified'
    kept, dummy = apply_policy(items, policy, tz=tz, pinned=pinned)
    again_kept, again_deleted = apply_policy([(name, moment) for name, moment, dummy in kept], policy, tz=tz, pinned=pinned)
    assert again_deleted == []
    assert again_kept == kept


@PROPERTY_SETTINGS
@given(items=ITEMS, policy=POLICIES)
def test_property_counts_bound_what_is_kept(items, policy):
    # Every keep, including the "oldest" one, uses one count, so a policy of n counts keeps at most n backups.
    counts = [getattr(policy, rule) for rule in ('last', 'hourly', 'daily', 'weekly', 'monthly', 'yearly')]
    kept, dummy = apply_policy(items, policy)
    if policy.within is None and -1 not in counts and any(counts):
        assert len(kept) <= sum(counts)


def reference_rule(ordered, count, bucket):
    """restic's rule said declaratively: the newest backup of each of the `count` newest buckets,
    plus the oldest backup when there are fewer buckets than `count` (or no limit)."""
    firsts = []
    seen = set()
    for name, local in ordered:
        key = bucket(local, name)
        if key not in seen:
            seen.add(key)
            firsts.append(name)
    if count == -1 or len(firsts) < count:
        return set(firsts) | {ordered[-1][0]}
    return set(firsts[:count])


BUCKETS = {
    'last': lambda local, name: name,
    'hourly': lambda local, name: (local.year, local.month, local.day, local.hour),
    'daily': lambda local, name: local.date(),
    'weekly': lambda local, name: local.isocalendar()[:2],
    'monthly': lambda local, name: (local.year, local.month),
    'yearly': lambda local, name: local.year,
}


@PROPERTY_SETTINGS
@given(items=ITEMS, policy=POLICIES, tz=ZONES)
def test_property_equals_declarative_restic(items, policy, tz):
    """The loop equals the union of its rules stated declaratively (restic keeps one state per rule)."""
    kept, dummy = apply_policy(items, policy, tz=tz)
    kept_names = {name for name, dummy, dummy2 in kept}
    if policy.is_empty() or not items:
        assert kept_names == {name for name, dummy in items}
        return
    ordered = sorted(items, key=lambda item: (item[1], item[0]), reverse=True)
    local = [(name, moment.astimezone(tz)) for name, moment in ordered]
    expected = set()
    for rule, bucket in BUCKETS.items():
        count = getattr(policy, rule)
        if count:
            expected |= reference_rule(local, count, bucket)
    if policy.within is not None:
        cutoff = subtract_duration(ordered[0][1], policy.within, tz)
        expected |= {name for name, moment in ordered if cutoff is None or moment > cutoff}
    assert kept_names == expected


# ---------------------------------------------------------------------------
# The directory
# ---------------------------------------------------------------------------

def backup_name(moment_text, ext='.db.gz'):
    return PREFIX + t(moment_text).strftime('%Y-%m-%dT%H-%M-%S') + ext


def make_backup(directory, moment_text, ext='.db.gz', check_result='ok', manifest=True, content=b'backup', **manifest_fields):
    name = backup_name(moment_text, ext)
    path = directory / name
    path.write_bytes(content)
    if manifest:
        data = dict(backup=name, created=t(moment_text).isoformat(), sha256=hashlib.sha256(content).hexdigest(),
                    check_result=check_result, size=len(content))
        data.update(manifest_fields)
        (directory / (name + '.manifest.json')).write_text(json.dumps(data))
    return path


def run(directory, check_mode=False, diff=False, tz=UTC, names=None, now=None, **policy):
    policy.setdefault('daily', 7)
    policy.setdefault('weekly', 4)
    policy.setdefault('monthly', 12)
    return prune(str(directory), Policy(**policy), names or BackupNames(), tz=tz, check_mode=check_mode, diff=diff, now=now)


def listing(directory):
    return sorted(os.listdir(directory))


def test_missing_directory(tmp_path):
    missing = tmp_path / 'nope'
    with pytest.raises(RetentionError) as err:
        run(missing)
    assert str(err.value) == 'path: the backup directory %r does not exist' % str(missing)


def test_path_is_a_file(tmp_path):
    (tmp_path / 'f').write_text('x')
    with pytest.raises(RetentionError, match="^path: '.*/f' is not a directory$"):
        run(tmp_path / 'f')


def test_empty_directory_is_fine(tmp_path):
    result = run(tmp_path, diff=True)
    assert result['changed'] is False
    assert result['kept'] == result['deleted'] == result['ignored'] == []
    assert result['diff']['before'] == result['diff']['after'] == ''


def test_only_a_subdirectory_is_fine(tmp_path):
    (tmp_path / 'lost+found').mkdir()
    result = run(tmp_path)
    assert result['changed'] is False
    assert result['ignored'] == [{'path': str(tmp_path / 'lost+found'), 'reason': 'not a regular file (directory)'}]


def test_refuses_when_nothing_is_recognised(tmp_path):
    for name in ('milos_backup_2024-01-01T00-00-00.db.gz', 'milos_shop_backup_garbage.db.gz', 'notes.txt'):
        (tmp_path / name).write_text('x')
    with pytest.raises(RetentionError) as err:
        run(tmp_path, last=1)
    message = str(err.value)
    assert message.startswith('path: the directory %r holds 3 file(s) but none is recognised as a backup' % str(tmp_path))
    assert "by prefix 'milos_shop_backup_' and extensions ['.db.gz', '.db.zst', '.db'] with the time as '%Y-%m-%dT%H-%M-%S'" in message
    assert "'notes.txt'" in message and 'refusing to guess' in message
    assert len(err.value.details['ignored']) == 3
    assert len(listing(tmp_path)) == 3


def test_foreign_entries_are_never_touched(tmp_path):
    outside = tmp_path / 'outside'
    outside.mkdir()
    target = make_backup(outside, '2020-01-01 00:00')
    backups = tmp_path / 'backups'
    backups.mkdir()
    for day in range(1, 6):
        make_backup(backups, '2024-01-%02d 03:00' % day)
    foreign = {
        'notes.txt': 'file',
        'milos_shop_backup_garbage.db.gz': 'file',
        'milos_shop_backup_2024-01-01T00-00-00.db.gz.partial': 'file',
        'milos_shop_backup_1999-01-01T00-00-00.db.gz.manifest.json': 'file',
        'milos_shop_backup_2019-01-01T00-00-00.db.gz': 'symlink',
        'milos_shop_backup_2019-01-02T00-00-00.db': 'dir',
    }
    for name, kind in foreign.items():
        if kind == 'file':
            (backups / name).write_text('keep me')
        elif kind == 'symlink':
            os.symlink(str(target), str(backups / name))
        else:
            (backups / name).mkdir()
    result = run(backups, last=1, daily=0, weekly=0, monthly=0)
    assert [os.path.basename(item['path']) for item in result['kept']] == [backup_name('2024-01-05 03:00')]
    assert len(result['deleted']) == 4
    assert {os.path.basename(item['path']): item['reason'] for item in result['ignored']} == {
        'notes.txt': 'name does not match the backup name',
        'milos_shop_backup_garbage.db.gz': "the time in the name does not parse with name_format '%Y-%m-%dT%H-%M-%S'",
        'milos_shop_backup_2024-01-01T00-00-00.db.gz.partial': 'name does not match the backup name',
        'milos_shop_backup_1999-01-01T00-00-00.db.gz.manifest.json': 'manifest without a recognised backup',
        'milos_shop_backup_2019-01-01T00-00-00.db.gz': 'not a regular file (symbolic link)',
        'milos_shop_backup_2019-01-02T00-00-00.db': 'not a regular file (directory)',
    }
    remaining = set(listing(backups))
    assert set(foreign) <= remaining
    assert (backups / 'notes.txt').read_text() == 'keep me'
    assert target.read_bytes() == b'backup' and os.path.islink(str(backups / 'milos_shop_backup_2019-01-01T00-00-00.db.gz'))


def test_manifest_deleted_with_backup(tmp_path):
    make_backup(tmp_path, '2024-01-01 03:00')
    make_backup(tmp_path, '2024-01-02 03:00', manifest=False)
    make_backup(tmp_path, '2024-01-03 03:00')
    result = run(tmp_path, last=1, daily=0, weekly=0, monthly=0)
    assert [(os.path.basename(item['path']), item['manifest'] and os.path.basename(item['manifest'])) for item in result['deleted']] == [
        (backup_name('2024-01-02 03:00'), None),
        (backup_name('2024-01-01 03:00'), backup_name('2024-01-01 03:00') + '.manifest.json'),
    ]
    assert listing(tmp_path) == [backup_name('2024-01-03 03:00'), backup_name('2024-01-03 03:00') + '.manifest.json']


def test_newest_verified_kept_even_when_policy_drops_it(tmp_path):
    make_backup(tmp_path, '2024-01-01 03:00')
    verified = make_backup(tmp_path, '2024-01-02 03:00')
    newest = make_backup(tmp_path, '2024-01-03 03:00', check_result='failed')
    result = run(tmp_path, last=1, daily=0, weekly=0, monthly=0)
    assert [(item['path'], item['reasons']) for item in result['kept']] == [(str(newest), ['last']), (str(verified), ['newest verified'])]
    assert result['newest_verified'] == str(verified)
    assert [os.path.basename(item['path']) for item in result['deleted']] == [backup_name('2024-01-01 03:00')]
    assert result['warnings'] == []


def test_newest_verified_also_named_when_policy_keeps_it(tmp_path):
    newest = make_backup(tmp_path, '2024-01-03 03:00')
    result = run(tmp_path, last=1, daily=0, weekly=0, monthly=0)
    assert result['kept'] == [{'path': str(newest), 'time': '2024-01-03T03:00:00Z', 'reasons': ['last', 'newest verified']}]


def test_manifests_read_newest_first_until_one_verifies(tmp_path, monkeypatch):
    for day in range(1, 29):
        make_backup(tmp_path, '2024-02-%02d 03:00' % day, check_result='ok' if day <= 26 else 'failed')
    read = []
    real = _manifest.verify_file

    def spy(path, *args, **kwargs):
        read.append(os.path.basename(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(_manifest, 'verify_file', spy)
    result = run(tmp_path, check_mode=True)
    assert read == [backup_name('2024-02-28 03:00'), backup_name('2024-02-27 03:00'), backup_name('2024-02-26 03:00')]
    assert result['newest_verified'] == str(tmp_path / backup_name('2024-02-26 03:00'))


@pytest.mark.parametrize('fields, manifest, verified', [
    pytest.param({}, True, True, id='ok'),
    pytest.param({}, False, False, id='no-manifest'),
    pytest.param(dict(check_result='failed'), True, False, id='check-failed'),
    pytest.param(dict(check_result='OK'), True, False, id='check-not-exactly-ok'),
    pytest.param(dict(sha256=''), True, False, id='empty-sha256'),
    pytest.param(dict(sha256=None), True, False, id='no-sha256'),
    pytest.param(dict(backup='milos_shop_backup_2000-01-01T00-00-00.db.gz'), True, False, id='manifest-of-another-file'),
    pytest.param(dict(backup='/app/backups/' + backup_name('2024-01-02 03:00')), True, True, id='backup-as-full-path'),
    pytest.param(dict(size=1), True, False, id='size-changed'),
    pytest.param(dict(size=None), True, True, id='size-absent'),
])
def test_what_verifies(tmp_path, fields, manifest, verified):
    make_backup(tmp_path, '2024-01-01 03:00', check_result='failed')
    path = make_backup(tmp_path, '2024-01-02 03:00', manifest=manifest, **fields)
    result = run(tmp_path, check_mode=True)
    assert result['newest_verified'] == (str(path) if verified else None)
    if not verified:
        assert result['warnings'] and 'passed verification' in result['warnings'][0]


@pytest.mark.parametrize('text', ['{not json', '[1, 2]', '"ok"', ''])
def test_broken_manifest_is_unverified(tmp_path, text):
    path = make_backup(tmp_path, '2024-01-02 03:00')
    (tmp_path / (path.name + '.manifest.json')).write_text(text)
    assert run(tmp_path, check_mode=True)['newest_verified'] is None


def test_check_mode_predicts_the_real_run(tmp_path):
    for day in range(1, 32):
        make_backup(tmp_path, '2024-01-%02d 03:00' % day)
        make_backup(tmp_path, '2024-01-%02d 15:00' % day, manifest=False)
    (tmp_path / 'notes.txt').write_text('x')
    before = listing(tmp_path)
    predicted = run(tmp_path, check_mode=True, diff=True)
    assert listing(tmp_path) == before
    assert predicted['changed'] is True
    assert predicted['msg'].endswith('would delete %d, left 1 other entry alone' % len(predicted['deleted']))

    applied = run(tmp_path, diff=True)
    for key in ('changed', 'kept', 'deleted', 'ignored', 'newest_verified', 'diff'):
        assert applied[key] == predicted[key], key
    gone = set()
    for item in applied['deleted']:
        gone.add(os.path.basename(item['path']))
        if item['manifest']:
            gone.add(os.path.basename(item['manifest']))
    assert set(before) - set(listing(tmp_path)) == gone
    assert applied['diff']['before'].splitlines() == [str(tmp_path / name) for name in before if name != 'notes.txt']
    assert applied['diff']['after'].splitlines() == [str(tmp_path / name) for name in listing(tmp_path) if name != 'notes.txt']

    again = run(tmp_path, check_mode=True, diff=True)
    assert again['changed'] is False and again['deleted'] == []
    assert again['diff']['before'] == again['diff']['after']
    assert run(tmp_path)['changed'] is False


def test_guide_policy_on_a_year_of_daily_backups(tmp_path):
    start = t('2025-01-01 03:00')
    for day in range(366):
        make_backup(tmp_path, (start + datetime.timedelta(days=day)).strftime('%Y-%m-%d %H:%M'), manifest=False)
    result = run(tmp_path)
    # 2025-01-01 .. 2026-01-01 (a Thursday): 7 days (26 Dec 2025 to 1 Jan 2026); 4 ISO weeks: 2026-W01 (1 Jan),
    # 2025-W52 (Sunday 28 Dec, already daily), W51 (21 Dec), W50 (14 Dec); 12 months: January 2026 back to
    # February 2025, each by its last day. The monthly rule is filled at February, so 1 January 2025 goes.
    kept = [item['time'][:10] for item in result['kept']]
    assert kept[:7] == ['2026-01-01', '2025-12-31', '2025-12-30', '2025-12-29', '2025-12-28', '2025-12-27', '2025-12-26']
    assert kept[7:] == ['2025-12-21', '2025-12-14', '2025-11-30', '2025-10-31', '2025-09-30', '2025-08-31', '2025-07-31',
                        '2025-06-30', '2025-05-31', '2025-04-30', '2025-03-31', '2025-02-28']
    assert result['kept'][0]['reasons'] == ['daily', 'weekly', 'monthly']
    assert result['kept'][1]['reasons'] == ['daily', 'monthly']
    assert result['kept'][4]['reasons'] == ['daily', 'weekly']
    assert result['kept'][7]['reasons'] == ['weekly'] and result['kept'][9]['reasons'] == ['monthly']
    assert len(listing(tmp_path)) == len(kept)


def test_time_zone_in_the_directory(tmp_path):
    make_backup(tmp_path, '2024-03-09 12:00')
    make_backup(tmp_path, '2024-03-10 12:00')
    make_backup(tmp_path, '2024-03-10 23:30')
    result = run(tmp_path, check_mode=True, tz=MADRID, daily=2, weekly=0, monthly=0)
    assert [item['time'] for item in result['deleted']] == ['2024-03-09T12:00:00Z']


def test_time_source_mtime(tmp_path):
    names = BackupNames(time_source='mtime')
    for stamp, name in ((1_700_000_000, 'milos_shop_backup_a.db.gz'), (1_700_100_000, 'milos_shop_backup_b.db'),
                        (1_700_200_000, 'milos_shop_backup_c.db.zst')):
        (tmp_path / name).write_text('x')
        os.utime(str(tmp_path / name), (stamp, stamp))
    (tmp_path / 'milos_shop_backup_d.txt').write_text('x')
    result = run(tmp_path, names=names, last=2, daily=0, weekly=0, monthly=0)
    assert [os.path.basename(item['path']) for item in result['kept']] == ['milos_shop_backup_c.db.zst', 'milos_shop_backup_b.db']
    assert result['kept'][0]['time'] == '2023-11-17T05:46:40Z'
    assert [os.path.basename(item['path']) for item in result['deleted']] == ['milos_shop_backup_a.db.gz']
    assert [os.path.basename(item['path']) for item in result['ignored']] == ['milos_shop_backup_d.txt']


def test_pattern_option(tmp_path):
    names = BackupNames(pattern=r'app_(?P<time>\d{8}T\d{6})\.sql\.gz', name_format='%Y%m%dT%H%M%S')
    for stamp in ('20240101T000000', '20240102T000000', '20240103T000000'):
        (tmp_path / ('app_%s.sql.gz' % stamp)).write_text('x')
    (tmp_path / backup_name('2024-01-01 00:00')).write_text('x')
    result = run(tmp_path, names=names, last=1, daily=0, weekly=0, monthly=0)
    assert listing(tmp_path) == ['app_20240103T000000.sql.gz', backup_name('2024-01-01 00:00')]
    assert len(result['deleted']) == 2


def test_delete_error_names_the_file_and_what_was_done(tmp_path, monkeypatch):
    for day in (1, 2, 3):
        make_backup(tmp_path, '2024-01-%02d 03:00' % day)
    victim = str(tmp_path / backup_name('2024-01-01 03:00'))
    real_unlink = os.unlink

    def unlink(path, *args, **kwargs):
        if path == victim:
            raise PermissionError(13, 'Permission denied')
        return real_unlink(path, *args, **kwargs)

    monkeypatch.setattr(_retention.os, 'unlink', unlink)
    with pytest.raises(RetentionError) as err:
        run(tmp_path, last=1, daily=0, weekly=0, monthly=0)
    assert str(err.value) == 'path: could not delete %r: [Errno 13] Permission denied' % victim
    assert [item['path'] for item in err.value.details['deleted']] == [str(tmp_path / backup_name('2024-01-02 03:00'))]
    assert err.value.details['changed'] is True


def test_empty_policy_keeps_all_and_warns(tmp_path):
    make_backup(tmp_path, '2024-01-01 03:00')
    make_backup(tmp_path, '2024-01-02 03:00')
    result = run(tmp_path, daily=0, weekly=0, monthly=0)
    assert result['changed'] is False
    assert [item['reasons'] for item in result['kept']] == [['policy is empty', 'newest verified'], ['policy is empty']]
    assert any('policy is empty' in warning for warning in result['warnings'])


def test_ten_thousand_backups_in_well_under_a_second(tmp_path):
    start = datetime.datetime(2024, 1, 1, tzinfo=UTC)
    directory = str(tmp_path)
    for hour in range(10000):
        name = PREFIX + (start + datetime.timedelta(hours=hour)).strftime('%Y-%m-%dT%H-%M-%S') + '.db.gz'
        os.close(os.open(os.path.join(directory, name), os.O_CREAT | os.O_WRONLY, 0o600))
        # Worst case for the manifests: none verifies, so every one is read.
        handle = os.open(os.path.join(directory, name + '.manifest.json'), os.O_CREAT | os.O_WRONLY, 0o600)
        os.write(handle, b'{"check_result": "failed"}')
        os.close(handle)
    # CPU time, not wall time: the suite runs 4 workers on 2 cores, and another worker's
    # turn on the CPU is not this code's cost (benchmarks/retention_bench.py measures the wall).
    began = time.process_time()
    predicted = run(tmp_path, check_mode=True, diff=True, tz=MADRID)
    check_seconds = time.process_time() - began
    began = time.perf_counter()
    applied = run(tmp_path, tz=MADRID)
    apply_seconds = time.perf_counter() - began
    print('10,000 backups: check mode with diff %.3f CPU-s, real run %.3f s' % (check_seconds, apply_seconds))
    assert len(predicted['kept']) + len(predicted['deleted']) == 10000
    assert applied['deleted'] == predicted['deleted']
    assert len(listing(tmp_path)) == 2 * len(applied['kept'])
    # The plan (scan, every manifest read, policy, diff) is the module's own work: well under a second.
    assert check_seconds < 1.0, check_seconds
    # The real run adds 20,000 unlink calls, whose cost is the file system's; this bound only catches
    # per-file work gone wrong (a subprocess or a rescan per file), not a busy disk.
    assert apply_seconds < 5.0, apply_seconds


# ---------------------------------------------------------------------------
# Issue 8 point 2: never delete the newest backup that verifies *now*
# ---------------------------------------------------------------------------

def flip_one_byte(path):
    """The bytes change, the size does not, the manifest is left as it was."""
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize('check_mode', [True, False])
def test_a_rotten_newest_backup_is_kept_flagged_and_the_newest_good_one_survives(tmp_path, check_mode):
    paths = [make_backup(tmp_path, '2024-03-%02d 03:00' % day, content=os.urandom(2048)) for day in range(1, 11)]
    newest, good = paths[-1], paths[-2]
    size = newest.stat().st_size
    flip_one_byte(newest)
    assert newest.stat().st_size == size
    result = run(tmp_path, check_mode=check_mode, daily=1, weekly=0, monthly=0)
    assert result['newest_verified'] == str(good)
    assert [(item['path'], item['reasons']) for item in result['kept']] == [
        (str(newest), ['daily', 'rotten']), (str(good), ['newest verified'])]
    assert [item['name'] for item in result['rotten']] == [newest.name]
    assert result['rotten'][0]['path'] == str(newest)
    assert 'checksum mismatch' in result['rotten'][0]['problems'][0]
    assert newest.name in result['msg'] and 'rotten' in result['msg']
    assert any(newest.name in warning and 'does not verify now' in warning for warning in result['warnings'])
    assert [item['path'] for item in result['deleted']] == [str(path) for path in reversed(paths[:-2])]
    remaining = listing(tmp_path)
    if check_mode:
        assert len(remaining) == 20
    else:
        assert remaining == sorted([newest.name, newest.name + '.manifest.json', good.name, good.name + '.manifest.json'])
        again = run(tmp_path, daily=1, weekly=0, monthly=0)
        assert again['changed'] is False and again['newest_verified'] == str(good)


def test_walks_back_over_several_rotten_and_deleted_backups(tmp_path):
    paths = [make_backup(tmp_path, '2024-03-%02d 03:00' % day, content=os.urandom(512)) for day in range(1, 7)]
    flip_one_byte(paths[-1])
    paths[-2].unlink()  # deleted, its manifest left: rotten too (it is not in the directory listing as a backup)
    paths[-3].write_bytes(paths[-3].read_bytes()[:-1])  # truncated
    result = run(tmp_path, last=1, daily=0, weekly=0, monthly=0)
    assert result['newest_verified'] == str(paths[-4])
    assert [item['name'] for item in result['rotten']] == [paths[-1].name, paths[-3].name]
    assert {os.path.basename(item['path']) for item in result['deleted']} == {paths[0].name, paths[1].name}
    assert paths[-1].exists() and paths[-3].exists() and paths[-4].exists()


def test_a_newer_backup_without_a_manifest_is_not_rotten(tmp_path):
    good = make_backup(tmp_path, '2024-03-01 03:00')
    unverified = make_backup(tmp_path, '2024-03-02 03:00', manifest=False)
    result = run(tmp_path, check_mode=True, last=1, daily=0, weekly=0, monthly=0)
    assert result['rotten'] == [] and result['newest_verified'] == str(good)
    assert [item['path'] for item in result['kept']] == [str(unverified), str(good)]


# ---------------------------------------------------------------------------
# Issue 8 point 3: retention does not run while a backup holds the directory
# ---------------------------------------------------------------------------

HOLD_LOCK = (
    "import fcntl, os, sys\n"
    "fd = os.open(sys.argv[1], os.O_RDONLY)\n"
    "fcntl.flock(fd, fcntl.LOCK_EX)\n"
    "print('held', flush=True)\n"
    "sys.stdin.readline()\n"
)


def test_waits_for_a_backup_holding_the_directory(tmp_path):
    import subprocess
    import sys
    for day in (1, 2, 3):
        make_backup(tmp_path, '2024-01-%02d 03:00' % day)
    proc = subprocess.Popen([sys.executable, '-c', HOLD_LOCK, str(tmp_path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == 'held'
        with pytest.raises(RetentionError) as err:
            prune(str(tmp_path), Policy(last=1), BackupNames(), lock_timeout=0.3)
        assert str(err.value).startswith('lock_timeout: a backup into %r held its lock for more than 0.3 s; nothing was deleted' % str(tmp_path))
        assert len(listing(tmp_path)) == 6
    finally:
        proc.stdin.close()
        proc.wait(10)
    assert len(prune(str(tmp_path), Policy(last=1), BackupNames(), lock_timeout=5)['deleted']) == 2
