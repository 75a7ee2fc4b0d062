"""Human sizes: 70B, 1.4T, 125M, 32K, 5.76e23, 1,000."""

from __future__ import annotations

import pytest

from scalinglab.runs import format_size, parse_size


@pytest.mark.parametrize(
    ("text", "number"),
    [("70B", 70e9), ("1.4T", 1.4e12), ("125M", 125e6), ("32K", 32e3), ("32k", 32e3),
     ("5.76e23", 5.76e23), ("1,000", 1e3), ("1,000,000.5", 1000000.5), (" 7 B ", 7e9),
     ("2G", 2e9), ("1P", 1e15), (".5M", 5e5), ("-3", -3.0)],
)  # fmt: skip
def test_human_sizes_are_parsed(text, number):
    assert parse_size(text) == pytest.approx(number, rel=1e-15)


@pytest.mark.parametrize("text", ["abc", "1,5", "7X", "1.2.3", "", "B", "12,34,567"])
def test_non_numbers_are_refused(text):
    with pytest.raises(ValueError, match="not a number"):
        parse_size(text)


def test_format_size_round_trips_through_parse_size():
    for x in (70e9, 1.4e12, 125.5e6, 6795600349.289497, 12.0):
        assert parse_size(format_size(x)) == pytest.approx(x, rel=1e-5)
