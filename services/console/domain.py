"""The console's pure rules: roles, accounts, sign-in limits, CSRF and enterprise links,
the person token's claims, OIDC claim mapping and the merged timeline of an appeal.

No nameko, no SQL, no I/O, no clock: every rule that needs "now" is given it.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from shared.errors import Forbidden, InvalidInput
from shared.workdays import SHANGHAI

# ---------------------------------------------------------------- roles
ROLES = ("office", "unit_clerk", "unit_leader", "cadre", "leader", "admin")
ROLE_NAMES = {"office": "专班（督办办公室）", "unit_clerk": "责任单位经办人", "unit_leader": "责任单位负责人",
              "cadre": "助企干部", "leader": "领导", "admin": "系统管理员"}
UNIT_ROLES = ("unit_clerk", "unit_leader")
# The role a person acts in at the services (shared.auth.ROLES). A leader reads what the office
# reads; the console offers a leader no page that changes anything. An admin manages accounts
# only and calls no service.
SERVICE_ROLE = {"office": "office", "unit_clerk": "unit", "unit_leader": "unit", "cadre": "cadre",
                "leader": "office", "admin": None}
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
MIN_PASSWORD = 10


@dataclass(frozen=True)
class Person:
    """A signed-in person, as the console knows them (an account)."""
    id: int
    username: str
    display_name: str
    role: str
    unit: str | None = None

    @property
    def service_role(self) -> str | None:
        return SERVICE_ROLE[self.role]

    @property
    def role_name(self) -> str:
        return ROLE_NAMES[self.role]


def validate_account(username: str, display_name: str, role: str, unit: str | None, units: Iterable[str],
                     password: str | None = None) -> dict[str, Any]:
    """An account's fields, checked; raises :class:`InvalidInput` with a Chinese message per field."""
    errors: dict[str, list[str]] = {}
    username = (username or "").strip().lower()
    display_name = (display_name or "").strip()
    unit = (unit or "").strip() or None
    if not USERNAME.match(username):
        errors["username"] = ["用户名为 2-64 位小写字母、数字或 . _ -，以字母或数字开头"]
    if not 1 <= len(display_name) <= 64:
        errors["display_name"] = ["请填写姓名（1-64 字）"]
    if role not in ROLES:
        errors["role"] = [f"角色须为：{'、'.join(ROLE_NAMES[r] for r in ROLES)}"]
    elif role in UNIT_ROLES or role == "office":
        if not unit:
            errors["unit"] = ["责任单位和专班的账号须选择所属单位"]
        elif unit not in set(units):
            errors["unit"] = [f"单位 {unit} 不在本地单位名录中"]
    if password is not None:
        problem = password_problem(password)
        if problem:
            errors["password"] = [problem]
    if errors:
        raise InvalidInput("账号信息有误", errors)
    return {"username": username, "display_name": display_name, "role": role, "unit": unit}


def password_problem(password: str) -> str | None:
    if len(password or "") < MIN_PASSWORD:
        return f"密码至少 {MIN_PASSWORD} 位"
    if len(password) > 256:
        return "密码过长"
    return None


# ---------------------------------------------------------------- sign-in limits
@dataclass(frozen=True)
class LoginLimits:
    """At most ``per_account`` failed sign-ins for one username, and ``per_address`` from one
    address, within ``window``; past that, sign-in is refused until the window has moved on."""
    per_account: int = 5
    per_address: int = 20
    window: timedelta = timedelta(minutes=15)


def login_blocked(failures_for_account: int, failures_from_address: int, limits: LoginLimits) -> bool:
    return failures_for_account >= limits.per_account or failures_from_address >= limits.per_address


def window_start(now: datetime, limits: LoginLimits) -> datetime:
    return now - limits.window


# ---------------------------------------------------------------- CSRF (signed double-submit)
def csrf_token(secret: str, nonce: str) -> str:
    """The form field for a browser whose CSRF cookie holds ``nonce``: an HMAC only this server makes."""
    return hmac.new(secret.encode("utf-8"), f"csrf|{nonce}".encode(), hashlib.sha256).hexdigest()


def csrf_valid(secret: str, nonce: str | None, given: str | None) -> bool:
    if not nonce or not given:
        return False
    return hmac.compare_digest(csrf_token(secret, nonce).encode("ascii"), given.encode("utf-8", "replace"))


# ---------------------------------------------------------------- the enterprise's signed link
def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _link_signature(secret: str, payload: str) -> str:
    return _b64(hmac.new(secret.encode("utf-8"), f"enterprise|{payload}".encode(), hashlib.sha256).digest())


def sign_enterprise_link(secret: str, credit_code: str, expires_at: datetime) -> str:
    """``payload.signature``: the enterprise's credit code and the link's expiry, HMAC-SHA256 signed.

    A link (or its QR code on a poster at the enterprise) lets whoever holds it submit problems
    for that enterprise and follow them, and nothing else."""
    payload = _b64(f"{credit_code}|{int(expires_at.timestamp())}".encode())
    return f"{payload}.{_link_signature(secret, payload)}"


@dataclass(frozen=True)
class EnterpriseLink:
    credit_code: str
    expires_at: datetime


class LinkRefused(Forbidden):
    code = "link_refused"


def read_enterprise_link(secret: str, token: str, now: datetime) -> EnterpriseLink:
    payload, dot, signature = (token or "").partition(".")
    expected = _link_signature(secret, payload)
    if not dot or not hmac.compare_digest(signature.encode("utf-8", "replace"), expected.encode("ascii")):
        raise LinkRefused("企业链接无效（签名不符），请向助企干部索取新的链接或二维码")
    try:
        credit_code, _, expiry = _unb64(payload).decode("utf-8").partition("|")
        expires_at = datetime.fromtimestamp(int(expiry), timezone.utc)
    except (ValueError, UnicodeDecodeError, OverflowError):
        raise LinkRefused("企业链接无效") from None
    if now >= expires_at:
        raise LinkRefused("企业链接已过期，请向助企干部索取新的链接或二维码")
    return EnterpriseLink(credit_code, expires_at)


# ---------------------------------------------------------------- the person token
PERSON_TOKEN_LIFETIME = timedelta(minutes=5)


def person_claims(person: Person, now: datetime, issuer: str,
                  lifetime: timedelta = PERSON_TOKEN_LIFETIME) -> dict[str, Any]:
    """The claims of the short-lived token the console sends the services on a person's behalf."""
    role = person.service_role
    if role is None:
        raise Forbidden(f"{person.role_name}不调用业务服务")
    return {"iss": issuer, "aud": "suqiu", "sub": person.username, "name": person.display_name, "role": role,
            "unit": person.unit if role == "unit" else None, "console_role": person.role,
            "iat": int(now.timestamp()), "exp": int((now + lifetime).timestamp())}


def enterprise_claims(credit_code: str, now: datetime, issuer: str,
                      lifetime: timedelta = PERSON_TOKEN_LIFETIME) -> dict[str, Any]:
    return {"iss": issuer, "aud": "suqiu", "sub": f"enterprise:{credit_code}", "role": "enterprise",
            "credit_code": credit_code, "iat": int(now.timestamp()), "exp": int((now + lifetime).timestamp())}


# ---------------------------------------------------------------- OpenID Connect claims
@dataclass(frozen=True)
class ClaimMapping:
    """Which claims of the city's identity provider say the role and the unit, and how its
    role values read as the console's (``role_map``: the IdP's value -> a console role; a
    value that already is a console role stands for itself)."""
    role_claim: str = "suqiu_role"
    unit_claim: str = "suqiu_unit"
    role_map: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, role_claim: str, unit_claim: str, role_map: str) -> ClaimMapping:
        """``role_map`` as configured: ``"idp-value=role,other=role"``."""
        mapping = {}
        for pair in filter(None, (p.strip() for p in (role_map or "").split(","))):
            key, _, value = pair.partition("=")
            if value.strip() not in ROLES:
                raise ValueError(f"OIDC_ROLE_MAP: {value.strip()!r} is not a console role ({', '.join(ROLES)})")
            mapping[key.strip()] = value.strip()
        return cls(role_claim or "suqiu_role", unit_claim or "suqiu_unit", mapping)


def person_from_claims(claims: dict[str, Any], mapping: ClaimMapping, units: Iterable[str]) -> dict[str, Any]:
    """The account fields of a person signed in by the identity provider; refused (403) when the
    provider says no role the console knows."""
    raw = claims.get(mapping.role_claim)
    values = raw if isinstance(raw, list) else [raw]
    roles = [mapping.role_map.get(str(v), str(v)) for v in values if v is not None]
    role = next((r for r in roles if r in ROLES), None)
    if role is None:
        raise Forbidden("身份认证平台没有为您配置本系统的角色，请联系管理员")
    subject = str(claims.get("sub") or "")
    handle = re.sub(r"[^a-z0-9._-]", "-", str(claims.get("preferred_username") or subject).lower()).strip("-.")
    username = f"oidc-{handle}"[:64]
    name = str(claims.get("name") or claims.get("preferred_username") or subject)[:64]
    return validate_account(username, name, role, claims.get(mapping.unit_claim), units)


# ---------------------------------------------------------------- the appeal's timeline
STATUS_NAMES = {"queued": "待派单", "dispatched": "已派单", "accepted": "已签收", "replied": "已反馈",
                "reopened": "重办", "closed": "已办结", "received": "已受理"}
COLOUR_NAMES = {"green": "绿", "yellow": "黄", "red": "红"}
OUTCOME_NAMES = {"solved": "已解决", "explained": "解释说明", "long_term": "纳入长期规划"}
CHANNEL_NAMES = {"visit": "走访", "web": "网页", "qrcode": "扫码", "message_board": "留言板", "hotline": "热线",
                 "platform": "平台转入", "sheet": "办理单导入"}
ACTION_NAMES = {"received": "受理并分类", "dispatched": "派单", "accepted": "签收", "progress": "进展",
                "progressed": "进展", "replied": "办结反馈", "returned": "退单", "escalation_requested": "申请提级",
                "assigned": "办公室派单", "reclassified": "重新分类", "reopened": "重办", "closed": "办结",
                "escalated": "提级督办", "colour": "颜色变化", "queued": "进入待派队列"}
RUNG_NAMES = {"unit_leader": "单位领导督办", "office": "督办办公室督办", "city": "市级协调", "province": "省级协调"}


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    source: str  # the service that recorded it
    what: str  # in Chinese
    who: str | None = None  # the actor as recorded (unit:tax/wangfang, event:..., enterprise:...)
    note: str | None = None


def _when(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def merge_timeline(intake: dict[str, Any] | None, dispatch: dict[str, Any] | None, supervision: dict[str, Any] | None,
                   assessment: dict[str, Any] | None, unit_names: dict[str, str] | None = None) -> list[TimelineEntry]:
    """One timeline from what each service exposes of an appeal, oldest first.

    Each argument is that service's JSON view of the appeal (None when the service is not
    deployed here or does not know it): intake's submission, dispatch's history, supervision's
    escalations, orders and pauses, assessment's callbacks."""
    entries: list[TimelineEntry] = []

    def add(at: datetime | None, source: str, what: str, who: str | None = None, note: str | None = None) -> None:
        if at is not None:  # a line a service gave no time is left out
            entries.append(TimelineEntry(at, source, what, who, note))

    if intake:
        add(_when(intake["submitted_at"]), "intake", "提交诉求", intake.get("submitted_by"),
            f"收集渠道：{CHANNEL_NAMES.get(intake.get('channel') or '', intake.get('channel'))}")
    for line in (dispatch or {}).get("history") or []:
        action = line.get("action") or ""
        what = ACTION_NAMES.get(action, action)
        if line.get("unit") and action in ("dispatched", "assigned", "returned", "accepted", "replied"):
            what = f"{what}（{(unit_names or {}).get(line['unit'], line['unit'])}）"
        note = line.get("note")
        details = line.get("details") or {}
        if action == "replied" and details.get("outcome"):
            note = f"{OUTCOME_NAMES.get(details['outcome'], details['outcome'])}：{note or ''}".rstrip("：")
        if action == "colour":
            continue  # supervision's colours are shown as the appeal's state, not as history lines
        add(_when(line["at"]), "dispatch", what, line.get("actor"), note)
    for step in (supervision or {}).get("escalations") or []:
        rung = RUNG_NAMES.get(step.get("rung"), step.get("rung"))
        add(_when(step.get("escalated_at")), "supervision", f"提级：{rung}",
            step.get("actor") or "supervision", step.get("reason"))
    for order in (supervision or {}).get("orders") or []:
        add(_when(order.get("issued_at")), "supervision", "督办单", order.get("issued_by"),
            order.get("text"))
    # a request and its approval come before the pause the approval starts (the same instant)
    for asked in (supervision or {}).get("pause_requests") or []:
        add(_when(asked.get("requested_at")), "supervision", f"申请暂停计时（{asked.get('days')}个工作日）",
            asked.get("requested_by"), asked.get("reason"))
        if asked.get("status") in ("approved", "refused"):
            verdict = "批准暂停申请" if asked["status"] == "approved" else "驳回暂停申请"
            add(_when(asked.get("decided_at")), "supervision", verdict, asked.get("decided_by"),
                asked.get("decision_note"))
    for pause in (supervision or {}).get("pauses") or []:
        add(_when(pause.get("paused_at")), "supervision", "暂停计时", pause.get("paused_by"),
            pause.get("reason"))
        if pause.get("resumed_at"):
            add(_when(pause["resumed_at"]), "supervision", "恢复计时",
                pause.get("resumed_by"))
    for call in (assessment or {}).get("callbacks") or []:
        solved = "已解决" if call.get("solved") else "未解决"
        how = "企业通过链接评价" if call.get("channel") == "link" else "电话回访"
        result = "，办结" if call.get("result") == "closed" else "，重办"
        add(_when(call.get("called_at")), "assessment", f"回访（{how}）",
            call.get("caller"), f"{solved}，{call.get('satisfaction')}{result}"
            + (f"：{call['comment']}" if call.get("comment") else ""))
    for followup in (assessment or {}).get("followups") or []:
        add(_when(followup.get("created_at")), "assessment", f"列入回访抽查：{followup.get('name')}",
            followup.get("created_by"))
        if followup.get("answered_at"):
            how = "企业通过链接评价" if followup.get("channel") == "link" else "电话回访"
            verdict = "确认已解决" if followup.get("result") == "confirmed" else "未真正解决，重办"
            add(_when(followup["answered_at"]), "assessment", f"抽查回访（{how}）", None,
                f"{'已解决' if followup.get('solved') else '未解决'}，{followup.get('satisfaction')}，{verdict}")
    return sorted(entries, key=lambda e: e.at)


def actor_label(actor: str | None, people: dict[str, str], units: dict[str, str]) -> str:
    """How a recorded actor reads to an official: ``unit:tax/wangfang`` -> 王芳（市税务局）."""
    if not actor:
        return "系统"
    if actor.startswith("event:") or actor in ("supervision", "dispatch", "assessment", "intake"):
        return "系统"
    if actor.startswith("enterprise"):
        return "企业"
    head, _, person = actor.partition("/")
    role, _, unit = head.partition(":")
    if person:
        name = people.get(person, person)
        where = units.get(unit) if unit else {"office": "专班", "cadre": "助企干部"}.get(role)
        return f"{name}（{where}）" if where else name
    if role == "unit":
        return units.get(unit, unit)
    return {"office": "专班", "cadre": "助企干部", "platform": "平台"}.get(role, actor)


def local_time(moment: datetime | None) -> str:
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M") if moment else ""


# ---------------------------------------------------------------- periods shown on the office's pages
def iso_week(now: datetime) -> str:
    year, week, _ = now.astimezone(SHANGHAI).isocalendar()
    return f"{year}-W{week:02d}"


def last_week(now: datetime) -> str:
    return iso_week(now - timedelta(days=7))


def month_of(now: datetime) -> str:
    return now.astimezone(SHANGHAI).strftime("%Y-%m")


def local_day(now: datetime) -> str:
    """The day in Shanghai, ``YYYY-MM-DD`` (a form's default)."""
    return now.astimezone(SHANGHAI).strftime("%Y-%m-%d")
