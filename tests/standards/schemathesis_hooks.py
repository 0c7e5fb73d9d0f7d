"""What schemathesis needs to know about Suqiu's data that JSON Schema cannot say.

Loaded with ``SCHEMATHESIS_HOOKS=tests.standards.schemathesis_hooks``. Each entry below
teaches the generator one rule the OpenAPI documents name but cannot express; none relaxes a
check, and each rule is tested on its own by the services' tests:

* ``format: uscc``: a unified social credit code with its GB 32100-2015 check character
  (``services/intake/tests/test_domain.py``);
* the bodies of ``text/csv`` and XLSX uploads: real sheets, with any headings and cells, in
  UTF-8 or GB18030, with CRLF, LF or bare-CR line ends (``test_intake_integration.py``);
* times on one side of the server's clock: ``collected_at`` and ``called_at`` not in the future
  (nor a visit's ``visited_on``, ``services/intake/tests/test_subjects_domain.py``),
  a supervision order's ``due_at`` after now: a generated time on the wrong side is moved.
  "Now" is the server's, read from the ``Date`` header of its ``/healthz`` (RFC 9110) when
  ``SUQIU_SERVER`` names it: the services may run under another clock than the tool (the CI's
  runs at 23:30 and 10:00 Shanghai time fake the services' clock, not schemathesis');
* a period's ``to`` not before its ``from`` (``/api/v1/rates``): a reversed pair is swapped
  (``services/assessment/tests/test_domain.py``).
"""
from __future__ import annotations

import csv
import io
import os
import urllib.request
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from functools import cache

import schemathesis
from hypothesis import strategies as st
from stdnum.cn import uscc

from shared.workdays import SHANGHAI

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # GB 32100-2015: no I, O, S, V, Z


@st.composite
def credit_codes(draw) -> str:
    body = draw(st.text("0123456789", min_size=8, max_size=8)) + draw(st.text(ALPHABET, min_size=9, max_size=9))
    return body + uscc.calc_check_digit(body)


schemathesis.openapi.format("uscc", credit_codes())

SHEET_HEADINGS = ["统一社会信用代码", "企业名称", "问题标题", "问题描述", "问题类别", "所属区县",
                  "收集渠道", "收集时间", "外部编号", "联系人", "联系电话", "credit_code", "name", "district",
                  "industry", "size", "cadre", "leader", "tags"]
# what a spreadsheet cell may hold: no NUL and no control character an XLSX cannot store
cell_text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=20)
cells = st.one_of(cell_text, credit_codes(), st.sampled_from(["visit", "hotline", "2026-11-20 10:00", "小型", "甲区"]))


@st.composite
def sheets(draw) -> list[list[str]]:
    headings = draw(st.lists(st.one_of(st.sampled_from(SHEET_HEADINGS), cell_text.filter(bool)),
                             min_size=1, max_size=8, unique=True))
    rows = draw(st.lists(st.lists(cells, min_size=len(headings), max_size=len(headings)), max_size=4))
    return [headings, *rows]


@st.composite
def csv_files(draw) -> bytes:
    table = draw(sheets())
    out = io.StringIO()
    csv.writer(out, lineterminator=draw(st.sampled_from(["\r\n", "\n", "\r"]))).writerows(table)
    text = out.getvalue()
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "gb18030"]))
    return text.encode(encoding, errors="replace") if encoding == "gb18030" else text.encode(encoding)


@st.composite
def xlsx_files(draw) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook()
    for row in draw(sheets()):
        workbook.active.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


schemathesis.openapi.media_type("text/csv", csv_files())
schemathesis.openapi.media_type("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", xlsx_files())


def _parse(value) -> datetime | None:
    """The moment a body's time names (without an offset: Asia/Shanghai, as the services read it)."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=SHANGHAI)


@cache
def _server_offset() -> timedelta:
    """How far the server's clock is from this process's, to the second (its ``Date`` header)."""
    server = os.environ.get("SUQIU_SERVER")
    if not server:
        return timedelta(0)
    with urllib.request.urlopen(f"{server.rstrip('/')}/healthz", timeout=10) as response:
        told = parsedate_to_datetime(response.headers["Date"])
    return told - datetime.now(timezone.utc)


def server_now() -> datetime:
    return datetime.now(timezone.utc) + _server_offset()


# body fields that may not lie after the server's now, and one that must
NOT_AFTER_NOW = {"/api/v1/appeals": "collected_at", "/api/v1/appeals/{appeal_id}/callback": "called_at"}
AFTER_NOW = {"/api/v1/appeals/{appeal_id}/orders": "due_at"}
# a day (ISO date) that may not lie after the city's today: a visit (走访)
DAY_NOT_AFTER_TODAY = {"/api/v1/visits": "visited_on"}


@schemathesis.hook
def map_body(context, body):
    """A rule about the server's clock (no schema can say "now"): move the time to the right side of it."""
    if context.operation is None or not isinstance(body, dict):
        return body
    path, now = context.operation.path, server_now()
    name = NOT_AFTER_NOW.get(path)
    if name and (moment := _parse(body.get(name))) is not None and moment > now:
        body = {**body, name: (now - timedelta(days=1)).isoformat()}
    name = AFTER_NOW.get(path)
    if name and (moment := _parse(body.get(name))) is not None and moment <= now:
        body = {**body, name: (now + timedelta(days=30)).isoformat()}
    name = DAY_NOT_AFTER_TODAY.get(path)
    if name and isinstance(body.get(name), str) and body[name] > (now - timedelta(days=1)).date().isoformat():
        body = {**body, name: (now - timedelta(days=1)).date().isoformat()}
    return body


@schemathesis.hook
def map_query(context, query):
    """A period ends after it starts: a reversed ``from``/``to`` pair is swapped."""
    if context.operation is None or context.operation.path != "/api/v1/rates" or not isinstance(query, dict):
        return query
    start, end = query.get("from"), query.get("to")
    if isinstance(start, str) and isinstance(end, str) and end < start:
        query = {**query, "from": end, "to": start}
    return query
