"""Server-rendered SVG line charts for the dashboard: no script, no chart library, no build step.

A chart is inline SVG in the page's HTML, so the dashboard's auto refresh
replaces it with the rest of the live part. Text and grid take the admin's
text colour (`currentColor`); each line's colour is a CSS class
(`gj-series-<name>` in dashboard.css, lighter in the dark theme) over a
fallback attribute. Every point has a `<title>`: hovering it shows its value.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

#: The drawing's own coordinates (it scales to its container's width).
WIDTH, HEIGHT = 760, 200
#: Room for the y labels (left), the legend (top) and the x labels (bottom).
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 44, 14, 30, 26
#: Horizontal gridlines aimed at (the step is rounded to 1, 2 or 5 times a power of ten).
TARGET_GRIDLINES = 4
#: Width of one legend entry.
LEGEND_ENTRY_WIDTH = 170
POINT_RADIUS = 2.5
LINE_WIDTH = 2


@dataclass(frozen=True)
class Line:
    """One series: `name` picks its CSS class (`gj-series-<name>`), `colour` is the fallback."""

    name: str
    label: str
    colour: str
    values: tuple[int, ...]


def nice_step(raw: float) -> int:
    """The smallest of 1, 2, 5 x 10^k (at least 1: counts are whole) that is >= `raw`."""
    if raw <= 1:
        return 1
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if factor * power >= raw:
            return int(factor * power)
    return int(10 * power)


def _join(parts: Sequence[SafeString]) -> SafeString:
    # Every part comes from format_html (or this function): joining keeps them escaped.
    return mark_safe("".join(parts))


def line_chart(*, title: str, x_labels: Sequence[str], lines: Sequence[Line], ticks: Sequence[int]) -> SafeString:
    """An SVG line chart of `lines` over the points labelled `x_labels` (at least two).

    The x labels of the points at `ticks` (indexes, ascending) are printed, and
    the last point's unless it is too close to the last tick; the y axis starts
    at 0 and ends at a round number above the largest value.
    """
    points = len(x_labels)
    if points < 2 or any(len(line.values) != points for line in lines):
        raise ValueError(f"a chart needs two or more points and one value per point in every line; got {points}")
    peak = max((max(line.values) for line in lines), default=0)
    step = nice_step(peak / TARGET_GRIDLINES)
    top = max(step, step * math.ceil(peak / step))
    plot_width = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    plot_height = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM

    def x(index: int) -> float:
        return round(MARGIN_LEFT + index * plot_width / (points - 1), 1)

    def y(value: int) -> float:
        return round(MARGIN_TOP + plot_height * (1 - value / top), 1)

    parts: list[SafeString] = []
    for value in range(0, top + 1, step):
        parts.append(
            format_html(
                '<line class="gj-grid" x1="{}" x2="{}" y1="{}" y2="{}" stroke="currentColor" stroke-opacity="0.15"/>'
                '<text class="gj-axis" x="{}" y="{}" text-anchor="end" fill="currentColor">{}</text>',
                MARGIN_LEFT,
                WIDTH - MARGIN_RIGHT,
                y(value),
                y(value),
                MARGIN_LEFT - 6,
                y(value) + 4,
                value,
            )
        )
    labelled = set(ticks)
    gap = min((b - a for a, b in itertools.pairwise(ticks)), default=points)
    if not ticks or points - 1 - ticks[-1] > gap // 2:
        labelled.add(points - 1)
    for index, text in enumerate(x_labels):
        if index in labelled:
            # The last label ends at its point, so it is never cut off at the right edge.
            anchor = "end" if index == points - 1 else "middle"
            parts.append(
                format_html(
                    '<text class="gj-axis" x="{}" y="{}" text-anchor="{}" fill="currentColor">{}</text>',
                    x(index),
                    HEIGHT - 8,
                    anchor,
                    text,
                )
            )
    for position, line in enumerate(lines):
        parts.append(_legend_entry(line, MARGIN_LEFT + position * LEGEND_ENTRY_WIDTH))
        coordinates = " ".join(f"{x(i)},{y(v)}" for i, v in enumerate(line.values))
        dots = _join(
            [
                format_html(
                    '<circle cx="{}" cy="{}" r="{}"><title>{}: {} {}</title></circle>',
                    x(i),
                    y(v),
                    POINT_RADIUS,
                    x_labels[i],
                    v,
                    line.label,
                )
                for i, v in enumerate(line.values)
            ]
        )
        parts.append(
            format_html(
                '<g class="gj-series gj-series-{}" stroke="{}" fill="{}">'
                '<polyline points="{}" fill="none" stroke-width="{}"/>{}</g>',
                line.name,
                line.colour,
                line.colour,
                coordinates,
                LINE_WIDTH,
                dots,
            )
        )
    return format_html(
        '<svg class="gj-chart" viewBox="0 0 {} {}" role="img" aria-label="{}" '
        'xmlns="http://www.w3.org/2000/svg"><title>{}</title>{}</svg>',
        WIDTH,
        HEIGHT,
        title,
        title,
        _join(parts),
    )


def _legend_entry(line: Line, left: float) -> SafeString:
    total = sum(line.values)
    return format_html(
        '<g class="gj-series gj-series-{}" fill="{}"><rect x="{}" y="8" width="12" height="12" rx="2"/></g>'
        '<text class="gj-legend" x="{}" y="18" fill="currentColor">{} ({})</text>',
        line.name,
        line.colour,
        left,
        left + 17,
        line.label,
        total,
    )
