# Copyright: milos_shop.ops contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests of module_utils/_duration.py: the one duration grammar of the collection."""

from __future__ import annotations

import pytest

from ansible_collections.milos_shop.ops.plugins.module_utils._duration import DurationError, parse_duration, parse_seconds
from ansible_collections.milos_shop.ops.plugins.module_utils._retention import RetentionError, parse_duration as retention_duration


@pytest.mark.parametrize("text, parts", [
    ("36h", (0, 0, 0, 36 * 3600)),
    ("2d", (0, 0, 2, 0)),
    ("1w", (0, 0, 7, 0)),
    ("3mo", (0, 3, 0, 0)),
    ("1y", (1, 0, 0, 0)),
    ("90min", (0, 0, 0, 5400)),
    ("45s", (0, 0, 0, 45)),
    ("1y2mo3w4d5h6min7s", (1, 2, 25, 5 * 3600 + 6 * 60 + 7)),
    (30, (0, 0, 0, 30)),
])
def test_parse_duration(text, parts):
    duration = parse_duration(text, "opt")
    assert (duration.years, duration.months, duration.days, duration.seconds) == parts


@pytest.mark.parametrize("value, seconds", [
    ("90min", 5400), ("1d12h", 129600), ("2w", 1209600), (30, 30), ("30", 30), ("1.5", 1.5), (2.5, 2.5), ("45s", 45),
])
def test_parse_seconds(value, seconds):
    assert parse_seconds(value, "restart_window") == seconds


@pytest.mark.parametrize("value, calendar, message", [
    ("3m", True, "opt: the unit m is ambiguous; write mo for months or min for minutes; got '3m'"),
    ("3m", False, "opt: the unit m is ambiguous; write min for minutes; got '3m'"),
    ("1y", False, "opt: years and months have no fixed length; use w, d, h, min or s; got '1y'"),
    ("2 d", True, "opt: expected a duration made of <number><unit> parts"),
    ("", True, "got ''"),
    ("-1d", True, "got '-1d'"),
    ("7D", True, "got '7D'"),
    (None, True, "got None"),
])
def test_errors_name_the_option_and_value(value, calendar, message):
    with pytest.raises(DurationError) as err:
        parse_duration(value, "opt", calendar=calendar)
    assert message in str(err.value)


def test_non_calendar_message_has_no_calendar_units():
    with pytest.raises(DurationError) as err:
        parse_duration("soon", "opt", calendar=False)
    assert "y (years)" not in str(err.value) and "1y6mo" not in str(err.value)


@pytest.mark.parametrize("value, allow_zero, ok", [(0, False, False), (0, True, True), ("0s", True, True), (-1, True, False)])
def test_parse_seconds_zero_and_negative(value, allow_zero, ok):
    if ok:
        assert parse_seconds(value, "opt", allow_zero=allow_zero) == 0
    else:
        with pytest.raises(DurationError, match="^opt: expected a"):
            parse_seconds(value, "opt", allow_zero=allow_zero)


def test_seconds_of_calendar_units_are_refused():
    with pytest.raises(DurationError, match="no fixed length"):
        parse_duration("1mo", "opt").total_seconds()


@pytest.mark.parametrize("value, message", [
    ("3m", "keep_within: the unit m is ambiguous; write mo for months or min for minutes; got '3m'"),
    (7, "keep_within: expected a duration made of <number><unit> parts"),
    (" 2d", "got ' 2d'"),
])
def test_retention_uses_the_same_grammar_and_names_its_option(value, message):
    with pytest.raises(RetentionError) as err:
        retention_duration(value)
    assert message in str(err.value)
    assert retention_duration("1y6mo").months == 6
