"""Chinese texts from Jinja2 templates: ``templates/<event_type>.<audience>.j2``.

A deployment overrides any of them with a folder of the same names (``TEMPLATES_DIR``):
the deployment's folder is searched first, then the built-in one. The first line a
template renders is the subject, the rest the body.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined

from services.notify.domain import SHANGHAI, Recipient, digest_sections, split_text

BUILT_IN = Path(__file__).resolve().parent / "templates"

OUTCOMES = {"solved": "已解决", "explained": "已解释说明", "long_term": "纳入长期计划"}
REASONS = {"overdue": "超期未办", "returns": "多次退单", "unsatisfied": "企业多次不满意",
           "requested": "承办单位申请提级", "order": "督办单要求"}
RUNGS = {"unit_leader": "单位分管领导", "office": "营商环境办督办", "city": "市级协调", "province": "省级协调"}


def local(value) -> str:
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


def percent(value) -> str:
    return f"{float(value) * 100:.1f}%" if float(value) <= 1 else f"{float(value):.1f}%"


class Renderer:
    def __init__(self, templates_dir: str | Path | None = None):
        loaders = [FileSystemLoader(str(templates_dir))] if templates_dir else []
        self.env = Environment(loader=ChoiceLoader(loaders + [FileSystemLoader(str(BUILT_IN))]),
                               undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)
        self.env.globals.update(local=local, percent=percent, digest_sections=digest_sections)

    def render(self, event_type: str, recipient: Recipient, data: dict, *, appeal: dict | None,
               event_time: datetime, unit_name: Callable[[str | None], str]) -> tuple[str, str]:
        names = [f"{event_type}.{recipient.audience}.j2"]
        if recipient.audience == "office":
            names.append(f"{event_type}.unit.j2")
        template = self.env.select_template(names)
        appeal = appeal or {}
        text = template.render(
            data=data, appeal={"title": "", "enterprise_name": "", **appeal},
            appeal_id=data.get("appeal_id") or appeal.get("appeal_id") or "",
            recipient=recipient, event_time=local(event_time), unit_name=unit_name,
            outcome_text=OUTCOMES.get(data.get("outcome"), data.get("outcome") or ""),
            reason_text=REASONS.get(data.get("reason"), data.get("reason") or ""),
            rung_text=RUNGS.get(data.get("rung"), data.get("rung") or ""),
        )
        return split_text(text)

    def has_template(self, event_type: str, audience: str) -> bool:
        names = [f"{event_type}.{audience}.j2"] + ([f"{event_type}.unit.j2"] if audience == "office" else [])
        return any(name in self.env.list_templates() for name in names)
