"""The report document in the formats people use: HTML with charts, XLSX, CSV (JSON is the document).

Charts are drawn with matplotlib's Agg backend into PNGs embedded as base64. A
font that renders Chinese is looked for among the usual CJK families
(``fonts-noto-cjk`` on Debian/Ubuntu); on a machine without one the charts fall
back to unit codes and ASCII titles instead of drawing empty boxes, and the HTML
says so.
"""
from __future__ import annotations

import base64
import csv
import io
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from services.assessment.domain import COUNT_LABELS, SHANGHAI, percent
from shared.exports import xlsx_safe

CJK_FAMILIES = ("Noto Sans CJK SC", "Noto Serif CJK SC", "Source Han Sans SC", "WenQuanYi Zen Hei",
                "WenQuanYi Micro Hei", "SimHei", "Microsoft YaHei", "PingFang SC", "Noto Sans SC")
SUMMARY_LABELS = {
    "new_appeals": "新增诉求", "dispatched": "本期交办", "pending": "其中待签收（期限内，不计入响应率）",
    "returned_in_time": "其中期限内退单（不计入响应率）", "resolved": "本期解决",
    "resolved_within_week": "其中一周内解决",
    "resolved_within_deadline": "其中期限内解决", "closed": "本期办结", "closed_explained": "解释说明办结",
    "closed_long_term": "纳入长期规划", "callbacks_answered": "回访数", "callbacks_unanswered": "回访未应答",
    "overdue": "超期诉求",
}
COLOUR_LABELS = {"green": "绿色", "yellow": "黄色", "red": "红色", "none": "未赋码"}
CSV_HEADER = ["栏目", "对象", "指标", "值"]
# the counts shown beside each unit's rates (who is measured: docs/measures.md)
UNIT_COUNTS = ("dispatched", "pending", "returned_in_time", "response_counted", "responded", "received", "solved",
               "closed", "closed_explained", "closed_long_term", "answered", "unanswered", "returns", "overdue",
               "overdue_escalations")
COORDINATION_SECTION = "协调层级（督办、市级、省级；单列，不参与排名）"
XLSX_PERCENT = "0.0%"


def _local(moment) -> str:
    if isinstance(moment, str):  # a published (frozen) report keeps its instants as ISO 8601 text
        try:
            moment = datetime.fromisoformat(moment)
        except ValueError:
            return moment
    if isinstance(moment, datetime):
        return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
    return "" if moment is None else str(moment)


# ---------------------------------------------------------------- rows shared by CSV and XLSX
def rows(report: dict) -> list[list]:
    """(section, item, measure, value) rows; rates as fractions (the CSV prints them as percentages)."""
    labels = report["labels"]
    out: list[list] = []
    for key, label in SUMMARY_LABELS.items():
        out.append(["概况", "全部", label, report["summary"][key]])
    for colour, n in report["summary"]["open_by_colour"].items():
        out.append(["在办诉求（按颜色）", COLOUR_LABELS[colour], "件数", n])
    for key, value in report["overall"]["rates"].items():
        out.append(["总体指标", "全部", labels[key], ("rate", value)])
    for section, entries in (("单位指标", report["units"]), (COORDINATION_SECTION, report.get("coordination", []))):
        for unit in entries:
            item = f"{unit['name']}（{unit['unit']}）"
            for key, value in unit["rates"].items():
                out.append([section, item, labels[key], ("rate", value)])
            for key in UNIT_COUNTS:
                out.append([section, item, COUNT_LABELS[key], unit["counts"][key]])
            if "score" in unit:
                out.append([section, item, "得分", unit["score"]])
    for entry in report["ranking"]:
        item = f"{entry['name']}（{entry['unit']}）"
        out.append([f"排名（{entry['group']}）", item, "名次", entry["rank"]])
        out.append([f"排名（{entry['group']}）", item, "较上期变化", entry["change"]])
    for entry in report["rectification"]:
        out.append(["整改名单", f"{entry['name']}（{entry['unit']}）", "满意率", ("rate", entry["satisfaction_rate"])])
    for target in report["targets"]:
        out.append(["三个100%目标", target["label"], "目标", ("rate", target["target"])])
        out.append(["三个100%目标", target["label"], "实际", ("rate", target["actual"])])
    for section, key in (("按类别", "by_category"), ("按区县", "by_district")):
        for group in report[key]:
            out.append([section, group["key"], COUNT_LABELS["received"], group["counts"]["received"]])
            for rate_key, value in group["rates"].items():
                out.append([section, group["key"], labels[rate_key], ("rate", value)])
    for item in report["overdue"]:
        out.append(["超期清单", item["appeal_id"], item["title"] or "", item["lead_unit"] or ""])
    for week in report["trend"]:
        out.append(["周趋势", week["week"], "新增", week["new"]])
        out.append(["周趋势", week["week"], "解决", week["resolved"]])
    out += visit_rows(report.get("visits"))
    return out


def visit_rows(section: dict | None) -> list[list]:
    """The visits and pairing section (monthly) as (section, item, measure, value) rows."""
    if not section:
        return []
    from services.assessment.visits import tables

    out = []
    for title, header, table in tables(section):
        for row in table:
            out += [[title, row[0], measure, value] for measure, value in zip(header[1:], row[1:], strict=False)]
    return out


def to_csv(report: dict) -> bytes:
    """UTF-8 with a BOM, so Excel on a Chinese Windows opens it right."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_HEADER)
    for section, item, measure, value in rows(report):
        if isinstance(value, tuple):
            value = percent(value[1])
        writer.writerow([section, item, measure, "" if value is None else value])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def to_xlsx(report: dict) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    report = xlsx_safe(report)
    labels = report["labels"]
    book = Workbook()
    sheet = book.active
    sheet.title = "概况"
    sheet.append([report["title"]])
    sheet.append(["考核方案", report["scheme"]])
    for key, label in SUMMARY_LABELS.items():
        sheet.append([label, report["summary"][key]])
    for colour, n in report["summary"]["open_by_colour"].items():
        sheet.append([f"在办（{COLOUR_LABELS[colour]}）", n])
    for key, value in report["overall"]["rates"].items():
        sheet.append([labels[key], value])
        sheet.cell(sheet.max_row, 2).number_format = XLSX_PERCENT
    sheet["A1"].font = Font(bold=True, size=14)

    rate_keys = list(labels)
    count_keys = list(UNIT_COUNTS)
    for title, entries, scored in (("单位", report["units"], True),
                                   ("协调层级", report.get("coordination", []), False)):
        units = book.create_sheet(title)
        if not scored:
            units.append([COORDINATION_SECTION])
        units.append(["单位代码", "单位", "分组", *[labels[k] for k in rate_keys],
                      *[COUNT_LABELS[k] for k in count_keys], *(["得分"] if scored else [])])
        for unit in entries:
            units.append([unit["unit"], unit["name"], unit["group"], *[unit["rates"][k] for k in rate_keys],
                          *[unit["counts"][k] for k in count_keys], *([unit["score"]] if scored else [])])
            for column in range(4, 4 + len(rate_keys)):
                units.cell(units.max_row, column).number_format = XLSX_PERCENT

    ranking = book.create_sheet("排名")
    ranking.append(["分组", "名次", "单位代码", "单位", "得分", "上期名次", "变化"])
    for entry in report["ranking"]:
        ranking.append([entry["group"], entry["rank"], entry["unit"], entry["name"], entry["score"],
                        entry["previous_rank"], entry["change"]])

    rectification = book.create_sheet("整改名单")
    rectification.append(["单位代码", "单位", "满意率", "阈值"])
    for entry in report["rectification"]:
        rectification.append([entry["unit"], entry["name"], entry["satisfaction_rate"], entry["threshold"]])
        for column in (3, 4):
            rectification.cell(rectification.max_row, column).number_format = XLSX_PERCENT

    targets = book.create_sheet("三个100%")
    targets.append(["指标", "目标", "实际", "达标"])
    for target in report["targets"]:
        targets.append([target["label"], target["target"], target["actual"], "是" if target["met"] else "否"])

    for title, key in (("按类别", "by_category"), ("按区县", "by_district")):
        sheet = book.create_sheet(title)
        sheet.append([title[1:], COUNT_LABELS["received"], *[labels[k] for k in rate_keys]])
        for group in report[key]:
            sheet.append([group["key"], group["counts"]["received"], *[group["rates"][k] for k in rate_keys]])

    overdue = book.create_sheet("超期清单")
    overdue.append(["诉求编号", "标题", "企业", "牵头单位", "类别", "颜色", "期限"])
    for item in report["overdue"]:
        overdue.append([item["appeal_id"], item["title"], item["enterprise_name"], item["lead_unit"],
                        item["category"], COLOUR_LABELS.get(item["colour"] or "none"), _local(item["due_at"])])

    trend = book.create_sheet("周趋势")
    trend.append(["周", "新增", "解决"])
    for week in report["trend"]:
        trend.append([week["week"], week["new"], week["resolved"]])
    if report.get("visits"):  # the monthly bulletin's visits and pairing, a sheet per table
        from services.assessment.visits import tables

        for title, header, table in tables(report["visits"]):
            sheet = book.create_sheet(title)
            sheet.append(header)
            for row in table:
                sheet.append(row)
    _issue16_sheets(book, report)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _issue16_sheets(book, report: dict) -> None:
    """问题清单, 问题解决情况清单, natures and common problems, the rectification follow-up (issue 16)."""
    new = book.create_sheet("问题清单")
    new.append(["诉求编号", "标题", "企业", "类别", "区县", "牵头单位", "提交时间"])
    for p in report.get("new_problems", []):
        new.append([p["appeal_id"], p["title"], p["enterprise_name"], p["category"], p["district"], p["lead_unit"],
                    _local(p["submitted_at"])])
    resolved = book.create_sheet("问题解决情况清单")
    resolved.append(["诉求编号", "标题", "企业", "牵头单位", "办结时间", "一周内解决", "期限内解决"])
    for p in report.get("resolved_problems", []):
        resolved.append([p["appeal_id"], p["title"], p["enterprise_name"], p["lead_unit"], _local(p["closed_at"]),
                         "是" if p["within_week"] else "否", "是" if p["within_deadline"] else "否"])
    common = book.create_sheet("共性问题")
    common.append(["性质", "本期新增"])
    for n in report.get("natures", []):
        common.append([n["nature"], n["count"]])
    common.append([])
    common.append(["共性问题编号", "名称", "诉求编号", "企业", "标题", "牵头单位", "办结情况"])
    for p in report.get("common_problems", []):
        for m in p["members"]:
            common.append([p["id"], p["title"], m["appeal_id"], m["enterprise_name"], m["title"], m["lead_unit"],
                           m["closed_outcome"] or "在办"])
    follow = book.create_sheet("整改跟踪")
    follow.append(["单位代码", "上期满意率", "本期满意率", "阈值", "责任人", "整改期限", "是否回到阈值以上"])
    for f in report.get("rectification_follow_up", []):
        follow.append([f["unit"], f["satisfaction_before"], f["satisfaction_now"], f["threshold"], f["responsible"],
                       _local(f["deadline"]), "本期无回访" if f["back_above"] is None else
                       ("是" if f["back_above"] else "否")])
        for column in (2, 3, 4):
            follow.cell(follow.max_row, column).number_format = XLSX_PERCENT


# ---------------------------------------------------------------- charts and HTML
@lru_cache(maxsize=1)
def chinese_font() -> str | None:
    """The first installed font family that renders Chinese, or None."""
    from matplotlib import font_manager

    installed = {entry.name for entry in font_manager.fontManager.ttflist}
    return next((family for family in CJK_FAMILIES if family in installed), None)


def _png(figure) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def charts(report: dict) -> dict[str, str]:
    """Base64 PNGs: resolution and satisfaction by unit, and the weekly trend."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    font = chinese_font()
    chinese = font is not None
    style = {"font.family": [font, "DejaVu Sans"] if chinese else ["DejaVu Sans"], "axes.unicode_minus": False}
    labels = report["labels"]
    with plt.rc_context(style):
        units = [u for u in report["units"] if u["counts"]["received"] or u["counts"]["answered"]]
        names = [u["name"] if chinese else u["unit"] for u in units]
        figure, axis = plt.subplots(figsize=(max(6, 0.7 * len(units) + 3), 3.8))
        positions = range(len(units))
        axis.bar([p - 0.2 for p in positions], [100 * (u["rates"]["resolution"] or 0) for u in units], 0.4,
                 label=labels["resolution"] if chinese else "resolution")
        axis.bar([p + 0.2 for p in positions], [100 * (u["rates"]["satisfaction"] or 0) for u in units], 0.4,
                 label=labels["satisfaction"] if chinese else "satisfaction")
        axis.set_xticks(list(positions), names, rotation=30, ha="right")
        axis.set_ylim(0, 105)
        axis.set_ylabel("%")
        axis.set_title("各单位办结率与满意率" if chinese else "Resolution and satisfaction by unit")
        axis.legend()
        by_unit = _png(figure)

        figure, axis = plt.subplots(figsize=(7, 3.4))
        weeks = [w["week"] for w in report["trend"]]
        axis.plot(weeks, [w["new"] for w in report["trend"]], marker="o", label="新增" if chinese else "new")
        axis.plot(weeks, [w["resolved"] for w in report["trend"]], marker="s", label="解决" if chinese else "resolved")
        axis.set_title("每周新增与解决诉求" if chinese else "New and resolved appeals per week")
        axis.tick_params(axis="x", rotation=30)
        axis.legend()
        trend = _png(figure)
    return {"by_unit": by_unit, "trend": trend, "font": font or ""}


@lru_cache(maxsize=1)
def _environment() -> Environment:
    environment = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                              autoescape=select_autoescape(["html", "j2"]))
    environment.filters["pct"] = percent
    environment.filters["local"] = _local
    return environment


def to_html(report: dict) -> bytes:
    html = _environment().get_template("report.html.j2").render(
        r=report, charts=charts(report), summary_labels=SUMMARY_LABELS, colour_labels=COLOUR_LABELS,
        count_labels=COUNT_LABELS, unit_counts=UNIT_COUNTS, coordination_section=COORDINATION_SECTION)
    return html.encode("utf-8")


def page(template: str, **context) -> bytes:
    """Any other page of the service (the enterprise's callback form)."""
    return _environment().get_template(template).render(**context).encode("utf-8")
