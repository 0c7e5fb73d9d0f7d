"""The console's use cases on its own database: accounts, sign-in (with its limits), sessions
and OIDC sign-ins under way. Each takes a SQLAlchemy session and "now"; the caller commits."""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from services.console import domain, identity
from services.console.models import accounts, login_attempts, oidc_flows, sessions
from shared.errors import Conflict, DomainError, Forbidden, NotFound, Unauthorized

OIDC_FLOW_LIFETIME = timedelta(minutes=10)


class TooManyAttempts(DomainError):
    """Sign-in refused for a while after repeated failures (HTTP 429)."""
    code = "too_many_attempts"


def _person(row) -> domain.Person:
    return domain.Person(id=row.id, username=row.username, display_name=row.display_name, role=row.role,
                         unit=row.unit)


# ---------------------------------------------------------------- accounts
def add_account(session: Session, fields: dict, password: str | None, now: datetime, source: str = "local") -> int:
    known = session.execute(select(accounts.c.id).where(accounts.c.username == fields["username"])).first()
    if known is not None:
        raise Conflict(f"用户名 {fields['username']} 已存在", {"username": ["已存在"]})
    return session.execute(insert(accounts).values(
        **fields, password_hash=identity.hash_password(password) if password else None, source=source,
        disabled=False, created_at=now, updated_at=now).returning(accounts.c.id)).scalar_one()


def list_accounts(session: Session) -> list[dict]:
    rows = session.execute(select(accounts).order_by(accounts.c.role, accounts.c.unit, accounts.c.username)).fetchall()
    return [{k: v for k, v in row._mapping.items() if k != "password_hash"} for row in rows]


def _account(session: Session, username: str):
    row = session.execute(select(accounts).where(accounts.c.username == username)).first()
    if row is None:
        raise NotFound(f"没有账号 {username}")
    return row


def set_disabled(session: Session, username: str, disabled: bool, now: datetime) -> None:
    """Disabling an account also ends its sessions at once."""
    row = _account(session, username)
    session.execute(update(accounts).where(accounts.c.id == row.id).values(disabled=disabled, updated_at=now))
    if disabled:
        session.execute(delete(sessions).where(sessions.c.account_id == row.id))


def set_password(session: Session, username: str, password: str, now: datetime) -> None:
    problem = domain.password_problem(password)
    if problem:
        from shared.errors import InvalidInput
        raise InvalidInput(problem, {"password": [problem]})
    row = _account(session, username)
    session.execute(update(accounts).where(accounts.c.id == row.id).values(
        password_hash=identity.hash_password(password), updated_at=now))
    session.execute(delete(sessions).where(sessions.c.account_id == row.id))


def display_names(session: Session, usernames: Iterable[str]) -> dict[str, str]:
    wanted = sorted(set(usernames))
    if not wanted:
        return {}
    rows = session.execute(select(accounts.c.username, accounts.c.display_name)
                           .where(accounts.c.username.in_(wanted))).fetchall()
    return {r.username: r.display_name for r in rows}


# ---------------------------------------------------------------- sign-in
def _failures(session: Session, column, value: str, since: datetime) -> int:
    return session.execute(select(func.count()).select_from(login_attempts).where(
        column == value, login_attempts.c.at >= since, login_attempts.c.succeeded.is_(False))).scalar_one()


def login_blocked(session: Session, username: str, address: str, now: datetime, limits: domain.LoginLimits) -> bool:
    since = domain.window_start(now, limits)
    return domain.login_blocked(_failures(session, login_attempts.c.username, username, since),
                                _failures(session, login_attempts.c.address, address, since), limits)


def authenticate(session: Session, username: str, password: str, address: str, now: datetime,
                 limits: domain.LoginLimits) -> domain.Person:
    """The person behind a username and password; every attempt is recorded, and past the
    limits (per account, per address) sign-in is refused before any password is checked."""
    username = (username or "").strip().lower()[:64]
    address = (address or "unknown")[:64]
    if login_blocked(session, username, address, now, limits):
        raise TooManyAttempts(f"登录失败次数过多，请 {int(limits.window.total_seconds() // 60)} 分钟后再试")
    row = session.execute(select(accounts).where(accounts.c.username == username)).first()
    ok = identity.password_matches(row.password_hash if row else None, password or "")
    ok = ok and row is not None and not row.disabled
    session.execute(insert(login_attempts).values(username=username, address=address, at=now, succeeded=ok))
    if not ok:
        raise Unauthorized("用户名或密码不正确，或账号已停用")
    values = {"last_login_at": now}
    if identity.needs_rehash(row.password_hash):
        values["password_hash"] = identity.hash_password(password)
    session.execute(update(accounts).where(accounts.c.id == row.id).values(**values))
    return _person(row)


def sign_in_from_provider(session: Session, fields: dict, now: datetime) -> domain.Person:
    """A person the identity provider vouched for: their account is created or brought up to
    date from the claims (the provider is the authority on role and unit), unless disabled."""
    row = session.execute(select(accounts).where(accounts.c.username == fields["username"])).first()
    if row is None:
        add_account(session, fields, None, now, source="oidc")
    elif row.disabled:
        raise Forbidden("账号已停用，请联系管理员")
    elif row.source != "oidc":
        raise Forbidden(f"用户名 {fields['username']} 已被本地账号使用，请联系管理员")
    else:
        session.execute(update(accounts).where(accounts.c.id == row.id).values(
            display_name=fields["display_name"], role=fields["role"], unit=fields["unit"], updated_at=now))
    session.execute(update(accounts).where(accounts.c.username == fields["username"]).values(last_login_at=now))
    return _person(session.execute(select(accounts).where(accounts.c.username == fields["username"])).one())


# ---------------------------------------------------------------- sessions
def open_session(session: Session, person: domain.Person, now: datetime, lifetime: timedelta) -> str:
    """A new session for the person; the cookie's value (only its hash is stored)."""
    value = identity.new_secret_value()
    session.execute(insert(sessions).values(id_hash=identity.token_fingerprint(value), account_id=person.id,
                                            created_at=now, expires_at=now + lifetime))
    session.execute(delete(sessions).where(sessions.c.expires_at < now))
    return value


def person_of_session(session: Session, value: str | None, now: datetime) -> domain.Person | None:
    if not value:
        return None
    row = session.execute(
        select(accounts).join(sessions, sessions.c.account_id == accounts.c.id)
        .where(sessions.c.id_hash == identity.token_fingerprint(value), sessions.c.expires_at > now,
               accounts.c.disabled.is_(False))).first()
    return _person(row) if row else None


def close_session(session: Session, value: str | None) -> None:
    if value:
        session.execute(delete(sessions).where(sessions.c.id_hash == identity.token_fingerprint(value)))


# ---------------------------------------------------------------- OIDC sign-ins under way
def remember_flow(session: Session, request: identity.AuthorizationRequest, next_path: str | None,
                  now: datetime) -> None:
    session.execute(delete(oidc_flows).where(oidc_flows.c.created_at < now - OIDC_FLOW_LIFETIME))
    session.execute(insert(oidc_flows).values(state=request.state, code_verifier=request.code_verifier,
                                              nonce=request.nonce, next_path=next_path, created_at=now))


def take_flow(session: Session, state: str, now: datetime):
    """The sign-in this ``state`` belongs to, used once; refused when unknown or too old."""
    row = session.execute(select(oidc_flows).where(oidc_flows.c.state == (state or "")[:64])).first()
    if row is None or row.created_at < now - OIDC_FLOW_LIFETIME:
        raise Forbidden("登录请求已失效，请重新登录")
    session.execute(delete(oidc_flows).where(oidc_flows.c.state == row.state))
    return row
