"""年度考核: the year's score and ranking of the units (seed 003: Hanzhong scores units yearly on the
resolution rate and satisfaction, with deductions, into the annual target assessment).

The year's counts and rates are the measures of the year as one period (``measures.counts_by``
over ``[1 Jan, 1 Jan)`` Shanghai, per unit); the base score is the profile's scheme
(``domain.score``: weighted rates minus the automatic deductions per overdue escalation and
per return); the office's manual deductions and bonuses (``score_adjustments``, each with a
reason, the person who entered it and when) are added; the units are ranked within their
group (departments, localities) on the final score.

:func:`to_xlsx` writes the table in the layout an assessment office files (年度考核汇总表):
title, the scheme and weights, one row per unit with 序号, 单位, 类别, the counts and rates,
基础得分, 自动扣分, 人工加减分, 最终得分, 名次, and a second sheet with every adjustment.
"""
from __future__ import annotations

from datetime import date, datetime
from io import BytesIO

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from services.assessment import domain, measures
from services.assessment.models import score_adjustments as adjustments
from shared.errors import InvalidInput

GROUP_NAMES = {"department": "部门", "locality": "属地"}
MAX_POINTS = 100.0


def year_period(year: int) -> domain.Period:
    if not 2000 <= year <= 2999:
        raise InvalidInput("invalid year", {"year": ["a year from 2000 to 2999"]})
    period = domain.range_period(date(year, 1, 1), date(year, 12, 31))
    return domain.Period("year", str(year), period.start, period.end)


# ---------------------------------------------------------------- the manual adjustments (an audit trail)
def check_adjustment(body: dict, known_units: set[str]) -> None:
    errors = {}
    if body["unit"] not in known_units:
        errors["unit"] = [f"not a ranked unit (department or locality): {body['unit']}"]
    if body["points"] == 0 or abs(body["points"]) > MAX_POINTS:
        errors["points"] = [f"a deduction (negative) or a bonus (positive), at most {MAX_POINTS:g} points"]
    if errors:
        raise InvalidInput("invalid adjustment", errors)


def add_adjustment(session: Session, year: int, body: dict, *, actor: str, now: datetime) -> dict:
    row = {"year": year, "unit": body["unit"], "points": round(float(body["points"]), 2), "reason": body["reason"],
           "entered_by": actor, "entered_at": now}
    new_id = session.execute(insert(adjustments).values(**row).returning(adjustments.c.id)).scalar_one()
    return {"id": new_id, **row}


def adjustments_of(session: Session, year: int, unit: str | None = None) -> list[dict]:
    query = select(adjustments).where(adjustments.c.year == year).order_by(adjustments.c.entered_at,
                                                                           adjustments.c.id)
    if unit:
        query = query.where(adjustments.c.unit == unit)
    return [dict(row._mapping) for row in session.execute(query)]


# ---------------------------------------------------------------- the year's table
def build(session: Session, year: int, part: dict, units: dict, now: datetime) -> dict:
    scoring = part["scoring"]
    period = year_period(year)
    groups = {code: u["type"] for code, u in units.items() if u["type"] in GROUP_NAMES}
    counts = measures.counts_by(session, period, "unit", now)
    entered = adjustments_of(session, year)
    rows, finals = [], {}
    for code in sorted(groups):
        c = counts.get(code) or {name: 0 for name in measures.ALL_COUNTS}
        rates = domain.rates(c)
        base = domain.score(rates, c, scoring)
        automatic = round(sum(points * int(c.get(domain.DEDUCTIONS[name]) or 0)
                              for name, points in (scoring.get("deductions") or {}).items()), 2)
        manual = round(sum(a["points"] for a in entered if a["unit"] == code), 2)
        final = None if base is None else round(base + manual, 2)
        finals[code] = final
        rows.append({"unit": code, "name": units[code].get("name", code), "group": GROUP_NAMES[groups[code]],
                     "counts": c, "rates": rates, "base_score": base, "automatic_deductions": automatic,
                     "manual_adjustments": manual, "final_score": final,
                     "adjustments": [a for a in entered if a["unit"] == code]})
    ranks = {r.unit: r.rank for r in domain.rank(finals, groups)}
    for row in rows:
        row["rank"] = ranks.get(row["unit"])
    rows.sort(key=lambda r: (r["group"] != "部门", r["rank"] is None, r["rank"] or 0, r["unit"]))
    return {"year": year, "title": f"{year}年度企业诉求办理考核", "scheme": scoring["name"],
            "scale": scoring.get("scale", 100), "weights": scoring["weights"],
            "deductions": scoring.get("deductions") or {}, "start": period.start, "end": period.end,
            "generated_at": now, "units": rows}


def for_unit(table: dict, unit: str) -> dict:
    """What a unit sees: its own row, with its adjustments and their reasons."""
    return {**table, "units": [row for row in table["units"] if row["unit"] == unit]}


def to_xlsx(table: dict) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Border, Font, Side
    from openpyxl.utils import get_column_letter

    weights = table["weights"]
    rate_keys = list(weights)
    headings = ["序号", "单位", "类别", "新增诉求", "已解决", "回访数", "满意及基本满意",
                *[f"{domain.RATES[k][2]}（权重{weights[k]:g}）" for k in rate_keys],
                "基础得分", "自动扣分", "人工加减分", "最终得分", "名次", "加减分事由"]
    book = Workbook()
    sheet = book.active
    sheet.title = "年度考核汇总表"
    thin = Side(style="thin")
    border = Border(left=thin, right=thin, top=thin, bottom=thin)
    sheet.append([table["title"]])
    sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(headings))
    sheet["A1"].font = Font(bold=True, size=16)
    sheet["A1"].alignment = Alignment(horizontal="center")
    deductions = "；".join(f"{ {'overdue_escalation': '超期提级', 'return': '退单'}.get(k, k)}每次扣{v:g}分"
                           for k, v in table["deductions"].items())
    sheet.append([f"考核方案：{table['scheme']}（满分{table['scale']:g}分；{deductions or '无自动扣分'}）"])
    sheet.merge_cells(start_row=2, start_column=1, end_row=2, end_column=len(headings))
    sheet.append(headings)
    for cell in sheet[3]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
        cell.border = border
    for number, row in enumerate(table["units"], start=1):
        c = row["counts"]
        reasons = "；".join(f"{a['points']:+g}分：{a['reason']}" for a in row["adjustments"])
        sheet.append([number, row["name"], row["group"], c["received"], c["solved"], c["answered"], c["satisfied"],
                      *[None if row["rates"][k] is None else round(row["rates"][k], 4) for k in rate_keys],
                      row["base_score"], -row["automatic_deductions"] if row["automatic_deductions"] else 0,
                      row["manual_adjustments"], row["final_score"], row["rank"], reasons])
        for cell in sheet[sheet.max_row]:
            cell.border = border
        for index in range(len(rate_keys)):
            sheet.cell(row=sheet.max_row, column=8 + index).number_format = "0.00%"
    widths = [6, 22, 8, 10, 8, 8, 14, *[18] * len(rate_keys), 10, 10, 12, 10, 6, 40]
    for index, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "A4"
    sheet.append([])
    sheet.append([f"生成时间：{table['generated_at'].astimezone(domain.SHANGHAI):%Y-%m-%d %H:%M}"])

    trail = book.create_sheet("加减分明细")
    trail.append(["序号", "单位", "分值", "事由", "录入人", "录入时间"])
    for cell in trail[1]:
        cell.font = Font(bold=True)
    names = {row["unit"]: row["name"] for row in table["units"]}
    number = 0
    for row in table["units"]:
        for a in row["adjustments"]:
            number += 1
            trail.append([number, names[a["unit"]], a["points"], a["reason"], a["entered_by"],
                          a["entered_at"].astimezone(domain.SHANGHAI).strftime("%Y-%m-%d %H:%M")])
    for index, width in enumerate([6, 22, 8, 50, 24, 18], start=1):
        trail.column_dimensions[get_column_letter(index)].width = width
    out = BytesIO()
    book.save(out)
    return out.getvalue()
