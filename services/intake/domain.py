"""Intake's pure rules: what makes a submission valid, how a sheet row reads.

No nameko, no SQL, no I/O: the tests of this module run in milliseconds.
"""
from __future__ import annotations

import hashlib
import json
import secrets
from datetime import date, datetime, timedelta, timezone
from typing import Any

from marshmallow import EXCLUDE, ValidationError, fields, post_load, validate, validates_schema
from stdnum.cn import uscc
from stdnum.exceptions import ValidationError as StdnumError

from shared.events import CHANNELS, PERSON_ROLES, SUBJECT_TYPES, URGENCIES
from shared.inputs import Bool, strip_strings, text
from shared.periods import Instant
from shared.schemas import FastLoadSchema
from shared.workdays import SHANGHAI

# A collection time this far in the future is a typo, not a clock skew.
FUTURE_TOLERANCE = timedelta(minutes=10)
SIZES = ("微型", "小型", "中型", "大型")


def credit_code_problem(value: str) -> str | None:
    """Why ``value`` is not a valid unified social credit code, or None when it is."""
    try:
        uscc.validate(value)
    except StdnumError as exc:
        reason = {
            "InvalidLength": "must be 18 characters",
            "InvalidFormat": "has characters a credit code cannot have",
            "InvalidChecksum": "check character does not match (GB 32100-2015)",
            "InvalidComponent": "has an invalid registration authority or organisation code",
        }.get(type(exc).__name__, str(exc))
        return f"not a valid unified social credit code: {reason}"
    return None


def compact_credit_code(value: str) -> str:
    return uscc.compact(value)


class CreditCode(fields.Str):
    """A unified social credit code, checked (GB 32100-2015) and compacted.

    OpenAPI documents name it ``format: uscc`` (JSON Schema cannot state the check character).
    """

    def __init__(self, **kwargs: Any) -> None:
        kwargs["metadata"] = {"format": "uscc", **(kwargs.get("metadata") or {})}
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        problem = credit_code_problem(text)
        if problem:
            raise ValidationError(problem)
        return compact_credit_code(text)


class _Input(FastLoadSchema):
    """Unknown keys ignored; texts checked as sent, stored without the white space around them."""

    class Meta:
        unknown = EXCLUDE

    @post_load
    def _strip(self, data: Any, **kwargs: Any) -> Any:
        return strip_strings(data)


class ContactSchema(_Input):
    name = fields.Str(validate=validate.Length(max=64), allow_none=True)
    phone = fields.Str(validate=validate.Regexp(r"^[0-9+\- ]{5,20}$", error="not a phone number"), allow_none=True)
    email = fields.Email(allow_none=True)


REGISTRY_KEY = validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,63}$",
                               error="letters, digits, - and _ (at most 64), starting with a letter or digit")
PHONE = validate.Regexp(r"^[0-9+\- ]{5,20}$", error="not a phone number")


class AppealInput(_Input):
    """An appeal about an enterprise (``credit_code`` and ``enterprise_name``, the default) or
    about a household or project of the registry (``subject_type`` and ``subject_id``)."""

    subject_type = fields.Str(load_default="enterprise", validate=validate.OneOf(SUBJECT_TYPES))
    subject_id = fields.Str(load_default=None, allow_none=True, validate=REGISTRY_KEY,
                            metadata={"description": "a household's registry id or a project's code"})
    credit_code = CreditCode(load_default=None, allow_none=True,
                             metadata={"description": "required for an enterprise"})
    enterprise_name = text(200, load_default=None, allow_none=True,
                           metadata={"description": "required for an enterprise"})
    title = text(200, required=True)
    description = text(5000, required=True)
    category = text(32, load_default=None, allow_none=True)
    district = text(64, required=True)
    channel = fields.Str(required=True, validate=validate.OneOf(CHANNELS))
    collected_at = Instant(required=True, default_timezone=SHANGHAI)
    external_id = text(128, load_default=None, allow_none=True)
    contact = fields.Nested(ContactSchema, load_default=None, allow_none=True)
    urgency = fields.Str(load_default="一般", validate=validate.OneOf(URGENCIES))  # 一般 / 紧急 / 特急

    @validates_schema(skip_on_field_errors=False, pass_original=True)
    def _subject(self, data: dict[str, Any], original: Any, **kwargs: Any) -> None:
        """Which fields a subject needs; a field already refused for its value is not "missing" too."""
        subject_type = original.get("subject_type", "enterprise") if isinstance(original, dict) else None
        if subject_type == "enterprise":
            missing = {name: ["required for an enterprise"] for name in ("credit_code", "enterprise_name")
                       if original.get(name) is None}
            if missing:
                raise ValidationError(missing)
        elif data.get("subject_type") in SUBJECT_TYPES and not data.get("subject_id"):
            raise ValidationError({"subject_id": [f"required for a {data['subject_type']}"]})


class EnterpriseInput(_Input):
    credit_code = CreditCode(required=True)
    name = text(200, required=True)
    district = text(64, required=True)
    industry = fields.Str(load_default=None, allow_none=True, validate=validate.Length(max=64))
    size = fields.Str(load_default=None, allow_none=True, validate=validate.OneOf(SIZES))
    cadre = fields.Str(load_default=None, allow_none=True, validate=validate.Length(max=64))
    leader = fields.Str(load_default=None, allow_none=True, validate=validate.Length(max=64))
    contact = fields.Nested(ContactSchema, load_default=None, allow_none=True)
    tags = fields.List(text(32), load_default=list)
    # the pairing as references: people of the registry, a unit code (四个一: 一个牵头部门)
    cadre_id = fields.Str(load_default=None, allow_none=True, validate=REGISTRY_KEY)
    leader_id = fields.Str(load_default=None, allow_none=True, validate=REGISTRY_KEY)
    lead_department = fields.Str(load_default=None, allow_none=True, validate=validate.Length(min=1, max=64))


class PersonInput(_Input):
    """A cadre or leader (干部 / 包联领导); the id is the name they sign in with."""

    id = fields.Str(required=True, validate=REGISTRY_KEY)
    name = text(64, required=True)
    role = fields.Str(required=True, validate=validate.OneOf(PERSON_ROLES))
    unit = fields.Str(load_default=None, allow_none=True, validate=validate.Length(min=1, max=64))


class SubjectInput(_Input):
    """A household (结对帮扶的困难家庭: the head's name, community, phone) or a project (包联项目:
    its code and name), with its pairing."""

    subject_type = fields.Str(required=True, validate=validate.OneOf(("household", "project")))
    subject_id = fields.Str(required=True, validate=REGISTRY_KEY)
    name = text(200, required=True)
    community = text(100, load_default=None, allow_none=True)
    phone = fields.Str(load_default=None, allow_none=True, validate=PHONE)
    district = text(64, load_default=None, allow_none=True)
    cadre_id = fields.Str(load_default=None, allow_none=True, validate=REGISTRY_KEY)
    leader_id = fields.Str(load_default=None, allow_none=True, validate=REGISTRY_KEY)
    lead_department = fields.Str(load_default=None, allow_none=True, validate=validate.Length(min=1, max=64))

    @validates_schema
    def _household(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data["subject_type"] == "household" and not data.get("community"):
            raise ValidationError({"community": ["required for a household"]})


class VisitInput(_Input):
    """A visit (走访): its day, the subject, what was found and the appeals raised in it, or
    ``no_problem`` (未发现问题). The cadre is the signed-in one; the office names one."""

    subject_type = fields.Str(required=True, validate=validate.OneOf(SUBJECT_TYPES))
    subject_id = fields.Str(required=True, validate=validate.Length(min=1, max=64))
    visited_on = fields.Date(required=True)
    cadre_id = fields.Str(load_default=None, allow_none=True, validate=REGISTRY_KEY)
    findings = text(5000, load_default=None, allow_none=True)
    no_problem = Bool(load_default=False)
    appeal_ids = fields.List(fields.Str(validate=validate.Length(min=1, max=32)), load_default=list,
                             validate=validate.Length(max=50))

    @validates_schema
    def _what_was_found(self, data: dict[str, Any], **kwargs: Any) -> None:
        problem = visit_problem(data.get("no_problem", False), data.get("findings"), data.get("appeal_ids") or [])
        if problem:
            raise ValidationError({"no_problem": [problem]})


def visit_problem(no_problem: bool, findings: str | None, appeal_ids: list[str]) -> str | None:
    """A visit either found nothing (and raised no appeal) or says what it found."""
    if no_problem and appeal_ids:
        return "a visit that found no problem raised no appeal"
    if not no_problem and not findings and not appeal_ids:
        return "say what was found (findings or appeal_ids), or no_problem: true"
    return None


def validate_visit(raw: Any, today: date) -> dict[str, Any]:
    """Load and check a visit; ``today`` is the city's date (a visit cannot lie in the future)."""
    if not isinstance(raw, dict):
        raise ValidationError({"_schema": ["the body must be a JSON object"]})
    data: dict[str, Any] = VisitInput().load(raw)
    if data["visited_on"] > today:
        raise ValidationError({"visited_on": ["lies in the future"]})
    if data["subject_type"] == "enterprise" and credit_code_problem(data["subject_id"]) is None:
        data["subject_id"] = compact_credit_code(data["subject_id"])  # as the registry keys it
    return data


def validate_person(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ValidationError({"_schema": ["the body must be a JSON object"]})
    person: dict[str, Any] = PersonInput().load(raw)
    return person


def validate_subject(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ValidationError({"_schema": ["the body must be a JSON object"]})
    subject: dict[str, Any] = SubjectInput().load(raw)
    return subject


# ---------------------------------------------------------------- personal data
def mask_name(name: str | None) -> str | None:
    """A person's name as others see it: the first and last character (张*华, 李*)."""
    if not name:
        return name
    if len(name) <= 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def mask_phone(phone: str | None) -> str | None:
    """A phone number as others see it: the first 3 and last 4 digits (138****5678)."""
    if not phone:
        return phone
    digits = phone.replace(" ", "").replace("-", "")
    if len(digits) <= 7:
        return digits[:1] + "*" * (len(digits) - 1)
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


def may_see_personal_data(role: str, person: str | None, cadre_id: str | None) -> bool:
    """A household's name and phone: the office and the household's paired cadre only."""
    return role == "office" or (role == "cadre" and person is not None and person == cadre_id)


def shown_name(subject_type: str, name: str | None, unmasked: bool) -> str | None:
    """The name of a subject as shown: a household's masked unless ``unmasked``."""
    return name if subject_type != "household" or unmasked else mask_name(name)


def masked_contact(contact: dict[str, Any] | None) -> dict[str, Any] | None:
    if not contact:
        return contact
    return {**contact, "name": mask_name(contact.get("name")), "phone": mask_phone(contact.get("phone"))}


def city_date(moment: datetime) -> date:
    return moment.astimezone(SHANGHAI).date()


_APPEAL_INPUT = AppealInput()  # one instance: building a schema costs more than a load


def validate_appeal(raw: Any, now: datetime) -> dict[str, Any]:
    """Load and check a submission; raises ``ValidationError`` with a message per field."""
    if not isinstance(raw, dict):
        raise ValidationError({"_schema": ["the body must be a JSON object"]})
    data: dict[str, Any] = _APPEAL_INPUT.load(raw)
    if data["collected_at"] > now + FUTURE_TOLERANCE:
        raise ValidationError({"collected_at": ["lies in the future"]})
    return data


def validate_enterprise(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ValidationError({"_schema": ["the body must be a JSON object"]})
    loaded: dict[str, Any] = EnterpriseInput().load(raw)
    return loaded


def request_fingerprint(data: dict[str, Any]) -> str:
    """A stable hash of a submission, to tell a retry from a different use of the same key."""
    canonical = json.dumps(data, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def new_visit_id(now: datetime) -> str:
    """``ZF`` (走访) + the Shanghai date + 10 random hex digits."""
    return f"ZF{now.astimezone(SHANGHAI):%Y%m%d}-{secrets.token_hex(5)}"


def new_appeal_id(now: datetime) -> str:
    """``SQ`` + the Shanghai date + 10 random hex digits: readable and unique."""
    return f"SQ{now.astimezone(SHANGHAI):%Y%m%d}-{secrets.token_hex(5)}"


# Problem sheet (企业问题办理单) columns: Chinese headings as printed, English accepted too.
SHEET_COLUMNS = {
    "统一社会信用代码": "credit_code",
    "企业名称": "enterprise_name",
    "问题标题": "title",
    "问题描述": "description",
    "问题类别": "category",
    "所属区县": "district",
    "收集渠道": "channel",
    "收集时间": "collected_at",
    "外部编号": "external_id",
    "紧急程度": "urgency",
    "联系人": "contact_name",
    "联系电话": "contact_phone",
}
ENGLISH_COLUMNS = set(SHEET_COLUMNS.values())


def sheet_row_to_input(row: dict[str, Any], default_channel: str = "sheet") -> dict[str, Any]:
    """One spreadsheet row (heading -> cell) as the JSON body of a submission."""
    data: dict[str, Any] = {}
    for heading, value in row.items():
        if heading is None:
            continue
        key = SHEET_COLUMNS.get(str(heading).strip()) or (
            str(heading).strip() if str(heading).strip() in ENGLISH_COLUMNS else None)
        if key is None or value is None or (isinstance(value, str) and not value.strip()):
            continue
        if key == "collected_at" and isinstance(value, str):
            value = _sheet_time(value)
        if isinstance(value, datetime):
            value = value.replace(tzinfo=value.tzinfo or SHANGHAI).isoformat()
        elif isinstance(value, float) and value.is_integer():
            value = str(int(value))
        data[key] = value if isinstance(value, str) else str(value)
    contact = {k: data.pop(f"contact_{k}") for k in ("name", "phone") if f"contact_{k}" in data}
    if contact:
        data["contact"] = contact
    data.setdefault("channel", default_channel)
    return data


def _sheet_time(text: str) -> datetime | str:
    """A time typed into a sheet, as people write them (``2026-11-20 10:00``): the API reads RFC 3339 only."""
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        return text  # refused, with the reason, when the row is validated


def utc(moment: datetime) -> datetime:
    return moment.astimezone(timezone.utc)
