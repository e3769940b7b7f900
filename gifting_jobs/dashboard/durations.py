"""Durations as an operator reads them on the dashboard: "850 ms", "12.3 s", "4 min 05 s", "2 h 03 min"."""

from __future__ import annotations

MS_PER_SECOND = 1000
SECONDS_PER_MINUTE = 60
SECONDS_PER_HOUR = 3600
#: Below this many seconds, tenths of a second are shown.
TENTHS_BELOW_SECONDS = 60


def format_duration(ms: int | float) -> str:
    """A short human form of a duration in milliseconds."""
    if ms < MS_PER_SECOND:
        return f"{int(ms)} ms"
    seconds = ms / MS_PER_SECOND
    if seconds < TENTHS_BELOW_SECONDS:
        return f"{seconds:.1f} s"
    whole = int(seconds)
    if whole < SECONDS_PER_HOUR:
        return f"{whole // SECONDS_PER_MINUTE} min {whole % SECONDS_PER_MINUTE:02d} s"
    return f"{whole // SECONDS_PER_HOUR} h {whole % SECONDS_PER_HOUR // SECONDS_PER_MINUTE:02d} min"
