# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This module_utils file is private to the milos_shop.ops collection; it may change
# or go away without notice. Do not use it from other collections.

"""The one duration grammar of the collection.

A duration is one or more ``<number><unit>`` parts: ``y`` (years), ``mo``
(months), ``w`` (weeks), ``d`` (days), ``h`` (hours), ``min`` (minutes), ``s``
(seconds), e.g. ``24h``, ``90min``, ``1d12h``, ``1y6mo``. A bare ``m`` is
refused everywhere: restic reads it as months, most tools as minutes. Years and
months are calendar units: only options that say so accept them (retention's
``keep_within``); elsewhere a duration is an exact number of seconds.
"""

from __future__ import annotations

import re

_DURATION_RE = re.compile(r'(?:[0-9]+(?:mo|min|y|w|d|h|s|m))+')
_PART_RE = re.compile(r'([0-9]+)(mo|min|y|w|d|h|s|m)')
_SECONDS = {'w': 7 * 86400, 'd': 86400, 'h': 3600, 'min': 60, 's': 1}
UNITS_TEXT = 'y (years), mo (months), w (weeks), d (days), h (hours), min (minutes), s (seconds)'


class DurationError(ValueError):
    """A duration that does not parse; the message names the option."""


class Duration(object):
    """A span such as ``1y2mo``, ``2w``, ``36h``: calendar part plus exact seconds."""

    __slots__ = ('text', 'years', 'months', 'days', 'seconds')

    def __init__(self, text, years=0, months=0, days=0, seconds=0):
        self.text = text
        self.years = years
        self.months = months
        self.days = days
        self.seconds = seconds

    def is_zero(self):
        return not (self.years or self.months or self.days or self.seconds)

    def total_seconds(self):
        """Exact seconds (days as 86400 s); ValueError for years or months, which have no fixed length."""
        if self.years or self.months:
            raise DurationError('%r has years or months, which have no fixed length in seconds' % self.text)
        return self.days * 86400 + self.seconds

    def __repr__(self):
        return 'Duration(%r)' % self.text

    def __str__(self):
        return self.text


def grammar_error(option, value, calendar=True):
    """The message for a value that is not a duration: the option, the grammar, an example, the value."""
    units = UNITS_TEXT if calendar else UNITS_TEXT.replace('y (years), mo (months), ', '')
    examples = '24h, 90min, 2w or 1y6mo' if calendar else '24h, 90min or 2w'
    return ('%s: expected a duration made of <number><unit> parts with the units %s, for example %s; got %r'
            % (option, units, examples, value))


def parse_duration(value, option='duration', calendar=True):
    """Parse a duration; with ``calendar=False`` years and months are refused.

    Days and weeks are kept as calendar days in ``Duration.days`` (retention
    moves the wall clock by them); ``total_seconds()`` counts them as 86400 s.
    """
    if isinstance(value, Duration):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        value = '%ds' % value
    if not isinstance(value, str) or not _DURATION_RE.fullmatch(value.strip()):
        raise DurationError(grammar_error(option, value, calendar))
    text = value.strip()
    years = months = days = seconds = 0
    for number, unit in _PART_RE.findall(text):
        n = int(number)
        if unit == 'm':
            raise DurationError(
                '%s: the unit m is ambiguous; write %s; got %r'
                % (option, 'mo for months or min for minutes' if calendar else 'min for minutes', value))
        if unit in ('y', 'mo') and not calendar:
            raise DurationError(
                '%s: years and months have no fixed length; use w, d, h, min or s; got %r' % (option, value))
        if unit == 'y':
            years += n
        elif unit == 'mo':
            months += n
        elif unit in ('w', 'd'):
            days += n * (7 if unit == 'w' else 1)
        else:
            seconds += n * _SECONDS[unit]
    return Duration(text, years, months, days, seconds)


def parse_seconds(value, option='duration', allow_zero=False):
    """An exact duration in seconds (int); numbers alone are seconds. Refuses zero unless ``allow_zero``."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = value
    elif isinstance(value, str) and re.fullmatch(r'\s*[0-9]+(\.[0-9]+)?\s*', value):
        seconds = float(value)
    else:
        seconds = parse_duration(value, option, calendar=False).total_seconds()
    if seconds < 0 or (seconds == 0 and not allow_zero):
        raise DurationError('%s: expected a %s duration, got %r' % (option, 'non-negative' if allow_zero else 'positive', value))
    return int(seconds) if float(seconds).is_integer() else seconds
