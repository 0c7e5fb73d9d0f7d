"""The console's web plumbing: settings read once, a :class:`Visit` per request (the person
behind the session cookie, CSRF, the services client, rendering with security headers), and
the ``page`` entrypoint that answers every error as a Chinese HTML page.
"""
from __future__ import annotations

import functools
import logging
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote, urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape
from marshmallow import ValidationError
from nameko.exceptions import BadRequest
from nameko.extensions import DependencyProvider
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.wrappers import Request, Response

from services.console import domain, handlers
from services.console.backends import SERVICES, NotDeployed, ServiceClient, ServiceRefused
from services.console.identity import OidcClient, OidcSettings, Signer
from shared.config import flag
from shared.db import database_of
from shared.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound, Unauthorized, Unavailable
from shared.profile import load_units, profile_dir
from shared.service import SIMULATED_NOW_HEADER, Clock, clock_of, utcnow
from shared.web import HttpEntrypoint

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
DEMO_SECRET = "suqiu-console-demo-secret-not-for-production"
SESSION_COOKIE = "suqiu_session"
CSRF_COOKIE = "suqiu_csrf"
FLASH_COOKIE = "suqiu_flash"
CSRF_FIELD = "csrf_token"
# No inline script or style anywhere: htmx is the only script, from /static; its indicator
# style is switched off by the meta tag in base.html.j2.
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                           "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
                           "object-src 'none'")
SECURITY_HEADERS = {"Content-Security-Policy": CONTENT_SECURITY_POLICY, "X-Content-Type-Options": "nosniff",
                    "Referrer-Policy": "same-origin", "X-Frame-Options": "DENY",
                    "Cache-Control": "no-store"}


@functools.cache
def templates() -> Environment:
    env = Environment(loader=FileSystemLoader(str(HERE / "templates")),
                      autoescape=select_autoescape(["html", "j2"], default_for_string=True),
                      trim_blocks=True, lstrip_blocks=True)
    env.globals.update(ROLE_NAMES=domain.ROLE_NAMES, STATUS_NAMES=domain.STATUS_NAMES,
                       COLOUR_NAMES=domain.COLOUR_NAMES, OUTCOME_NAMES=domain.OUTCOME_NAMES,
                       CHANNEL_NAMES=domain.CHANNEL_NAMES, RUNG_NAMES=domain.RUNG_NAMES)
    env.filters["local"] = lambda value: domain.local_time(domain._when(value)) if value else ""
    env.filters["pct"] = lambda value: "—" if value is None else f"{value * 100:.1f}%"
    return env


def render_page(template: str, **context) -> str:
    return templates().get_template(template).render(**context)


class NotSignedIn(Unauthorized):
    """No session: the page sends the browser to sign in, and back afterwards."""

    def __init__(self, next_path: str):
        super().__init__("请先登录")
        self.next_path = next_path


def safe_next(path: str | None) -> str:
    """Only a path of this site: never an open redirect to another host."""
    if not path or not path.startswith("/") or path.startswith("//") or urlsplit(path).netloc:
        return "/"
    return path


@dataclass
class Settings:
    secret: str
    cookie_secure: bool
    session_lifetime: timedelta
    limits: domain.LoginLimits
    signer: Signer
    issuer: str
    urls: dict[str, str | None]
    public_url: str
    simulated: bool
    units: list[dict]
    office: str
    campaign: str
    enterprise_link_lifetime: timedelta
    oidc: OidcClient | None = None
    claim_mapping: domain.ClaimMapping = field(default_factory=domain.ClaimMapping)

    @property
    def unit_names(self) -> dict[str, str]:
        return {u["code"]: u["name"] for u in self.units}


class Console(DependencyProvider):
    """Injects a :class:`Visit` for the request the entrypoint handles.

    Configuration: ``CONSOLE_SECRET`` (CSRF and enterprise links; unset: a demo secret and a
    warning), ``SIGNING_KEY_FILE`` (the EC P-256 key of person tokens; unset: one generated
    under var/), ``CONSOLE_PUBLIC_URL``, ``COOKIE_SECURE``, ``SESSION_HOURS``,
    ``<SERVICE>_URL`` per service, ``OIDC_*`` (see the README)."""

    def setup(self) -> None:
        config = self.container.config
        secret = config.get("CONSOLE_SECRET") or DEMO_SECRET
        if secret == DEMO_SECRET:
            log.warning("CONSOLE_SECRET is not set: CSRF tokens and enterprise links use the demo secret")
        key_file = config.get("SIGNING_KEY_FILE") or None
        if key_file:
            signer = Signer.from_file(key_file)
        else:
            import os
            var = Path(os.environ.get("SUQIU_VAR_DIR", Path.cwd() / "var"))
            signer = Signer.from_file(var / "console-signing-key.pem", create=True)
        directory = profile_dir(config)
        units = load_units(directory)
        public_url = str(config.get("CONSOLE_PUBLIC_URL") or "http://127.0.0.1:8106").rstrip("/")
        oidc = None
        if config.get("OIDC_ISSUER"):
            oidc = OidcClient(OidcSettings(
                issuer=str(config["OIDC_ISSUER"]), client_id=str(config.get("OIDC_CLIENT_ID") or "suqiu-console"),
                client_secret=str(config.get("OIDC_CLIENT_SECRET") or ""),
                redirect_uri=f"{public_url}/login/oidc/callback",
                scope=str(config.get("OIDC_SCOPE") or "openid profile email")))
        self.settings = Settings(
            secret=secret, cookie_secure=flag(config.get("COOKIE_SECURE", "false")),
            session_lifetime=timedelta(hours=float(config.get("SESSION_HOURS") or 12)),
            limits=domain.LoginLimits(per_account=int(config.get("LOGIN_LIMIT_PER_ACCOUNT") or 5),
                                      per_address=int(config.get("LOGIN_LIMIT_PER_ADDRESS") or 20),
                                      window=timedelta(minutes=float(config.get("LOGIN_LIMIT_MINUTES") or 15))),
            signer=signer, issuer=str(config.get("CONSOLE_ISSUER") or "suqiu-console"),
            urls={name: config.get(f"{name.upper()}_URL") or None for name in SERVICES},
            public_url=public_url, simulated=flag(config.get("SIMULATED_CLOCK", "false")),
            units=units["units"], office=units["office"], campaign=units.get("campaign", ""),
            enterprise_link_lifetime=timedelta(days=float(config.get("ENTERPRISE_LINK_DAYS") or 365)),
            oidc=oidc,
            claim_mapping=domain.ClaimMapping.parse(str(config.get("OIDC_ROLE_CLAIM") or ""),
                                                    str(config.get("OIDC_UNIT_CLAIM") or ""),
                                                    str(config.get("OIDC_ROLE_MAP") or "")))
        self.sessions: sessionmaker | None = None

    def start(self) -> None:
        self.sessions = sessionmaker(bind=database_of(self.container).engine, expire_on_commit=False)
        self.clock = clock_of(self.container)

    def get_dependency(self, worker_ctx) -> Visit:
        request = worker_ctx.args[0] if worker_ctx.args and isinstance(worker_ctx.args[0], Request) else None
        visit = Visit(self.settings, request, self.sessions, self.clock)
        worker_ctx.data["_console_visit"] = visit
        return visit

    def worker_teardown(self, worker_ctx) -> None:
        visit = worker_ctx.data.pop("_console_visit", None)
        if visit is not None:
            visit.close()


class Visit:
    """One request of one browser: who it is, what it may do, and how the answer is made."""

    def __init__(self, settings: Settings, request: Request | None, sessions: sessionmaker, clock: Clock):
        self.settings = settings
        self.request = request
        self._sessions = sessions
        self._db: Session | None = None
        self._clock = clock
        self._person: domain.Person | None | bool = False  # False: not looked up yet
        self._cookies: list[tuple[str, str | None, dict]] = []
        self._client: ServiceClient | None = None
        self.now = clock.now(request)
        nonce = request.cookies.get(CSRF_COOKIE) if request is not None else None
        if not nonce or len(nonce) > 128:
            nonce = secrets.token_urlsafe(24)
            self._set_cookie(CSRF_COOKIE, nonce, max_age=None)
        self.csrf_nonce = nonce

    # ------------------------------------------------------------ the database
    @property
    def db(self) -> Session:
        if self._db is None:
            self._db = self._sessions()
        return self._db

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        if self._db is not None:
            self._db.close()

    # ------------------------------------------------------------ who
    @property
    def person(self) -> domain.Person | None:
        if self._person is False:
            value = self.request.cookies.get(SESSION_COOKIE) if self.request is not None else None
            self._person = handlers.person_of_session(self.db, value, self.now) if value else None
            self.db.rollback()
        return self._person

    def require(self, *roles: str) -> domain.Person:
        person = self.person
        if person is None:
            raise NotSignedIn(self.request.full_path.rstrip("?") if self.request is not None else "/")
        if roles and person.role not in roles:
            raise Forbidden(f"此页面仅限{'、'.join(domain.ROLE_NAMES[r] for r in roles)}使用")
        return person

    def sign_in(self, person: domain.Person) -> None:
        old = self.request.cookies.get(SESSION_COOKIE)
        handlers.close_session(self.db, old)  # a new id at every sign-in: no session fixation
        value = handlers.open_session(self.db, person, self.now, self.settings.session_lifetime)
        self._set_cookie(SESSION_COOKIE, value, max_age=int(self.settings.session_lifetime.total_seconds()))
        self._person = person

    def sign_out(self) -> None:
        handlers.close_session(self.db, self.request.cookies.get(SESSION_COOKIE))
        self._set_cookie(SESSION_COOKIE, None)
        self._person = None

    @property
    def address(self) -> str:
        return (self.request.remote_addr or "unknown") if self.request is not None else "unknown"

    # ------------------------------------------------------------ forms
    @property
    def csrf(self) -> str:
        return domain.csrf_token(self.settings.secret, self.csrf_nonce)

    def form(self) -> dict[str, str]:
        """The posted form, after its CSRF check (403 and nothing done when it fails)."""
        form = self.request.form
        if not domain.csrf_valid(self.settings.secret, self.request.cookies.get(CSRF_COOKIE), form.get(CSRF_FIELD)):
            raise Forbidden("表单已失效（安全校验未通过），请刷新页面后重新提交")
        return {k: v.strip() for k, v in form.items() if k != CSRF_FIELD}

    # ------------------------------------------------------------ the services
    def _now_header(self) -> str | None:
        if self.settings.simulated and self.request is not None:
            return self.request.headers.get(SIMULATED_NOW_HEADER)
        return None

    def services(self) -> ServiceClient:
        """A client of the services carrying the signed-in person's token."""
        if self._client is None:
            person = self.require()
            token = self.settings.signer.sign(domain.person_claims(person, utcnow(), self.settings.issuer))
            self._client = ServiceClient(self.settings.urls, token, self._now_header())
        return self._client

    def enterprise_services(self, credit_code: str) -> ServiceClient:
        if self._client is None:
            token = self.settings.signer.sign(domain.enterprise_claims(credit_code, utcnow(), self.settings.issuer))
            self._client = ServiceClient(self.settings.urls, token, self._now_header())
        return self._client

    def deployed(self, service: str) -> bool:
        return bool(self.settings.urls.get(service))

    # ------------------------------------------------------------ answers
    def _set_cookie(self, name: str, value: str | None, max_age: int | None = None) -> None:
        self._cookies.append((name, value, {"max_age": max_age}))

    def _finish(self, response: Response) -> Response:
        for key, value in SECURITY_HEADERS.items():
            response.headers.setdefault(key, value)
        for name, value, options in self._cookies:
            if value is None:
                response.delete_cookie(name, path="/", httponly=True, samesite="Lax",
                                       secure=self.settings.cookie_secure)
            else:
                response.set_cookie(name, value, max_age=options["max_age"], path="/", httponly=True,
                                    samesite="Lax", secure=self.settings.cookie_secure)
        return response

    def flash(self, message: str) -> None:
        self._set_cookie(FLASH_COOKIE, quote(message[:500]), max_age=60)

    def _take_flash(self) -> str | None:
        from urllib.parse import unquote

        value = self.request.cookies.get(FLASH_COOKIE) if self.request is not None else None
        if value:
            self._set_cookie(FLASH_COOKIE, None)
            return unquote(value)
        return None

    def render(self, template: str, status: int = 200, **context) -> Response:
        person = self.person if self.request is not None else None
        html = render_page(template, person=person, csrf=self.csrf, flash=self._take_flash(), visit=self,
                           campaign=self.settings.campaign, unit_names=self.settings.unit_names,
                           nav=navigation(person), **context)
        return self._finish(Response(html, status=status, content_type="text/html; charset=utf-8"))

    def redirect(self, location: str, message: str | None = None) -> Response:
        if message:
            self.flash(message)
        return self._finish(Response("", status=303, headers={"Location": location}))

    def respond(self, response: Response) -> Response:
        return self._finish(response)


NAVIGATION = {
    "unit_clerk": [("/desk", "我的待办"), ("/ledger", "台账")],
    "unit_leader": [("/desk", "本单位待办"), ("/ledger", "台账")],
    "office": [("/office/queue", "待派单"), ("/ledger", "台账"), ("/office/callbacks", "电话回访"),
               ("/office/pauses", "暂停审批"), ("/office/reports", "周报月报"), ("/office/rankings", "排名整改"),
               ("/office/agenda", "调度会"), ("/enterprises", "企业")],
    "cadre": [("/cadre", "我的企业"), ("/cadre/submit", "代企业提交")],
    "leader": [("/leader", "总览"), ("/office/rankings", "排名整改")],
    "admin": [("/admin/accounts", "账号管理")],
}
HOME = {"unit_clerk": "/desk", "unit_leader": "/desk", "office": "/office/queue", "cadre": "/cadre",
        "leader": "/leader", "admin": "/admin/accounts"}


def navigation(person: domain.Person | None) -> list[tuple[str, str]]:
    return NAVIGATION.get(person.role, []) if person else []


# ---------------------------------------------------------------- errors as pages
ERROR_STATUS: dict[type[Exception], int] = {
    InvalidInput: 400, ValidationError: 400, BadRequest: 400, Unauthorized: 401, Forbidden: 403, NotFound: 404,
    Conflict: 409, handlers.TooManyAttempts: 429, Unavailable: 503, NotDeployed: 200,
}


def error_status(exc: Exception) -> int:
    if isinstance(exc, ServiceRefused):
        return exc.status if exc.status != 401 else 403
    return next((ERROR_STATUS[k] for k in type(exc).__mro__ if k in ERROR_STATUS), 500)


ERROR_TITLES = {400: "填写有误", 401: "请先登录", 403: "无权访问", 404: "未找到", 409: "无法办理", 429: "请稍后再试",
                503: "服务暂不可用", 200: "本地未部署"}


def error_page(exc: Exception, visit: Visit | None = None) -> Response:
    """Every error as a page in Chinese, in the signed-in person's layout where there is one."""
    if isinstance(exc, NotSignedIn):
        response = Response("", status=303, headers={"Location": f"/login?next={quote(exc.next_path, safe='/')}"})
        return visit.respond(response) if visit is not None else response
    status = error_status(exc)
    if status == 500:
        log.exception("console: unexpected error", exc_info=exc)
        message = "系统内部错误，请稍后再试"
    elif isinstance(exc, DomainError):
        message = exc.message
        if exc.fields:
            message += "：" + "；".join(f"{k} {'、'.join(map(str, v)) if isinstance(v, list) else v}"
                                      for k, v in exc.fields.items())
    elif isinstance(exc, ValidationError):
        message = "填写有误：" + "；".join(f"{k} {v}" for k, v in (exc.messages_dict or {}).items())
    else:
        message = "请求有误"
    context = {"title": ERROR_TITLES.get(status, "出错了"), "message": message}
    if visit is not None:
        try:
            return visit.render("error.html.j2", status=status, **context)
        except Exception:  # the visit itself cannot render (its database is down): the bare page
            log.warning("console: error page without the layout", exc_info=True)
    html = render_page("error.html.j2", status=status, person=None, nav=[], csrf="", flash=None, campaign="",
                       unit_names={}, **context)
    response = Response(html, status=status, content_type="text/html; charset=utf-8")
    for key, value in SECURITY_HEADERS.items():
        response.headers.setdefault(key, value)
    return response


class PageEntrypoint(HttpEntrypoint):
    """An HTTP entrypoint whose errors are HTML pages (the JSON error table is for APIs)."""

    def __init__(self, method: str, url: str, **kwargs):
        kwargs.setdefault("expected_exceptions", (DomainError, ValidationError, BadRequest))
        super().__init__(method, url, **kwargs)

    def handle_result(self, event, worker_ctx, result, exc_info):
        """An error becomes its page here, while the worker's visit (person, cookies) is still open."""
        if exc_info is not None:
            event.send(error_page(exc_info[1], worker_ctx.data.get("_console_visit")), None)
            return result, exc_info
        return super().handle_result(event, worker_ctx, result, exc_info)

    def response_from_exception(self, exc: Exception) -> Response:
        return error_page(exc)


page = PageEntrypoint.decorator
