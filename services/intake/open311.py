"""Open311 GeoReport v2 on intake: the civic-intake API FixMyStreet and many city platforms speak.

Pure rules (no I/O): the service list from the campaign's categories, each service's definition,
a service request read into an appeal, an appeal written as a service request, errors, and the
two formats (JSON and XML, UTF-8). ``services/intake/service.py`` serves them under
``/open311/v2``.

How Suqiu maps onto the standard:

* a **service** is a category of appeals (用工, 用地 ...): ``service_code`` is the category's code,
  ``group`` 企业诉求, ``type`` realtime (the appeal exists when the POST answers), ``metadata`` true;
* its **definition** names what Suqiu needs beyond the standard fields, as attributes: the
  enterprise's credit code and name, the district, optionally a title and when it was collected;
* a **service request** is an appeal: ``service_request_id`` is the appeal id, ``description`` its
  description, ``first_name``/``last_name``/``phone``/``email`` its contact; the location fields
  are accepted and kept in the description's last line (an appeal is about an enterprise, not a
  point on a map);
* ``status`` is ``closed`` once the appeal closed after its callback (assessment's
  ``appeal_closed``), ``open`` before and again after a reopen (``appeal_reopened``);
* ``api_key`` is a token of the token file (``AUTH_TOKENS_FILE``): a platform, cadre or office
  principal. Reading requests needs it too: appeals name enterprises;
* ``token`` (GET /tokens) answers with the request itself: requests are created in real time.
"""
from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.errors import DomainError

FORMATS = {"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}
GROUP = "企业诉求"
# The ten categories of docs/domain.md, for a deployment whose profile has no dispatch part
DEFAULT_CATEGORIES = ["用工", "用地", "资金/融资", "审批", "政策", "人才", "能源", "市场", "法律", "其他"]
SUBMITTERS = ("platform", "cadre", "office")
MAX_REQUESTS = 1000


class Open311Error(DomainError):
    """An error answered in Open311's format, with its HTTP status."""

    def __init__(self, status: int, description: str):
        super().__init__(description)
        self.status = status
        self.description = description


@dataclass(frozen=True)
class Service:
    code: str
    name: str
    description: str
    keywords: str


def services_from_categories(categories: list[dict]) -> list[Service]:
    """One service per category of the campaign (``code``, optional ``aliases`` and ``keywords``)."""
    services = []
    for category in categories:
        code = str(category["code"])
        words = [*category.get("aliases", []), *category.get("keywords", [])]
        services.append(Service(code=code, name=code, description=f"{code}方面的企业诉求",
                                keywords=", ".join(words)))
    return services


ATTRIBUTES = [
    {"code": "credit_code", "datatype": "string", "required": True, "order": 1,
     "description": "统一社会信用代码 (unified social credit code, GB 32100-2015)"},
    {"code": "enterprise_name", "datatype": "string", "required": True, "order": 2, "description": "企业名称"},
    {"code": "district", "datatype": "string", "required": True, "order": 3, "description": "所属区县"},
    {"code": "title", "datatype": "string", "required": False, "order": 4,
     "description": "问题标题 (default: the first 30 characters of the description)"},
    {"code": "collected_at", "datatype": "datetime", "required": False, "order": 5,
     "description": "收集时间, ISO 8601 with its offset (default: now)"},
]


def service_definition(service: Service) -> dict:
    return {"service_code": service.code, "attributes": [
        {"variable": True, "code": a["code"], "datatype": a["datatype"], "required": a["required"],
         "datatype_description": None, "order": a["order"], "description": a["description"]}
        for a in ATTRIBUTES]}


def service_out(service: Service) -> dict:
    return {"service_code": service.code, "service_name": service.name, "description": service.description,
            "metadata": True, "type": "realtime", "keywords": service.keywords, "group": GROUP}


ATTRIBUTE_KEY = re.compile(r"^attribute\[(.+)\]$")


def appeal_input(form: dict[str, str], service: Service, now: datetime) -> dict:
    """The submission (``POST /api/v1/appeals``' body) a service request stands for.

    The caller validates it (``domain.validate_appeal``): a missing or invalid field is a 400 there.
    """
    attributes = {match[1]: value for key, value in form.items() if (match := ATTRIBUTE_KEY.match(key))}
    missing = [a["code"] for a in ATTRIBUTES if a["required"] and not str(attributes.get(a["code"], "")).strip()]
    description = form.get("description", "").strip()
    if not description:
        missing.insert(0, "description")
    if missing:
        raise Open311Error(400, "missing: " + ", ".join(f"attribute[{m}]" if m != "description" else m
                                                        for m in missing))
    where = [part for part in (form.get("address_string"), form.get("address_id")) if part]
    if form.get("lat") and form.get("long"):
        where.append(f"{form['lat']},{form['long']}")
    if where:
        description += "\n位置：" + "；".join(where)
    if form.get("media_url"):
        description += "\n附件：" + form["media_url"]
    name = " ".join(part for part in (form.get("first_name"), form.get("last_name")) if part)
    contact = {key: value for key, value in (("name", name), ("phone", form.get("phone")),
                                             ("email", form.get("email"))) if value}
    data: dict[str, Any] = {
        "credit_code": attributes["credit_code"], "enterprise_name": attributes["enterprise_name"],
        "district": attributes["district"], "category": service.code, "channel": "platform",
        "title": (str(attributes.get("title") or "").strip() or description.splitlines()[0])[:30],
        "description": description, "contact": contact or None,
    }
    data["collected_at"] = attributes.get("collected_at") or now.isoformat()
    return data


def request_out(appeal: dict, state: dict | None, services: dict[str, Service]) -> dict:
    """An appeal as a GeoReport service request."""
    closed = state is not None and state["status"] == "closed"
    service = services.get(appeal.get("category") or "")
    return {
        "service_request_id": appeal["id"],
        "status": "closed" if closed else "open",
        "status_notes": OUTCOME_NOTES.get(state["outcome"], state["outcome"]) if closed else None,
        "service_name": service.name if service else appeal.get("category"),
        "service_code": appeal.get("category"),
        "description": appeal["description"],
        "agency_responsible": None,
        "service_notice": None,
        "requested_datetime": _iso(appeal["submitted_at"]),
        "updated_datetime": _iso(state["changed_at"]) if state else _iso(appeal["submitted_at"]),
        "expected_datetime": None,
        "address": appeal.get("district"),
        "address_id": None,
        "zipcode": None,
        "lat": None,
        "long": None,
        "media_url": None,
    }


OUTCOME_NOTES = {"solved": "已解决", "explained": "已作解释说明", "long_term": "已纳入长期规划"}


def _iso(moment: datetime | str | None) -> str | None:
    if moment is None or isinstance(moment, str):
        return moment
    return moment.isoformat()


# ---------------------------------------------------------------- formats
# each list's XML root and item element, as the specification writes them
XML_NAMES = {"services": ("services", "service"), "requests": ("service_requests", "request"),
             "errors": ("errors", "error")}


def render(kind: str, items: list[dict] | dict, fmt: str) -> bytes:
    """``items`` in ``fmt``: a JSON array (or object), or the specification's XML."""
    if fmt == "json":
        return json.dumps(items, ensure_ascii=False).encode("utf-8")
    if kind == "service_definition":
        root = ET.Element("service_definition")
        ET.SubElement(root, "service_code").text = items["service_code"]
        attributes = ET.SubElement(root, "attributes")
        for attribute in items["attributes"]:
            _fill(ET.SubElement(attributes, "attribute"), attribute)
    else:
        root_name, item_name = XML_NAMES[kind]
        root = ET.Element(root_name)
        for item in items:
            _fill(ET.SubElement(root, item_name), item)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8")


def _fill(element: ET.Element, values: dict) -> None:
    for key, value in values.items():
        child = ET.SubElement(element, key)
        if value is None:
            continue
        child.text = ("true" if value else "false") if isinstance(value, bool) else str(value)


def error_items(status: int, description: str) -> list[dict]:
    return [{"code": status, "description": description}]
