"""How the dashboard spells spans of time."""

from __future__ import annotations

import pytest

from gifting_jobs.dashboard.timespans import describe_span


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0 ms"),
        (0.8504, "850 ms"),
        (1, "1 s"),
        (42.9, "42 s"),
        (60, "1 min"),
        (303, "5 min 3 s"),
        (3600, "1 h"),
        (7500, "2 h 5 min"),
        (3 * 86400 + 4 * 3600 + 59, "3 d 4 h"),
        (-90, "-1 min 30 s"),
    ],
)
def test_describe_span__two_largest_units(seconds: float, text: str) -> None:
    assert describe_span(seconds) == text
