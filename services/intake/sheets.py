"""Reading problem sheets (企业问题办理单) and enterprise lists from CSV and XLSX."""
from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from marshmallow import ValidationError
from sqlalchemy.orm import Session

from shared.errors import DomainError, InvalidInput, UnsupportedMediaType

XLSX_TYPES = {"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "application/xlsx"}
CSV_TYPES = {"text/csv", "application/csv"}
MAX_ROWS = 20000


def _decode(raw: bytes) -> str:
    # Excel on Chinese Windows saves CSV in GB18030 (GBK); elsewhere UTF-8, often with a BOM.
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise InvalidInput("the CSV file is neither UTF-8 nor GB18030 text")


def read_csv(raw: bytes) -> list[dict[str, Any]]:
    """Rows of a CSV file whose lines end in CRLF (Windows), LF, or a bare CR ("CSV (Macintosh)")."""
    # newline="": the csv module splits the lines itself, on any of the three (as the csv docs ask)
    reader = csv.DictReader(io.StringIO(_decode(raw), newline=""))
    try:
        if not reader.fieldnames:
            raise InvalidInput("the CSV file has no heading row")
        return _bounded(list(reader))
    except csv.Error as exc:
        raise InvalidInput(f"the CSV file cannot be read: {exc}") from None


def read_xlsx(raw: bytes) -> list[dict[str, Any]]:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
    except Exception as exc:
        raise InvalidInput(f"not a readable XLSX workbook: {type(exc).__name__}") from None
    sheet = workbook.worksheets[0]
    rows = sheet.iter_rows(values_only=True)
    headings = next(rows, None)
    if not headings:
        raise InvalidInput("the workbook's first sheet has no heading row")
    headings = [str(h).strip() if h is not None else None for h in headings]
    records = [dict(zip(headings, values, strict=False)) for values in rows]  # short rows: blank cells
    workbook.close()
    return _bounded(records)


def _bounded(rows: list[dict]) -> list[dict]:
    if len(rows) > MAX_ROWS:
        raise InvalidInput(f"a sheet may have at most {MAX_ROWS} rows; split it")
    return rows


def read_upload(request) -> list[dict[str, Any]]:
    """Rows of the uploaded sheet: a raw CSV/XLSX body, or a multipart field ``file``."""
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None:
            raise InvalidInput("send the sheet in the multipart field 'file'")
        raw, name, mimetype = upload.read(), (upload.filename or "").lower(), upload.mimetype
    else:
        raw, name, mimetype = request.get_data(), "", request.mimetype
    if not raw:
        raise InvalidInput("the uploaded sheet is empty")
    if mimetype in XLSX_TYPES or name.endswith(".xlsx") or raw[:2] == b"PK":
        return read_xlsx(raw)
    if mimetype in CSV_TYPES or name.endswith(".csv") or mimetype.startswith("text/"):
        return read_csv(raw)
    raise UnsupportedMediaType("send the sheet as text/csv or an XLSX workbook")


# ---------------------------------------------------------------- importing, row by row
@dataclass
class RowReport:
    row: int
    status: str  # accepted / duplicate / updated / refused
    appeal_id: str | None = None
    errors: dict | None = None


def filled(raw: dict[str, Any]) -> dict[str, Any]:
    """A sheet's row without its empty cells (and without the cells of no heading)."""
    return {k: v for k, v in raw.items() if k is not None and v not in (None, "")}


def import_sheet(session: Session, rows: Iterable[dict[str, Any]], read: Callable[[dict[str, Any]], Any],
                 apply: Callable[[Any], tuple[str, str | None]], first_row: int = 2) -> list[RowReport]:
    """Every import of a sheet: each row on its own savepoint, so a refused row changes nothing and
    stops nothing, and a report line per row (``first_row``: the number of the sheet's first data
    row). ``read`` turns a row into valid data (None: an empty line, skipped; a ValidationError
    refuses the row); ``apply`` writes it and says how it went (status, appeal id); a domain error
    refuses the row with its fields."""
    report: list[RowReport] = []
    for number, raw in enumerate(rows, start=first_row):
        try:
            data = read(raw)
            if data is None:
                continue
            with session.begin_nested():
                status, appeal_id = apply(data)
        except ValidationError as exc:
            report.append(RowReport(number, "refused", errors=exc.messages))
            continue
        except DomainError as exc:
            report.append(RowReport(number, "refused", errors=exc.fields or {"_schema": [exc.message]}))
            continue
        report.append(RowReport(number, status, appeal_id))
    return report
