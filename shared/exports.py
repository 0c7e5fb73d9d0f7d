"""What the spreadsheet exports of every service share."""
from __future__ import annotations

from typing import Any

from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE


def xlsx_safe(value: Any) -> Any:
    """``value`` with every text freed of the control characters an XLSX cell cannot hold.

    Appeals arrive from many hands (an upstream platform, a pasted sheet) and may carry, say, a
    ``\\x1f``: openpyxl refuses it, and the whole export would fail for one character.
    """
    if isinstance(value, str):
        return ILLEGAL_CHARACTERS_RE.sub("", value)
    if isinstance(value, dict):
        return {key: xlsx_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(xlsx_safe(item) for item in value)
    return value


def csv_bytes(sheets: list[tuple[str, list[str], list[list[Any]]]]) -> bytes:
    """Tables as one CSV, UTF-8 with a BOM (Excel on a Chinese Windows opens it right): each table's
    rows prefixed by its title, under one heading row of the first table's shape."""
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for title, header, rows in sheets:
        writer.writerow([title, *header])
        for row in rows:
            writer.writerow([title, *("" if value is None else value for value in row)])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def xlsx_bytes(sheets: list[tuple[str, list[str], list[list[Any]]]]) -> bytes:
    """Tables as a workbook, one sheet each (title, heading row, rows), every text made XLSX-safe."""
    import io

    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    if book.active is not None:
        book.remove(book.active)
    for title, header, rows in sheets:
        sheet = book.create_sheet(xlsx_safe(title)[:31])
        sheet.append(xlsx_safe(list(header)))
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        for row in rows:
            sheet.append(xlsx_safe(list(row)))
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
