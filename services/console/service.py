"""The console: every person in the loop works in a browser, signed in as themselves.

It serves server-rendered pages (Jinja2, Chinese), signs people in (accounts with argon2
hashes, or the city's OpenID Connect provider) and calls the other services' public HTTP
APIs on the person's behalf with a short-lived signed token (ES256 JWT) that every service
verifies against ``/.well-known/jwks.json``. It owns no appeal data.

Entrypoints only: each checks who (``visit.require``) and the form (CSRF), calls the
services or a use case, and renders a page or redirects.
"""
from __future__ import annotations

import io
import mimetypes
from urllib.parse import quote

import qrcode
import qrcode.image.svg
from werkzeug.wrappers import Response

from services.console import domain, handlers, pages
from services.console.web import HERE, HOME, Console, page, safe_next
from shared import service as base
from shared.db import Database
from shared.errors import Forbidden, InvalidInput, NotFound, Unauthorized
from shared.web import json_response
from shared.workdays import SHANGHAI

STATIC = HERE / "static"
UNIT_ROLES = domain.UNIT_ROLES
OFFICE = ("office",)
READERS = ("office", "leader")
REPORT_FORMATS = {"html": "text/html; charset=utf-8", "xlsx": None, "csv": None}


class ConsoleService(base.OperableService):
    name = "console"

    db = Database("console")
    visit = Console()

    # ------------------------------------------------------------ public
    @page("GET", "/.well-known/jwks.json")
    def jwks(self, request):
        return json_response(self.visit.settings.signer.jwks(), headers={"Cache-Control": "max-age=300"})

    @page("GET", "/static/<path:name>")
    def static(self, request, name):
        path = (STATIC / name).resolve()
        if STATIC.resolve() not in path.parents or not path.is_file():
            raise NotFound("没有这个文件")
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return Response(path.read_bytes(), content_type=kind,
                        headers={"Cache-Control": "max-age=3600", "X-Content-Type-Options": "nosniff"})

    @page("GET", "/")
    def home(self, request):
        person = self.visit.person
        return self.visit.redirect(HOME[person.role] if person else "/login")

    # ------------------------------------------------------------ signing in
    @page("GET", "/login")
    def login_form(self, request):
        return self.visit.render("login.html.j2", next=safe_next(request.args.get("next")),
                                 oidc=self.visit.settings.oidc is not None)

    @page("POST", "/login")
    def login(self, request):
        form = self.visit.form()
        next_path = safe_next(form.get("next"))
        try:
            person = handlers.authenticate(self.visit.db, form.get("username", ""), form.get("password", ""),
                                           self.visit.address, self.visit.now, self.visit.settings.limits)
        except (handlers.TooManyAttempts, Unauthorized) as exc:
            self.visit.db.commit()  # the failed attempt counts
            return self._login_refused(exc, next_path)
        self.visit.sign_in(person)
        self.visit.db.commit()
        return self.visit.redirect(next_path if next_path != "/" else HOME[person.role])

    def _login_refused(self, exc, next_path: str):
        status = 429 if isinstance(exc, handlers.TooManyAttempts) else 401
        return self.visit.render("login.html.j2", status=status, error=exc.message, next=next_path,
                                 oidc=self.visit.settings.oidc is not None)

    @page("POST", "/logout")
    def logout(self, request):
        self.visit.form()
        self.visit.sign_out()
        self.visit.db.commit()
        return self.visit.redirect("/login", "已退出登录")

    @page("GET", "/login/oidc")
    def login_oidc(self, request):
        oidc = self.visit.settings.oidc
        if oidc is None:
            raise NotFound("本地未配置统一身份认证")
        flow = oidc.authorization_request()
        handlers.remember_flow(self.visit.db, flow, safe_next(request.args.get("next")), self.visit.now)
        self.visit.db.commit()
        return self.visit.redirect(flow.url)

    @page("GET", "/login/oidc/callback")
    def login_oidc_callback(self, request):
        oidc = self.visit.settings.oidc
        if oidc is None:
            raise NotFound("本地未配置统一身份认证")
        if request.args.get("error"):
            raise Forbidden(f"统一身份认证未通过（{request.args.get('error')}）")
        flow = handlers.take_flow(self.visit.db, request.args.get("state", ""), self.visit.now)
        self.visit.db.commit()  # the state is spent whatever happens next
        claims = oidc.claims_for(request.args.get("code", ""), flow.code_verifier, flow.nonce)
        fields = domain.person_from_claims(claims, self.visit.settings.claim_mapping,
                                           self.visit.settings.unit_names)
        person = handlers.sign_in_from_provider(self.visit.db, fields, self.visit.now)
        self.visit.sign_in(person)
        self.visit.db.commit()
        return self.visit.redirect(flow.next_path if flow.next_path not in (None, "/") else HOME[person.role])

    # ------------------------------------------------------------ the unit's desk
    @page("GET", "/desk")
    def desk(self, request):
        self.visit.require(*UNIT_ROLES)
        return self.visit.render("desk.html.j2", **pages.desk(self.visit.services(), request.args))

    @page("GET", "/appeals/<string:appeal_id>")
    def appeal(self, request, appeal_id):
        person = self.visit.require(*UNIT_ROLES, "office", "leader")
        view = pages.appeal(self.visit.services(), person, appeal_id,
                            lambda names: handlers.display_names(self.visit.db, names), self.visit.settings.unit_names)
        return self.visit.render("appeal.html.j2", **view, units=self.visit.settings.units,
                                 office_code=self.visit.settings.office)

    def _desk_action(self, appeal_id: str, action: str, body_of, message: str):
        self.visit.require(*UNIT_ROLES)
        body = body_of(self.visit.form())
        self.visit.services().post("dispatch", f"/api/v1/desk/appeals/{appeal_id}/{action}", body)
        return self.visit.redirect(f"/appeals/{quote(appeal_id)}", message)

    @page("POST", "/appeals/<string:appeal_id>/accept")
    def accept(self, request, appeal_id):
        return self._desk_action(appeal_id, "accept", lambda form: {}, "已签收")

    @page("POST", "/appeals/<string:appeal_id>/progress")
    def progress(self, request, appeal_id):
        return self._desk_action(appeal_id, "progress", lambda form: {"note": form.get("note", "")}, "已记录进展")

    @page("POST", "/appeals/<string:appeal_id>/reply")
    def reply(self, request, appeal_id):
        return self._desk_action(appeal_id, "reply", lambda form: {"outcome": form.get("outcome", ""),
                                                                   "reply_text": form.get("reply_text", "")},
                                 "已办结反馈，等待回访")

    @page("POST", "/appeals/<string:appeal_id>/return")
    def return_appeal(self, request, appeal_id):
        self.visit.require(*UNIT_ROLES)
        self.visit.services().post("dispatch", f"/api/v1/desk/appeals/{appeal_id}/return",
                                   {"reason": self.visit.form().get("reason", "")})
        return self.visit.redirect("/desk", f"已退单：{appeal_id}")

    @page("POST", "/appeals/<string:appeal_id>/escalate")
    def escalate(self, request, appeal_id):
        return self._desk_action(appeal_id, "escalation-request", lambda form: {"note": form.get("note", "")},
                                 "已申请提级")

    @page("POST", "/appeals/<string:appeal_id>/pause")
    def pause(self, request, appeal_id):
        """A unit asks for a clock pause (reason, working days) and the office approves it on its
        pauses page; the office pauses on its own word."""
        person = self.visit.require(*UNIT_ROLES, "office")
        form = self.visit.form()
        reason = form.get("reason", "")
        if person.role == "office":
            self.visit.services().post("supervision", f"/api/v1/appeals/{appeal_id}/pause",
                                       {"reason": reason} if reason else {})
            return self.visit.redirect(f"/appeals/{quote(appeal_id)}", "已暂停计时")
        try:
            days = int(form.get("days") or 0)
        except ValueError:
            raise InvalidInput("暂停天数须为工作日天数", {"days": ["须为整数"]}) from None
        self.visit.services().post("supervision", f"/api/v1/appeals/{appeal_id}/pause-requests",
                                   {"reason": reason, "days": days})
        return self.visit.redirect(f"/appeals/{quote(appeal_id)}", "已提交暂停计时申请，待专班审批")

    @page("POST", "/appeals/<string:appeal_id>/resume")
    def resume(self, request, appeal_id):
        self.visit.require(*UNIT_ROLES, "office")
        self.visit.form()
        self.visit.services().post("supervision", f"/api/v1/appeals/{appeal_id}/resume")
        return self.visit.redirect(f"/appeals/{quote(appeal_id)}", "已恢复计时")

    # ------------------------------------------------------------ the office on one appeal
    @page("POST", "/appeals/<string:appeal_id>/assign")
    def assign(self, request, appeal_id):
        self.visit.require(*OFFICE)
        form = self.visit.form()
        co_units = [u for u in request.form.getlist("co_units") if u and u != form.get("lead")]
        body = {"lead": form.get("lead", ""), "co_units": co_units, "replace_lead": form.get("replace_lead") == "on"}
        if form.get("note"):
            body["note"] = form["note"]
        self.visit.services().post("dispatch", f"/api/v1/office/appeals/{appeal_id}/assign", body)
        return self.visit.redirect(request.form.get("back") == "queue" and "/office/queue"
                                   or f"/appeals/{quote(appeal_id)}", f"已派单：{appeal_id}")

    @page("POST", "/appeals/<string:appeal_id>/classify")
    def classify(self, request, appeal_id):
        self.visit.require(*OFFICE)
        form = self.visit.form()
        body = {k: form[k] for k in ("category", "difficulty", "nature") if form.get(k)}
        self.visit.services().post("dispatch", f"/api/v1/office/appeals/{appeal_id}/classify", body)
        return self.visit.redirect(f"/appeals/{quote(appeal_id)}", "已重新分类")

    @page("POST", "/appeals/<string:appeal_id>/order")
    def order(self, request, appeal_id):
        self.visit.require(*OFFICE)
        form = self.visit.form()
        body = {"text": form.get("text", ""), "escalate": form.get("escalate") == "on"}
        try:
            body["working_days"] = int(form.get("working_days") or 0)
        except ValueError:
            raise InvalidInput("办理时限须为工作日天数", {"working_days": ["须为整数"]}) from None
        self.visit.services().post("supervision", f"/api/v1/appeals/{appeal_id}/orders", body)
        return self.visit.redirect(f"/appeals/{quote(appeal_id)}", "已下发督办单")

    @page("POST", "/appeals/<string:appeal_id>/callback")
    def callback(self, request, appeal_id):
        person = self.visit.require(*OFFICE)
        form = self.visit.form()
        body = {"solved": form.get("solved") == "yes", "satisfaction": form.get("satisfaction", ""),
                "caller": person.display_name}
        if form.get("comment"):
            body["comment"] = form["comment"]
        if form.get("reopen_unit"):
            body["reopen_unit"] = form["reopen_unit"]
        body["channel"] = "phone"
        result = self.visit.services().post("assessment", f"/api/v1/appeals/{appeal_id}/callback", body)
        outcome = {"closed": "已办结", "confirmed": "确认已解决"}.get((result or {}).get("result"), "已转重办")
        if form.get("back") == "callbacks":
            return self.visit.redirect("/office/callbacks", f"已录入电话回访（{appeal_id}）：{outcome}")
        return self.visit.redirect(f"/appeals/{quote(appeal_id)}", f"已录入回访：{outcome}")

    # ------------------------------------------------------------ the office's pages
    @page("GET", "/office/queue")
    def office_queue(self, request):
        self.visit.require(*OFFICE)
        listing = self.visit.services().get("dispatch", "/api/v1/office/queue", page_size=100)
        return self.visit.render("queue.html.j2", items=listing["items"], total=listing["total"],
                                 units=self.visit.settings.units)

    @page("GET", "/ledger")
    def ledger(self, request):
        person = self.visit.require(*UNIT_ROLES, "office", "leader")
        return self.visit.render("ledger.html.j2", **pages.ledger(self.visit.services(), person, request.args),
                                 units=self.visit.settings.units)

    @page("GET", "/ledger.<string:fmt>")
    def ledger_export(self, request, fmt):
        self.visit.require(*UNIT_ROLES, "office", "leader")
        if fmt not in ("csv", "xlsx"):
            raise NotFound("只能导出 CSV 或 XLSX")
        filters = {k: request.args.get(k) for k in pages.LEDGER_FILTERS if request.args.get(k)}
        upstream = self.visit.services().raw("supervision", f"/api/v1/ledger.{fmt}", **filters)
        return self.visit.respond(Response(upstream.content, content_type=upstream.headers.get("Content-Type"),
                                           headers={"Content-Disposition": f'attachment; filename="ledger.{fmt}"'}))

    @page("GET", "/office/callbacks")
    def office_callbacks(self, request):
        """The office's phone-callback list (assessment's: links expired unanswered, follow-up
        rounds), each with its phone-callback form; below, the replies still waiting for the
        enterprise's own answer by link."""
        self.visit.require(*OFFICE)
        view = pages.phone_callbacks(self.visit.services(), request.args)
        return self.visit.render("callbacks.html.j2", **view, units=self.visit.settings.units)

    @page("GET", "/office/rounds")
    def office_rounds(self, request):
        """Follow-up callback rounds (回访抽查): start one, and each round's figures."""
        self.visit.require(*OFFICE)
        rounds = self.visit.services().get("assessment", "/api/v1/callback-rounds")["items"]
        return self.visit.render("rounds.html.j2", rounds=rounds, units=self.visit.settings.units,
                                 today=domain.local_day(self.visit.now))

    @page("POST", "/office/rounds")
    def office_round_start(self, request):
        self.visit.require(*OFFICE)
        form = self.visit.form()
        body = {"name": form.get("name", ""), "closed_from": form.get("closed_from", ""),
                "closed_to": form.get("closed_to", "")}
        for name in ("unit", "category"):
            if form.get(name):
                body[name] = form[name]
        for name in ("sample", "seed"):
            if form.get(name):
                try:
                    body[name] = int(form[name])
                except ValueError:
                    raise InvalidInput("抽样数量和随机种子须为整数", {name: ["须为整数"]}) from None
        started = self.visit.services().post("assessment", "/api/v1/callback-rounds", body)
        return self.visit.redirect(f"/office/rounds/{started['round_id']}",
                                   f"已发起回访抽查：选中 {started['status']['selected']} 件")

    @page("GET", "/office/rounds/<string:round_id>")
    def office_round(self, request, round_id):
        self.visit.require(*OFFICE)
        found = self.visit.services().get("assessment", f"/api/v1/callback-rounds/{round_id}")
        return self.visit.render("round.html.j2", round=found)

    @page("GET", "/office/pauses")
    def office_pauses(self, request):
        """The units' pause requests waiting for the office (暂停计时审批), oldest first."""
        self.visit.require(*OFFICE)
        view = pages.pause_requests(self.visit.services(), lambda names: handlers.display_names(self.visit.db, names),
                                    self.visit.settings.unit_names)
        return self.visit.render("pauses.html.j2", **view)

    @page("POST", "/office/pauses/<string:request_id>/<string:decision>")
    def office_pause_decision(self, request, request_id, decision):
        self.visit.require(*OFFICE)
        form = self.visit.form()
        if decision not in ("approve", "refuse"):
            raise NotFound("没有这种审批操作")
        body = {"note": form["note"]} if form.get("note") else {}
        decided = self.visit.services().post("supervision", f"/api/v1/pause-requests/{request_id}/{decision}", body)
        verb = "已批准" if decision == "approve" else "已驳回"
        return self.visit.redirect("/office/pauses", f"{verb}暂停计时申请：{decided.get('appeal_id', request_id)}")

    @page("GET", "/office/reports")
    def office_reports(self, request):
        self.visit.require(*OFFICE)
        kind = "monthly" if request.args.get("kind") == "monthly" else "weekly"
        period = request.args.get("period") or (domain.last_week(self.visit.now) if kind == "weekly"
                                                else domain.month_of(self.visit.now))
        key = "week" if kind == "weekly" else "month"
        report = self.visit.services().get("assessment", f"/api/v1/reports/{kind}", format="json", **{key: period})
        return self.visit.render("reports.html.j2", kind=kind, period=period, report=report, key=key)

    @page("GET", "/office/reports/<string:kind>.<string:fmt>")
    def office_report_file(self, request, kind, fmt):
        self.visit.require(*OFFICE)
        if kind not in ("weekly", "monthly") or fmt not in REPORT_FORMATS:
            raise NotFound("没有这种报告")
        key = "week" if kind == "weekly" else "month"
        upstream = self.visit.services().raw("assessment", f"/api/v1/reports/{kind}", format=fmt,
                                             **{key: request.args.get("period", "")})
        response = Response(upstream.content, content_type=upstream.headers.get("Content-Type"))
        if fmt == "html":  # the report's own page: its inline style and chart images, and nothing else
            response.headers["Content-Security-Policy"] = ("sandbox; default-src 'none'; img-src data:; "
                                                           "style-src 'unsafe-inline'")
        else:
            response.headers["Content-Disposition"] = upstream.headers.get("Content-Disposition", "attachment")
        return self.visit.respond(response)

    @page("POST", "/office/reports/publish")
    def office_report_publish(self, request):
        self.visit.require(*OFFICE)
        form = self.visit.form()
        kind = "monthly" if form.get("kind") == "monthly" else "weekly"
        key = "week" if kind == "weekly" else "month"
        period = form.get("period", "")
        published = self.visit.services().post("assessment", f"/api/v1/reports/{kind}/publish", None,
                                               **{key: period})
        flagged = "、".join(published.get("flagged") or []) or "无"
        return self.visit.redirect(f"/office/reports?kind={kind}&period={quote(period)}",
                                   f"已发布 {period} {'周报' if kind == 'weekly' else '月度通报'}；整改名单：{flagged}")

    @page("GET", "/office/rankings")
    def office_rankings(self, request):
        self.visit.require(*READERS)
        month = request.args.get("month") or domain.month_of(self.visit.now)
        report = self.visit.services().get("assessment", "/api/v1/reports/monthly", month=month, format="json")
        return self.visit.render("rankings.html.j2", month=month, report=report)

    @page("GET", "/office/agenda")
    def office_agenda(self, request):
        self.visit.require(*OFFICE)
        month = request.args.get("month") or domain.month_of(self.visit.now)
        agenda = self.visit.services().get("supervision", "/api/v1/meeting-agenda", month=month)
        return self.visit.render("agenda.html.j2", month=month, items=agenda["items"])

    # ------------------------------------------------------------ enterprises: registry, links, QR codes
    @page("GET", "/enterprises")
    def enterprises(self, request):
        self.visit.require(*OFFICE)
        listing = self.visit.services().get("intake", "/api/v1/enterprises", page_size=200,
                                            district=request.args.get("district"))
        return self.visit.render("enterprises.html.j2", items=listing["items"], total=listing["total"])

    def _enterprise_link(self, credit_code: str) -> str:
        expires = self.visit.now + self.visit.settings.enterprise_link_lifetime
        token = domain.sign_enterprise_link(self.visit.settings.secret, credit_code, expires)
        return f"{self.visit.settings.public_url}/e/{token}"

    @page("GET", "/enterprises/<string:credit_code>/link")
    def enterprise_link(self, request, credit_code):
        self.visit.require("office", "cadre")
        enterprise = self.visit.services().get("intake", f"/api/v1/enterprises/{credit_code}")
        link = self._enterprise_link(enterprise["credit_code"])
        image = qrcode.make(link, image_factory=qrcode.image.svg.SvgPathImage, box_size=8)
        svg = image.to_string(encoding="unicode")
        return self.visit.render("enterprise_link.html.j2", enterprise=enterprise, link=link, qr_svg=svg,
                                 days=self.visit.settings.enterprise_link_lifetime.days)

    @page("GET", "/enterprises/<string:credit_code>/qr.png")
    def enterprise_qr(self, request, credit_code):
        self.visit.require("office", "cadre")
        enterprise = self.visit.services().get("intake", f"/api/v1/enterprises/{credit_code}")
        buffer = io.BytesIO()
        qrcode.make(self._enterprise_link(enterprise["credit_code"]), box_size=10).save(buffer, format="PNG")
        return self.visit.respond(Response(buffer.getvalue(), content_type="image/png", headers={
            "Content-Disposition": f'attachment; filename="{enterprise["credit_code"]}.png"'}))

    # ------------------------------------------------------------ the enterprise (no account: its signed link)
    def _link(self, token: str) -> domain.EnterpriseLink:
        return domain.read_enterprise_link(self.visit.settings.secret, token, self.visit.now)

    @page("GET", "/e/<string:token>")
    def enterprise_home(self, request, token):
        link = self._link(token)
        view = pages.enterprise_home(self.visit.enterprise_services(link.credit_code), link.credit_code)
        return self.visit.render("enterprise.html.j2", token=token, credit_code=link.credit_code, **view)

    @page("POST", "/e/<string:token>/appeals")
    def enterprise_submit(self, request, token):
        link = self._link(token)
        form = self.visit.form()
        body = pages.appeal_body({**form, "credit_code": link.credit_code}, self.visit.now, "qrcode")
        created = self.visit.enterprise_services(link.credit_code).post("intake", "/api/v1/appeals", body)
        return self.visit.redirect(f"/e/{token}", f"已提交，诉求编号 {created['id']}")

    def _own_callback(self, link: domain.EnterpriseLink, callback: str) -> dict:
        """The callback behind an assessment link, only when its appeal is this enterprise's own."""
        client = self.visit.enterprise_services(link.credit_code)
        form = client.get("assessment", f"/api/v1/callback/{callback}")
        client.get("intake", f"/api/v1/appeals/{form['appeal_id']}")  # 404 for another enterprise's appeal
        return form

    @page("GET", "/e/<string:token>/callback/<string:callback>")
    def enterprise_callback_form(self, request, token, callback):
        form = self._own_callback(self._link(token), callback)
        return self.visit.render("enterprise_callback.html.j2", token=token, callback=callback, form=form)

    @page("POST", "/e/<string:token>/callback/<string:callback>")
    def enterprise_callback(self, request, token, callback):
        link = self._link(token)
        form = self.visit.form()
        if form.get("solved") not in ("yes", "no") or form.get("satisfaction") not in ("满意", "基本满意", "不满意"):
            raise InvalidInput("请选择是否解决和满意程度后再提交")
        body = {"solved": form["solved"] == "yes", "satisfaction": form["satisfaction"]}
        if form.get("comment"):
            body["comment"] = form["comment"]
        self._own_callback(link, callback)
        result = self.visit.enterprise_services(link.credit_code).post("assessment", f"/api/v1/callback/{callback}",
                                                                      body)
        reopened = result and result.get("result") == "reopened"
        return self.visit.redirect(f"/e/{token}", "感谢您的评价！" + ("我们已将问题交回重新办理。" if reopened else ""))

    # ------------------------------------------------------------ the cadre
    @page("GET", "/cadre")
    def cadre_home(self, request):
        person = self.visit.require("cadre")
        return self.visit.render("cadre.html.j2", **pages.cadre_home(self.visit.services(), person))

    @page("GET", "/cadre/submit")
    def cadre_submit_form(self, request):
        self.visit.require("cadre")
        enterprise = None
        if request.args.get("credit_code"):
            try:
                enterprise = self.visit.services().get("intake", f"/api/v1/enterprises/{request.args['credit_code']}")
            except pages.ServiceRefused:
                enterprise = None
        return self.visit.render("cadre_submit.html.j2", enterprise=enterprise,
                                 credit_code=request.args.get("credit_code", ""), now=self.visit.now)

    @page("GET", "/cadre/check-code")
    def cadre_check_code(self, request):
        """The credit code checked as it is typed (htmx): GB 32100 check character, then the registry."""
        self.visit.require("cadre", "office")
        code = request.args.get("credit_code", "").strip().upper()
        problem = credit_code_problem(code)
        enterprise = None
        if not problem:
            try:
                enterprise = self.visit.services().get("intake", f"/api/v1/enterprises/{code}")
            except pages.ServiceRefused:
                enterprise = None
            except pages.NotDeployed:
                enterprise = None
        return self.visit.render("_code_check.html.j2", code=code, problem=problem, enterprise=enterprise)

    @page("POST", "/cadre/submit")
    def cadre_submit(self, request):
        self.visit.require("cadre")
        form = self.visit.form()
        problem = credit_code_problem(form.get("credit_code", "").strip().upper())
        if problem:
            raise InvalidInput(f"统一社会信用代码有误：{problem}", {"credit_code": [problem]})
        body = pages.appeal_body({**form, "credit_code": form["credit_code"].strip().upper()}, self.visit.now,
                                 "visit")
        created = self.visit.services().post("intake", "/api/v1/appeals", body)
        return self.visit.redirect("/cadre", f"已提交，诉求编号 {created['id']}")

    @page("GET", "/cadre/visit")
    def cadre_visit_form(self, request):
        """A cadre records a visit (走访) to an enterprise, household or project paired with them."""
        self.visit.require("cadre")
        return self.visit.render("cadre_visit.html.j2", SUBJECT_TYPES=pages.VISIT_SUBJECT_TYPES,
                                 subject_type=request.args.get("subject_type", "enterprise"),
                                 subject_id=request.args.get("subject_id", ""),
                                 today=self.visit.now.astimezone(SHANGHAI).date().isoformat())

    @page("POST", "/cadre/visit")
    def cadre_visit(self, request):
        self.visit.require("cadre")
        body = pages.visit_body(self.visit.form())
        created = self.visit.services().post("intake", "/api/v1/visits", body)
        return self.visit.redirect("/cadre", f"已记录走访，编号 {created['id']}")

    # ------------------------------------------------------------ the leader
    @page("GET", "/leader")
    def leader(self, request):
        self.visit.require(*READERS)
        view = pages.leader_overview(self.visit.services(), self.visit.now)
        report = view["report"]
        charts = {}
        if report:
            charts["rates"] = pages.bars([(t["label"], t["actual"]) for t in report["targets"]] or
                                         [(report["labels"][k], report["overall"]["rates"].get(k))
                                          for k in ("resolution", "satisfaction", "response", "on_time")])
            charts["ranking"] = pages.bars([(r["name"], r["score"]) for r in report["ranking"][:12]])
        return self.visit.render("leader.html.j2", charts=charts, **view)

    # ------------------------------------------------------------ the admin
    @page("GET", "/admin/accounts")
    def admin_accounts(self, request):
        self.visit.require("admin")
        return self.visit.render("admin_accounts.html.j2", accounts=handlers.list_accounts(self.visit.db),
                                 units=self.visit.settings.units, roles=domain.ROLES)

    @page("POST", "/admin/accounts")
    def admin_add_account(self, request):
        self.visit.require("admin")
        form = self.visit.form()
        fields = domain.validate_account(form.get("username", ""), form.get("display_name", ""),
                                         form.get("role", ""), form.get("unit"), self.visit.settings.unit_names,
                                         password=form.get("password", ""))
        handlers.add_account(self.visit.db, fields, form["password"], self.visit.now)
        self.visit.db.commit()
        return self.visit.redirect("/admin/accounts", f"已添加账号 {fields['username']}")

    @page("POST", "/admin/accounts/<string:username>/<string:action>")
    def admin_change_account(self, request, username, action):
        admin = self.visit.require("admin")
        form = self.visit.form()
        if action in ("disable", "enable"):
            if username == admin.username:
                raise Forbidden("不能停用自己的账号")
            handlers.set_disabled(self.visit.db, username, action == "disable", self.visit.now)
            message = f"已{'停用' if action == 'disable' else '启用'} {username}"
        elif action == "password":
            handlers.set_password(self.visit.db, username, form.get("password", ""), self.visit.now)
            message = f"已重设 {username} 的密码"
        else:
            raise NotFound("没有这个操作")
        self.visit.db.commit()
        return self.visit.redirect("/admin/accounts", message)

    # ------------------------------------------------------------ anything else
    @page("GET", "/<path:rest>")
    def not_found(self, request, rest):
        raise NotFound("没有这个页面")


def credit_code_problem(code: str) -> str | None:
    """Why a credit code is not valid (GB 32100-2015 check character), in Chinese; None when it is."""
    from stdnum.cn import uscc
    from stdnum.exceptions import ValidationError

    if not code:
        return "请填写统一社会信用代码"
    try:
        uscc.validate(code)
    except ValidationError as exc:
        return {"InvalidLength": "应为 18 位", "InvalidFormat": "含有不允许的字符",
                "InvalidChecksum": "校验位不符（GB 32100-2015）",
                "InvalidComponent": "登记管理部门或机构类别代码无效"}.get(type(exc).__name__, "格式不正确")
    return None

