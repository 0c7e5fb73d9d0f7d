"""The assessment service: callbacks (回访), rates, scores, rankings, weekly and monthly reports.

Entrypoints only: each parses its input, calls a use case in ``handlers`` (or
builds a report through ``reports``) inside one transaction, and serialises.
"""
from __future__ import annotations

import logging
import time
from datetime import timedelta
from pathlib import Path

from marshmallow import ValidationError
from nameko.extensions import DependencyProvider
from nameko.timer import timer
from prometheus_client import Counter, Histogram
from sqlalchemy.exc import IntegrityError
from werkzeug.wrappers import Response

from services.assessment import (
    annual,
    callbacks,
    domain,
    handlers,
    rectification,
    render,
    reports,
    schemas,
    visits,
)
from services.assessment.models import outbox
from services.assessment.profile import AssessmentPart
from shared import periods
from shared import service as base
from shared.auth import Auth
from shared.config import flag
from shared.consumers import Batch, consume
from shared.db import Database
from shared.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound
from shared.events import SATISFACTION
from shared.openapi import BEARER, build_spec, error, json_content, paging_parameters, query
from shared.outbox import OutboxRelay
from shared.profile import load_part, load_units, part_schema, profile_dir
from shared.web import error_response, http, json_body, json_response, page_body, paging
from shared.workdays import start_of_day

log = logging.getLogger(__name__)

DEMO_CALLBACK_SECRET = "suqiu-demo-callback-secret-not-for-production"
READERS = ("office", "unit")

CALLBACKS = Counter("suqiu_callbacks_total", "Callback answers recorded.", ["satisfaction"])
CLOSED = Counter("suqiu_appeals_closed_total", "Appeals closed after their callback.", ["outcome"])
REPORT_DURATION = Histogram("suqiu_report_duration_seconds", "Time to build a report.", ["report"],
                            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
CONTENT_TYPES = {
    "html": "text/html; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


class AssessmentSettings(DependencyProvider):
    """The profile part, the unit directory and the link secret, read once in ``setup()``."""

    def setup(self) -> None:
        config = self.container.config
        directory = profile_dir(config)
        part = load_part(directory, "assessment", AssessmentPart)
        units = load_units(directory)
        submit_stages = submit_stages_of(directory)
        secret = config.get("CALLBACK_SECRET") or DEMO_CALLBACK_SECRET
        if secret == DEMO_CALLBACK_SECRET:
            log.warning("CALLBACK_SECRET is not set: callback links are signed with the demo key")
        self.settings = handlers.Settings(
            secret=secret, link_base_url=part["callback"]["link_base_url"],
            link_valid=timedelta(hours=part["callback"]["link_valid_hours"]), part=part,
            units={u["code"]: u for u in units["units"]}, office=units["office"], submit_stages=submit_stages)

    def get_dependency(self, worker_ctx) -> handlers.Settings:
        return self.settings


def submit_stages_of(directory) -> dict:
    """The deployment's submit stage (collection -> submission) per difficulty, where the profile
    writes it: ``stages.submit`` of ``supervision.yaml`` (Baoding 7 days, Hangzhou 1 working day,
    Hanzhong 2 working days), read through that part's own schema. Empty when the profile has
    no supervision part or sets no submit stage: submitted on time is then not measured."""
    schema = part_schema("supervision")
    if schema is None or not (Path(directory) / "supervision.yaml").exists():
        return {}
    return dict(load_part(directory, "supervision", schema)["stages"].get("submit") or {})


CHASE_BATCH = 200
CHASED = Counter("suqiu_callbacks_chased_total", "Unanswered callback links reminded, or listed for a phone "
                 "callback at their expiry.", ["step"])


class ChaseConfig(DependencyProvider):
    """``CHASE_TIMER`` (true: the timer chases by the service's clock; unset: as ``TICK_TIMER``,
    default true) and ``SIMULATED_CLOCK`` (a chase at a time in the future, for simulations and
    tests only)."""

    def setup(self) -> None:
        config = self.container.config
        chase = config.get("CHASE_TIMER")
        self.timer = flag(config.get("TICK_TIMER", "true") if chase in (None, "") else chase)
        self.simulated = flag(self.container.config.get("SIMULATED_CLOCK", "false"))

    def get_dependency(self, worker_ctx) -> ChaseConfig:
        return self


FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
OUTCOME_NAMES = {"solved": "已解决", "explained": "已作解释说明", "long_term": "已纳入长期规划"}


def _wants_html(request) -> bool:
    accept = request.accept_mimetypes
    return accept.best_match(["application/json", "text/html"]) == "text/html" and accept["text/html"] > 0


def _callback_page(message: str | None, *, form: dict | None = None, status: int = 200) -> Response:
    expires = form["expires_at"].astimezone(domain.SHANGHAI).strftime("%Y-%m-%d %H:%M") if form else ""
    outcome = OUTCOME_NAMES.get(form["outcome"], form["outcome"]) if form else ""
    html = render.page("callback.html.j2", message=message, form=form, expires=expires, outcome=outcome)
    return Response(html, status=status, content_type="text/html; charset=utf-8")


def _period(kind: str, request) -> domain.Period:
    name = {"weekly": "week", "monthly": "month"}[kind]
    value = request.args.get(name)
    if not value:
        raise InvalidInput(f"say which {name}", {name: ["required, e.g. " + ("2026-W47" if name == "week"
                                                                             else "2026-11")]})
    try:
        return domain.week_period(value) if name == "week" else domain.month_period(value)
    except ValueError as exc:
        raise InvalidInput(f"invalid {name}", {name: [str(exc)]}) from None


def _previous(period: domain.Period) -> domain.Period:
    if period.kind == "month":
        return domain.previous_month(period)
    return domain.previous_weeks(period, 2)[0]


class AssessmentService(base.OperableService):
    name = "assessment"

    db = Database("assessment")
    relay = OutboxRelay(outbox)
    auth = Auth()
    settings = AssessmentSettings()
    chase_config = ChaseConfig()

    # ------------------------------------------------------------ facts from events
    @consume("intake", "appeal_received")
    def on_received(self, batch: Batch):
        handlers.apply(batch.connection, batch.events, self.settings)

    @consume("intake", "subject_updated")
    def on_subject_updated(self, batch: Batch):
        handlers.apply(batch.connection, batch.events, self.settings)

    @consume("intake", "visit_recorded")
    def on_visit_recorded(self, batch: Batch):
        handlers.apply(batch.connection, batch.events, self.settings)

    @consume("dispatch", "appeal_dispatched")
    def on_dispatched(self, batch: Batch):
        handlers.apply(batch.connection, batch.events, self.settings)

    @consume("dispatch", "appeal_accepted")
    def on_accepted(self, batch: Batch):
        handlers.apply(batch.connection, batch.events, self.settings)

    @consume("dispatch", "appeal_replied")
    def on_replied(self, batch: Batch):
        handlers.apply(batch.connection, batch.events, self.settings)

    @consume("dispatch", "appeal_returned")
    def on_returned(self, batch: Batch):
        handlers.apply(batch.connection, batch.events, self.settings)

    @consume("dispatch", "appeal_reclassified")
    def on_reclassified(self, batch: Batch):
        handlers.apply(batch.connection, batch.events, self.settings)

    @consume("supervision", "appeal_deadline_set")
    def on_deadline_set(self, batch: Batch):
        handlers.apply(batch.connection, batch.events, self.settings)

    @consume("supervision", "appeal_colour_changed")
    def on_colour_changed(self, batch: Batch):
        handlers.apply(batch.connection, batch.events, self.settings)

    @consume("supervision", "appeal_escalated")
    def on_escalated(self, batch: Batch):
        handlers.apply(batch.connection, batch.events, self.settings)

    # ------------------------------------------------------------ callbacks (回访)
    @http("POST", "/api/v1/appeals/<string:appeal_id>/callback")
    def record_callback(self, request, appeal_id):
        """The office's callback (电话回访): of the reply (a replied appeal), or of a closed appeal
        in a follow-up round (then ``reopen_unit`` may send a reopen to another unit)."""
        principal = self.auth.require(request, "office")
        now = self.clock(request)
        body = json_body(request)
        extra = schemas.PhoneCallbackExtra().load(body if isinstance(body, dict) else {})
        answer = domain.validate_callback(body, now)
        if extra["reopen_unit"] is not None and extra["reopen_unit"] not in self.settings.units:
            raise NotFound(f"no unit {extra['reopen_unit']!r} in units.yaml (reopen_unit)")
        caller = answer.get("caller") or principal.name
        with self.db.transaction() as session:
            closed = handlers.status_of(session, appeal_id) == "closed"
            entry = callbacks.open_round_entry(session, appeal_id) if closed else None
            if entry is not None:
                followup = callbacks.record_followup(session, entry, answer, channel=extra["channel"], caller=caller,
                                                     now=now, reopen_unit=extra["reopen_unit"])
            else:
                result = handlers.record_callback(session, appeal_id, answer, channel=extra["channel"],
                                                  caller=caller, now=now)
                callbacks.callback_recorded(session, appeal_id, answer["called_at"], caller)
        if entry is not None:
            return json_response(schemas.FollowupResultOut().dump(followup), status=201)
        return self._callback_answered(result)

    @http("POST", "/api/v1/callbacks/chase")
    def chase_http(self, request):
        """Run the chase now, or at the body's ``now`` (a time in the future needs SIMULATED_CLOCK)."""
        self.auth.require(request, "office")
        body = json_body(request) if request.get_data(cache=True) else {}
        if not isinstance(body, dict):
            raise InvalidInput('the body must be a JSON object: {"now": "<ISO 8601>"}, or nothing')
        data = schemas.ChaseInput().load(body)
        now = self.clock(request)
        if data["now"] is not None:
            if data["now"] > now + timedelta(minutes=1) and not self.chase_config.simulated:
                raise Forbidden("a chase in the future needs SIMULATED_CLOCK: true (simulations only)")
            now = data["now"]
        return json_response(self._chase(now))

    def _chase(self, now) -> dict:
        total = callbacks.ChaseReport()
        while True:
            with self.db.transaction() as session:
                report = callbacks.chase(session, self.settings, now, CHASE_BATCH)
            total.reminded += report.reminded
            total.listed += report.listed
            if len(report.reminded) + len(report.listed) < CHASE_BATCH:
                break
        CHASED.labels("reminded").inc(len(total.reminded))
        CHASED.labels("phone_listed").inc(len(total.listed))
        return {"now": now.isoformat(), **total.as_dict()}

    @timer(interval=60, eager=True)
    def chase_timer(self):
        """Every minute, by the service's Clock: remind due links, list expired ones for a phone call."""
        if self.chase_config.timer:
            self._chase(self.clock())

    @http("GET", "/api/v1/callbacks/phone-list")
    def phone_list(self, request):
        self.auth.require(request, "office")
        page, size = paging(request)
        filters = schemas.PhoneListQuery().load(request.args.to_dict())
        items, total = callbacks.phone_list(self.db.session, page, size, filters.get("reason"), filters.get("unit"))
        return json_response(page_body(schemas.PhoneEntryOut(many=True).dump(items), total, page, size))

    @http("POST", "/api/v1/callback-rounds")
    def start_round(self, request):
        principal = self.auth.require(request, "office")
        body = json_body(request)
        if not isinstance(body, dict):
            raise InvalidInput("the body must be a JSON object")
        criteria = schemas.RoundInput().load(body)
        criteria["closed_from"] = start_of_day(criteria["closed_from"])
        criteria["closed_to"] = start_of_day(criteria["closed_to"] + timedelta(days=1))
        with self.db.transaction() as session:
            started = callbacks.start_round(session, self.settings, criteria, principal.actor, self.clock(request))
        return json_response(schemas.RoundOut().dump(started), status=201)

    @http("GET", "/api/v1/callback-rounds")
    def rounds(self, request):
        self.auth.require(request, "office")
        return json_response({"items": schemas.RoundOut(many=True, exclude=("appeals",)).dump(
            callbacks.list_rounds(self.db.session))})

    @http("GET", "/api/v1/callback-rounds/<string:round_id>")
    def round_status(self, request, round_id):
        self.auth.require(request, "office")
        return json_response(schemas.RoundOut().dump(callbacks.round_detail(self.db.session, round_id)))

    @http("GET", "/api/v1/appeals/<string:appeal_id>/assessment")
    def get_assessment(self, request, appeal_id):
        self.auth.require(request, "office")
        facts = handlers.appeal_assessment(self.db.session, appeal_id)
        facts["followups"] = callbacks.followups_of(self.db.session, appeal_id)
        return json_response(facts)

    @http("GET", "/api/v1/enterprise/callbacks")
    def enterprise_callbacks(self, request):
        """The enterprise's own open callback links (its page in the console answers them)."""
        principal = self.auth.require(request, "enterprise")
        items = handlers.open_links(self.db.session, self.settings, principal.credit_code, self.clock(request))
        return json_response({"items": items})

    @http("GET", "/api/v1/callback/<string:token>")
    def callback_form(self, request, token):
        """JSON for machines; an HTML form in Chinese for the enterprise's browser."""
        html = _wants_html(request)
        try:
            form = handlers.callback_form(self.db.session, self.settings, token, self.clock(request))
        except DomainError as exc:
            if html:
                return _callback_page(exc.message, status=error_response(exc).status_code)
            raise
        return _callback_page(None, form=form) if html else json_response(form)

    @http("POST", "/api/v1/callback/<string:token>")
    def answer_callback(self, request, token):
        """The enterprise's answer: JSON, or the HTML form's fields (then an HTML page back)."""
        html = request.mimetype in FORM_TYPES
        now = self.clock(request)
        try:
            body = dict(request.form) if html else json_body(request)
            if isinstance(body, dict):
                body = {k: v for k, v in body.items() if k in ("solved", "satisfaction", "comment")}
                if html and not body.get("comment"):
                    body.pop("comment", None)
                if html and body.get("solved") in ("true", "false"):  # the form's radio buttons
                    body["solved"] = body["solved"] == "true"
            answer = domain.validate_callback(body, now)
            with self.db.transaction() as session:
                result = callbacks.answer_by_link(session, self.settings, token, answer, now)
        except (DomainError, ValidationError) as exc:
            if html:
                message = exc.message if isinstance(exc, DomainError) else "请选择是否解决和满意程度后再提交。"
                return _callback_page(message, status=error_response(exc).status_code)
            raise
        if isinstance(result, dict):  # a follow-up round's answer
            response = json_response(schemas.FollowupResultOut().dump(result), status=201)
            reopened = result["result"] == "reopened"
        else:
            response = self._callback_answered(result)
            reopened = result.result == "reopened"
        return _callback_page("感谢您的评价！" + ("我们已将问题交回重新办理。" if reopened else ""),
                              status=201) if html else response

    def _callback_answered(self, result: handlers.CallbackResult):
        CALLBACKS.labels(result.satisfaction).inc()
        if result.result == "closed":
            CLOSED.labels(result.outcome).inc()
        return json_response(schemas.CallbackResultOut().dump(result), status=201)

    # ------------------------------------------------------------ rates and reports
    @http("GET", "/api/v1/rates")
    def rates(self, request):
        principal = self.auth.require(request, *READERS)
        query = schemas.RatesQuery().load(request.args.to_dict())
        try:
            period = domain.range_period(query["start"], query["end"])
        except ValueError as exc:
            raise InvalidInput("invalid period", {"to": [str(exc)]}) from None
        if principal.role == "unit" and query["by"] != "unit":
            raise Forbidden("a unit sees its own rates only: by=unit")
        items = reports.rates(self.db.session, period, query["by"], self.clock(request), self.settings.part["scoring"],
                              only_unit=principal.unit if principal.role == "unit" else None)
        return json_response({"period": period.label, "start": period.start, "end": period.end,
                              "by": query["by"], "items": items})

    @http("GET", "/api/v1/reports/weekly")
    def weekly_report(self, request):
        return self._report(request, "weekly")

    @http("GET", "/api/v1/reports/monthly")
    def monthly_report(self, request):
        return self._report(request, "monthly")

    def _build(self, kind: str, period: domain.Period, now) -> dict:
        started = time.perf_counter()
        report = reports.build(self.db.session, kind, period, _previous(period), self.settings.part,
                               self.settings.units, now, office=self.settings.office)
        REPORT_DURATION.labels(kind).observe(time.perf_counter() - started)
        return report

    def _report(self, request, kind: str):
        self.auth.require(request, *READERS)
        period = _period(kind, request)
        fmt = schemas.ReportQuery().load(request.args.to_dict())["format"]
        # a published period answers with the figures as published (frozen), whatever came later
        report = reports.published(self.db.session, kind, period) or self._build(kind, period, self.clock(request))
        if fmt == "json":
            return json_response(report)
        body = {"html": render.to_html, "csv": render.to_csv, "xlsx": render.to_xlsx}[fmt](report)
        headers = {} if fmt == "html" else {
            "Content-Disposition": f'attachment; filename="{kind}-{period.label}.{fmt}"'}
        return Response(body, status=200, headers=headers, content_type=CONTENT_TYPES[fmt])

    @http("GET", "/api/v1/reports/visits")
    def visits_report(self, request):
        """The month's visits and pairing coverage alone (the office's export: CSV or XLSX)."""
        self.auth.require(request, *READERS)
        period = _period("monthly", request)
        fmt = schemas.VisitsQuery().load(request.args.to_dict())["format"]
        section = visits.section(self.db.session, period, self.settings.part, self.settings.units)
        if fmt == "json":
            return json_response({"period": period.label, **section})
        body = {"csv": visits.to_csv, "xlsx": visits.to_xlsx}[fmt](section)
        return Response(body, status=200, content_type=CONTENT_TYPES[fmt], headers={
            "Content-Disposition": f'attachment; filename="visits-{period.label}.{fmt}"'})

    @http("POST", "/api/v1/reports/weekly/publish")
    def publish_weekly(self, request):
        return self._publish(request, "weekly")

    @http("POST", "/api/v1/reports/monthly/publish")
    def publish_monthly(self, request):
        return self._publish(request, "monthly")

    def _publish(self, request, kind: str):
        """Emits ``report_published`` with its links and a ``unit_flagged`` per unit to rectify."""
        principal = self.auth.require(request, "office")
        period = _period(kind, request)
        now = self.clock(request)
        report = self._build(kind, period, now)
        links = reports.publication_links(self.settings.part["reports"]["public_base_url"], kind, period,
                                          schemas.FORMATS)
        try:
            with self.db.transaction() as session:
                event = reports.record_publication(
                    session, kind, period, report, links, actor=principal.actor, now=now,
                    rectification_days=self.settings.part["rectification"]["deadline_working_days"])
        except IntegrityError:  # a concurrent publication of the same period won
            raise Conflict(f"the {kind} report of {period.label} was already published") from None
        return json_response({"report": kind, "period": period.label, "event_id": event.id, "links": links,
                              "flagged": [e["unit"] for e in report["rectification"]]}, status=201)

    # ------------------------------------------------------------ 限期整改: orders and the leader's list
    @http("GET", "/api/v1/rectifications")
    def rectifications(self, request):
        """The rectification orders (office: all, ``escalated=true`` the leader's list; a unit: its own)."""
        principal = self.auth.require(request, *READERS)
        query = schemas.RectificationQuery().load(request.args.to_dict())
        unit = principal.unit if principal.role == "unit" else query.get("unit")
        items = rectification.listing(self.db.session, unit=unit, escalated=query.get("escalated"))
        return json_response({"items": items})

    # ------------------------------------------------------------ 年度考核: the year's score
    def _known_units(self) -> set[str]:
        return {code for code, unit in self.settings.units.items() if unit["type"] in annual.GROUP_NAMES}

    @http("GET", "/api/v1/annual")
    def annual_table(self, request):
        """The year's ranking (office), or the unit's own row with its adjustments (unit); JSON or XLSX."""
        principal = self.auth.require(request, *READERS)
        query = schemas.AnnualQuery().load(request.args.to_dict())
        table = annual.build(self.db.session, query["year"], self.settings.part, self.settings.units,
                             self.clock(request))
        if principal.role == "unit":
            table = annual.for_unit(table, principal.unit)
        if query["format"] == "xlsx":
            return Response(annual.to_xlsx(table), status=200, content_type=CONTENT_TYPES["xlsx"], headers={
                "Content-Disposition": f'attachment; filename="annual-{query["year"]}.xlsx"'})
        return json_response(table)

    @http("GET", "/api/v1/annual/adjustments")
    def annual_adjustments(self, request):
        principal = self.auth.require(request, *READERS)
        year = schemas.AnnualQuery().load(request.args.to_dict())["year"]
        unit = principal.unit if principal.role == "unit" else None
        return json_response({"year": year, "items": annual.adjustments_of(self.db.session, year, unit)})

    @http("POST", "/api/v1/annual/adjustments")
    def add_annual_adjustment(self, request):
        """A manual deduction or bonus, with its reason; who entered it and when are recorded (never changed)."""
        principal = self.auth.require(request, "office")
        body = schemas.AdjustmentInput().load(json_body(request))
        annual.check_adjustment(body, self._known_units())
        with self.db.transaction() as session:
            entry = annual.add_adjustment(session, body["year"], body, actor=principal.actor,
                                          now=self.clock(request))
        return json_response(entry, status=201)

    # ------------------------------------------------------------ documents
    @http("GET", "/openapi.json")
    def openapi(self, request):
        return json_response(openapi_document())


def openapi_document() -> dict:
    ref = lambda name: {"$ref": f"#/components/schemas/{name}"}  # noqa: E731
    path_param = lambda name: {"name": name, "in": "path", "required": True,  # noqa: E731
                               "schema": {"type": "string"}}
    answered = {"201": {"description": "recorded: closed or reopened", "content": json_content(ref("CallbackResult"))},
                "409": error("the appeal is not waiting for a callback, or the link was used")}
    html = {"text/html": {"schema": {"type": "string"}}}
    page_or_error = lambda description: {"description": description + " (an HTML page to a browser)",  # noqa: E731
                                         "content": {**error(description)["content"], **html}}
    formats = {"name": "format", "in": "query", "required": False,
               "schema": {"type": "string", "enum": list(schemas.FORMATS), "default": "json"}}
    report_responses = {"200": {"description": "the report", "content": {
        "application/json": {"schema": {"type": "object"}}, **html,
        "text/csv": {"schema": {"type": "string"}}, CONTENT_TYPES["xlsx"]: {"schema": {"type": "string"}}}}}
    published = {"201": {"description": "report_published (and unit_flagged) emitted"},
                 "409": error("this period's report was already published")}
    week = {"name": "week", "in": "query", "required": True,
            "schema": {"type": "string", "pattern": periods.WEEK_PATTERN, "examples": ["2026-W47"]},
            "description": f"an ISO week, in a year {periods.BOUNDS}"}
    month = {"name": "month", "in": "query", "required": True,
             "schema": {"type": "string", "pattern": periods.MONTH_PATTERN, "examples": ["2026-11"]},
             "description": f"a month, in a year {periods.BOUNDS}"}
    form = {"type": "object", "required": ["solved", "satisfaction"], "properties": {
        "solved": {"type": "string", "enum": ["true", "false"]},
        "satisfaction": {"type": "string", "enum": list(SATISFACTION)},
        "comment": {"type": "string", "maxLength": 2000}}}
    paths = {
        "/api/v1/appeals/{appeal_id}/callback": {"post": {
            "summary": "Record a callback (回访) made by the office by phone: of a replied appeal, or of a closed "
                       "one in a follow-up round (not really solved reopens it, to reopen_unit if given)",
            "security": BEARER, "parameters": [path_param("appeal_id")],
            "requestBody": {"required": True, "content": json_content(ref("OfficeCallbackInput"))},
            "responses": {"201": {"description": "recorded: closed or reopened; in a round: confirmed or reopened",
                                  "content": json_content({"oneOf": [ref("CallbackResult"), ref("FollowupResult")]})},
                          "409": error("the appeal is not waiting for a callback (not replied, and no open round "
                                       "entry)"),
                          "404": error("unknown appeal, or reopen_unit names no unit of units.yaml")}}},
        "/api/v1/callbacks/chase": {"post": {
            "summary": "Chase unanswered callback links now (office; the timer does it every minute): remind "
                       "the due ones once, put the expired ones on the phone-callback list",
            "security": BEARER,
            "requestBody": {"required": False, "content": json_content(ref("ChaseInput"))},
            "responses": {"200": {"description": "how many were reminded and listed"}}}},
        "/api/v1/callbacks/phone-list": {"get": {
            "summary": "The office's phone-callback list (电话回访): appeals whose link expired unanswered, and "
                       "those of follow-up rounds, oldest first", "security": BEARER,
            "parameters": [query(schemas.PhoneListQuery), *paging_parameters()],
            "responses": {"200": {"description": "a page of entries", "content": json_content({
                "type": "object", "required": ["items", "total", "page", "page_size"], "properties": {
                    "items": {"type": "array", "items": ref("PhoneEntry")}, "total": {"type": "integer"},
                    "page": {"type": "integer"}, "page_size": {"type": "integer"}}})}}}},
        "/api/v1/callback-rounds": {
            "post": {"summary": "Start a follow-up callback round (回访抽查) over closed appeals: by the days they "
                                "closed, unit, category, all or a seeded random sample", "security": BEARER,
                     "requestBody": {"required": True, "content": json_content(ref("RoundInput"))},
                     "responses": {"201": {"description": "the round, its seed and its appeals",
                                           "content": json_content(ref("Round"))},
                                   "409": error("no closed appeal matches, or more than 1,000 do (sample them)")}},
            "get": {"summary": "The follow-up rounds, newest first, with their figures", "security": BEARER,
                    "responses": {"200": {"description": "the rounds"}}}},
        "/api/v1/callback-rounds/{round_id}": {"get": {
            "summary": "A round's status page: selected, answered, satisfied, not solved, reopened; its appeals",
            "security": BEARER, "parameters": [path_param("round_id")],
            "responses": {"200": {"description": "the round", "content": json_content(ref("Round"))},
                          "404": error("no such round")}}},
        "/api/v1/appeals/{appeal_id}/assessment": {"get": {
            "summary": "What assessment knows of an appeal, with its callbacks (office)", "security": BEARER,
            "parameters": [path_param("appeal_id")],
            "responses": {"200": {"description": "facts and callbacks"}, "404": error("unknown appeal")}}},
        "/api/v1/enterprise/callbacks": {"get": {
            "summary": "An enterprise's open callback links (enterprise role: its own only)", "security": BEARER,
            "responses": {"200": {"description": "appeal, title, outcome, expiry and token of each open link"},
                          "403": error("enterprise only")}}},
        "/api/v1/callback/{token}": {
            "get": {"summary": "The enterprise's callback form (signed link, no account): JSON, or an HTML page "
                               "for a browser (Accept: text/html)",
                    "parameters": [path_param("token")],
                    "responses": {"200": {"description": "the appeal and the questions",
                                          "content": {"application/json": {"schema": {"type": "object"}}, **html}},
                                  "400": page_or_error("the link holds a NUL character"),
                                  "403": page_or_error("forged or expired link"),
                                  "404": page_or_error("the appeal behind the link is not known"),
                                  "409": page_or_error("link used"),
                                  "503": page_or_error("the database does not answer; retry")}},
            "post": {"summary": "The enterprise answers its callback (once): JSON, or the HTML form's fields "
                                "(then an HTML page back)",
                     "parameters": [path_param("token")],
                     "requestBody": {"required": True, "content": {
                         **json_content(ref("CallbackInput")), "application/x-www-form-urlencoded": {"schema": form},
                         "multipart/form-data": {"schema": form}}},
                     "responses": {"201": {**answered["201"], "content": {**answered["201"]["content"], **html}},
                                   "400": page_or_error("invalid answer, a message per field"),
                                   "403": page_or_error("forged or expired link"),
                                   "404": page_or_error("the appeal behind the link is not known"),
                                   "409": page_or_error(answered["409"]["description"]),
                                   "503": page_or_error("the database does not answer; retry")}}},
        "/api/v1/rates": {"get": {
            "summary": "Every rate for any period, per unit, category, district or overall (a unit: its own, by unit)",
            "security": BEARER, "parameters": [query(schemas.RatesQuery)],
            "responses": {"200": {"description": "counts and rates"}}}},
        "/api/v1/reports/weekly": {"get": {
            "summary": "The weekly report (周报); a published week answers with its figures as published",
            "security": BEARER, "parameters": [week, formats],
            "responses": report_responses}},
        "/api/v1/reports/monthly": {"get": {
            "summary": "The monthly bulletin (月度通报); a published month answers with its figures as published",
            "security": BEARER, "parameters": [month, formats],
            "responses": report_responses}},
        "/api/v1/reports/visits": {"get": {
            "summary": "The month's visits (走访) per cadre and unit, the subjects not visited within the "
                       "campaign's rule, and pairing coverage (包联覆盖): JSON, CSV or XLSX",
            "security": BEARER,
            "parameters": [month, {"name": "format", "in": "query", "required": False, "schema": {
                "type": "string", "enum": ["json", "csv", "xlsx"], "default": "json"}}],
            "responses": {"200": {"description": "the section", "content": {
                "application/json": {"schema": {"type": "object"}}, "text/csv": {"schema": {"type": "string"}},
                CONTENT_TYPES["xlsx"]: {"schema": {"type": "string"}}}}}}},
        "/api/v1/reports/weekly/publish": {"post": {
            "summary": "Publish the weekly report (office)", "security": BEARER, "parameters": [week],
            "responses": published}},
        "/api/v1/reports/monthly/publish": {"post": {
            "summary": "Publish the monthly bulletin (office)", "security": BEARER, "parameters": [month],
            "responses": published}},
    }
    return build_spec("Suqiu assessment", "1.0.0", {
        "CallbackInput": schemas.CallbackInput, "CallbackResult": schemas.CallbackResultOut,
        "OfficeCallbackInput": schemas.OfficeCallbackInput, "FollowupResult": schemas.FollowupResultOut,
        "ChaseInput": schemas.ChaseInput, "PhoneEntry": schemas.PhoneEntryOut, "RoundInput": schemas.RoundInput,
        "Round": schemas.RoundOut}, paths)
