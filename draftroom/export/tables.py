"""A table as a grid of slots: where each cell lands once spans are laid out.

Only HTML knows colspan/rowspan natively. DOCX marks merged slots (``gridSpan``,
``vMerge``), RTF repeats merged cells (``\\clvmgf``/``\\clvmrg``) and GFM Markdown has no
merging at all, so those writers need the slots a span covers. They all lay the
table out here, the way HTML does: a cell takes the first free slot of its row, and
a row span never reaches past the last row.
"""

from __future__ import annotations

from dataclasses import dataclass

from draftroom.document.tree import Table, TableCell


@dataclass(frozen=True, slots=True)
class Slot:
    cell: TableCell
    first_row: bool  # the cell's top row (where its content goes)
    first_col: bool  # the cell's leftmost column
    colspan: int  # the span as laid out (clipped at the table's edge)
    rowspan: int


def grid(table: Table) -> list[list[Slot | None]]:
    """Rows of equal length; None marks a slot no cell covers (a short row).

    Spans that would overlap (a column span running into a row span from above) are
    cut short, as browsers show them.
    """
    n_rows = len(table.rows)
    taken: dict[tuple[int, int], Slot] = {}
    width = 0
    for r, row in enumerate(table.rows):
        c = 0
        for cell in row.cells:
            while (r, c) in taken:
                c += 1
            # A span stops where an earlier cell's row span already is: every cell
            # covers a rectangle of its own (DOCX cannot merge anything else).
            colspan = 1
            while colspan < cell.colspan and (r, c + colspan) not in taken:
                colspan += 1
            rowspan = 1
            while rowspan < min(cell.rowspan, n_rows - r) and not any(
                (r + rowspan, c + dc) in taken for dc in range(colspan)
            ):
                rowspan += 1
            for dr in range(rowspan):
                for dc in range(colspan):
                    taken.setdefault(
                        (r + dr, c + dc), Slot(cell, dr == 0, dc == 0, colspan, rowspan)
                    )
            c += colspan
            width = max(width, c)
    return [[taken.get((r, c)) for c in range(width)] for r in range(n_rows)]


def header_rows(table: Table) -> int:
    """How many leading rows hold only header cells (repeated on each page)."""
    count = 0
    for row in table.rows:
        if not row.cells or not all(cell.header for cell in row.cells):
            break
        count += 1
    return count
