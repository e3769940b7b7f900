"""Plain-text formatting of the demo's output: section headings, aligned tables, durations, prices."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

#: Widest a table cell may be before it is cut (with an ellipsis).
DEFAULT_MAX_CELL = 48
#: Columns between two table columns.
COLUMN_GAP = "  "
#: Marks a cut cell.
ELLIPSIS = "..."
#: Indent of everything under a section heading.
INDENT = "  "


def heading(text: str) -> list[str]:
    """A section heading, underlined, with a blank line before it."""
    return ["", text, "-" * len(text)]


def clip(text: str, width: int = DEFAULT_MAX_CELL) -> str:
    """`text` on one line, cut to `width` characters with an ellipsis when longer."""
    line = " ".join(str(text).split())
    if len(line) <= width:
        return line
    return line[: width - len(ELLIPSIS)].rstrip() + ELLIPSIS


def table(
    headers: Sequence[str],
    rows: Sequence[Sequence[object]],
    *,
    right: Sequence[int] = (),
    max_cell: int = DEFAULT_MAX_CELL,
) -> list[str]:
    """Rows under headers, columns aligned (the `right` indexes right-aligned), indented; one string per line."""
    cells = [[clip(str(h), max_cell) for h in headers], *[[clip(str(c), max_cell) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: list[str]) -> str:
        parts = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        return (INDENT + COLUMN_GAP.join(parts)).rstrip()

    rule = INDENT + COLUMN_GAP.join("-" * w for w in widths)
    return [line(cells[0]), rule, *(line(row) for row in cells[1:])]


def seconds(value: float) -> str:
    """A duration for people: "0.42 s", "3.1 s", "75 s"."""
    if value < 1:
        return f"{value:.2f} s"
    if value < 10:
        return f"{value:.1f} s"
    return f"{value:.0f} s"


def milliseconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def price(amount: Decimal | None, currency: str) -> str:
    return "-" if amount is None else f"{amount:.2f} {currency}".strip()
