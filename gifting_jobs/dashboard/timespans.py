"""How the dashboard spells a span of time: short, exact enough for an operator ("4 min 12 s")."""

from __future__ import annotations

#: Seconds per unit, largest first, with the unit's short name.
UNITS = ((86400, "d"), (3600, "h"), (60, "min"), (1, "s"))
#: Spans shorter than this are shown in milliseconds.
MILLISECONDS_BELOW = 1.0


def describe_span(seconds: float) -> str:
    """`seconds` as its two largest units ("2 h 5 min", "42 s"); under a second in ms ("850 ms")."""
    if seconds < 0:
        return "-" + describe_span(-seconds)
    if seconds < MILLISECONDS_BELOW:
        return f"{round(seconds * 1000)} ms"
    left = int(seconds)
    parts: list[str] = []
    for size, name in UNITS:
        count, left = divmod(left, size)
        if count or parts:
            parts.append(f"{count} {name}")
        if len(parts) == 2:
            break
    if len(parts) == 2 and parts[1].startswith("0 "):
        parts.pop()
    return " ".join(parts)
