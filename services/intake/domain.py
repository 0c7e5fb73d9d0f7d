"""Intake's pure rules: what makes a submission valid, how a sheet row reads.

No nameko, no SQL, no I/O: the tests of this module run in milliseconds.
"""
from __future__ import annotations

import hashlib
import json
import secrets
from datetime import datetime, timedelta, timezone
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, post_load, validate
from stdnum.cn import uscc
from stdnum.exceptions import ValidationError as StdnumError

from shared.events import CHANNELS, URGENCIES
from shared.inputs import strip_strings, text
from shared.periods import Instant
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

    def __init__(self, **kwargs):
        kwargs["metadata"] = {"format": "uscc", **(kwargs.get("metadata") or {})}
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        problem = credit_code_problem(text)
        if problem:
            raise ValidationError(problem)
        return compact_credit_code(text)


class _Input(Schema):
    """Unknown keys ignored; texts checked as sent, stored without the white space around them."""

    class Meta:
        unknown = EXCLUDE

    @post_load
    def _strip(self, data: Any, **kwargs) -> Any:
        return strip_strings(data)


class ContactSchema(_Input):
    name = fields.Str(validate=validate.Length(max=64), allow_none=True)
    phone = fields.Str(validate=validate.Regexp(r"^[0-9+\- ]{5,20}$", error="not a phone number"), allow_none=True)
    email = fields.Email(allow_none=True)


class AppealInput(_Input):
    credit_code = CreditCode(required=True)
    enterprise_name = text(200, required=True)
    title = text(200, required=True)
    description = text(5000, required=True)
    category = text(32, load_default=None, allow_none=True)
    district = text(64, required=True)
    channel = fields.Str(required=True, validate=validate.OneOf(CHANNELS))
    collected_at = Instant(required=True, default_timezone=SHANGHAI)
    external_id = text(128, load_default=None, allow_none=True)
    contact = fields.Nested(ContactSchema, load_default=None, allow_none=True)
    urgency = fields.Str(load_default="一般", validate=validate.OneOf(URGENCIES))  # 一般 / 紧急 / 特急


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


def validate_appeal(raw: Any, now: datetime) -> dict:
    """Load and check a submission; raises ``ValidationError`` with a message per field."""
    if not isinstance(raw, dict):
        raise ValidationError({"_schema": ["the body must be a JSON object"]})
    data = AppealInput().load(raw)
    if data["collected_at"] > now + FUTURE_TOLERANCE:
        raise ValidationError({"collected_at": ["lies in the future"]})
    return data


def validate_enterprise(raw: Any) -> dict:
    if not isinstance(raw, dict):
        raise ValidationError({"_schema": ["the body must be a JSON object"]})
    return EnterpriseInput().load(raw)


def request_fingerprint(data: dict) -> str:
    """A stable hash of a submission, to tell a retry from a different use of the same key."""
    canonical = json.dumps(data, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


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


def sheet_row_to_input(row: dict[str, Any], default_channel: str = "sheet") -> dict:
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
