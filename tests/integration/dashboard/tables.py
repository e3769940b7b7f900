"""Read a dashboard page's HTML table as rows of cell texts (the standard library's parser, no extra package)."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser


@dataclass
class Row:
    """One `<tr>`: its attributes and the text of each cell (whitespace collapsed)."""

    attrs: dict[str, str]
    cells: list[str] = field(default_factory=list)


class _TableParser(HTMLParser):
    def __init__(self, table_id: str) -> None:
        super().__init__()
        self.table_id = table_id
        self.depth = 0  # Nesting depth of <table> inside the wanted one (0: outside it).
        self.rows: list[Row] = []
        self.cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "table" and (self.depth or values.get("id") == self.table_id):
            self.depth += 1
        elif self.depth and tag == "tr":
            self.rows.append(Row(attrs=values))
        elif self.depth and tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "table" and self.depth:
            self.depth -= 1
        elif self.depth and tag in ("td", "th") and self.cell is not None:
            self.rows[-1].cells.append(" ".join("".join(self.cell).split()))
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def table_rows(html: str, table_id: str) -> list[Row]:
    """The rows of the table with id `table_id` (header and footer rows included); AssertionError if absent."""
    parser = _TableParser(table_id)
    parser.feed(html)
    assert parser.rows, f"no table #{table_id} with rows in the page"
    return parser.rows
