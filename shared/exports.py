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
