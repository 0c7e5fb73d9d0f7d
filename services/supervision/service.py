"""The supervision service: deadlines, colours, escalation and the ledger (台账).

Entrypoints only: each parses its input, calls a use case (``consumers``, ``tick``,
``actions``, ``ledger``; ``rows`` is what they share) inside one transaction, and serialises
the answer. It learns every fact from events; time moves by ``tick(now)``: a nameko timer
with the real clock, or the RPC / HTTP ``tick`` at a given time (simulations, tests).
"""
from __future__ import annotations

import logging
import time as _time
from datetime import datetime, timedelta, timezone

from nameko.extensions import DependencyProvider
from nameko.timer import timer
from prometheus_client import Counter, Gauge, Histogram
from werkzeug.wrappers import Response

from services.supervision import actions, consumers, domain, ledger, meetings, rows, schemas, tick
from services.supervision.models import outbox
from services.supervision.profile import SupervisionPart
from shared import periods
from shared import service as base
from shared.auth import Auth
from shared.config import flag
from shared.consumers import Batch, consume
from shared.db import Database
from shared.errors import Forbidden, InvalidInput
from shared.openapi import BEARER, build_spec, error, json_content, paging_parameters, query
from shared.outbox import OutboxRelay
from shared.profile import load_part, load_units, profile_dir
from shared.topology import rpc  # nameko's @rpc, its queue of the mesh's QUEUE_TYPE (a quorum queue on a cluster)
from shared.web import http, json_body, json_response, page_body, paging

log = logging.getLogger(__name__)

MINUTES_FORMATS = {"csv": "text/csv", "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                   "md": "text/markdown"}


def _object(body):
    if not isinstance(body, dict):
        raise InvalidInput("the body must be a JSON object")
    return body

OPEN_APPEALS = Gauge("suqiu_open_appeals", "Open appeals under supervision, by colour and lead unit "
                     "(refreshed by the tick).", ["colour", "unit"])
OVERDUE_APPEALS = Gauge("suqiu_overdue_appeals", "Open appeals past their deadline (red).")
ESCALATIONS = Counter("suqiu_escalations_total", "Appeals moved one rung up the ladder.", ["rung", "reason"])
COLOUR_CHANGES = Counter("suqiu_colour_changes_total", "Colour changes published.")
TICK_DURATION = Histogram("suqiu_tick_duration_seconds", "Time of one supervision tick (due appeals and digests).",
                          buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
EXPORT_MAX = 100_000
FUTURE_TOLERANCE = timedelta(minutes=1)


class Supervisor(DependencyProvider):
    """The profile's policy (``supervision.yaml`` and the office's code), read at start-up,
    and the tick's settings: ``TICK_TIMER`` (true), ``TICK_BATCH`` (200),
    ``GAUGE_REFRESH_SECONDS`` (30; the open-appeals gauge costs a scan of the open appeals)."""

    def setup(self) -> None:
        config = self.container.config
        directory = profile_dir(config)
        part = load_part(directory, "supervision", SupervisionPart)
        units = load_units(directory)
        problems = SupervisionPart.cross_check(part, units)
        if problems:
            raise RuntimeError(f"{directory}/supervision.yaml: " + "; ".join(problems))
        self.policy = domain.Policy.from_profile(part)
        self.office = units["office"]
        self.units = {u["code"] for u in units["units"]}
        self.unit_names = {u["code"]: u["name"] for u in units["units"]}
        self.timer_enabled = flag(config.get("TICK_TIMER", "true"))
        self.simulated = flag(config.get("SIMULATED_CLOCK", "false"))
        self.batch = int(config.get("TICK_BATCH", 200))
        self.gauge_every = float(config.get("GAUGE_REFRESH_SECONDS", 30))
        self._gauges_at = float("-inf")

    def gauges_due(self) -> bool:
        if _time.monotonic() - self._gauges_at < self.gauge_every:
            return False
        self._gauges_at = _time.monotonic()
        return True

    def get_dependency(self, worker_ctx) -> Supervisor:
        return self


def _count(effects: rows.Effects) -> None:
    for step in effects.escalations:
        ESCALATIONS.labels(step.rung, step.reason).inc()
    COLOUR_CHANGES.inc(effects.colour_changes)


class SupervisionService(base.OperableService):
    name = "supervision"

    db = Database("supervision")
    relay = OutboxRelay(outbox)
    auth = Auth()
    supervisor = Supervisor()

    # ------------------------------------------------------------ facts from other services
    def _consume(self, use_case, batch: Batch) -> None:
        effects = [use_case(batch.connection, self.supervisor.policy, event) for event in batch.events]
        batch.after_commit(lambda: [_count(e) for e in effects])

    @consume("dispatch", "appeal_dispatched")
    def on_dispatched(self, batch: Batch):
        effects = consumers.on_dispatched_batch(batch, self.supervisor.policy)
        batch.after_commit(lambda: [_count(e) for e in effects])

    @consume("dispatch", "appeal_accepted")
    def on_accepted(self, batch: Batch):
        self._consume(consumers.on_accepted, batch)

    @consume("dispatch", "appeal_plan_submitted")
    def on_plan_submitted(self, batch: Batch):
        self._consume(consumers.on_plan_submitted, batch)

    @consume("dispatch", "appeal_replied")
    def on_replied(self, batch: Batch):
        self._consume(consumers.on_replied, batch)

    @consume("dispatch", "appeal_escalation_requested")
    def on_escalation_requested(self, batch: Batch):
        self._consume(consumers.on_escalation_requested, batch)

    @consume("dispatch", "appeal_reclassified")
    def on_reclassified(self, batch: Batch):
        self._consume(consumers.on_reclassified, batch)

    @consume("assessment", "appeal_reopened")
    def on_reopened(self, batch: Batch):
        self._consume(consumers.on_reopened, batch)

    @consume("assessment", "appeal_closed")
    def on_closed(self, batch: Batch):
        self._consume(consumers.on_closed, batch)

    @consume("assessment", "callback_phone_listed")
    def on_phone_listed(self, batch: Batch):
        self._consume(consumers.on_phone_listed, batch)

    @consume("assessment", "callback_recorded")
    def on_callback_recorded(self, batch: Batch):
        self._consume(consumers.on_callback_recorded, batch)

    # ------------------------------------------------------------ the tick
    def _tick(self, now: datetime) -> dict:
        started = _time.perf_counter()
        total = tick.run_tick(self.db.transaction, self.supervisor.policy, now, self.supervisor.office,
                                  self.supervisor.batch)
        _count(total)
        TICK_DURATION.observe(_time.perf_counter() - started)
        if self.supervisor.gauges_due():
            self._refresh_gauges()
        return {"now": now.isoformat(), "checked": total.checked, "colour_changes": total.colour_changes,
                "escalations": len(total.escalations), "digests": total.digests}

    def _refresh_gauges(self) -> None:
        counts = tick.open_counts(self.db.session)
        self.db.session.rollback()
        OPEN_APPEALS.clear()
        for colour, unit, count in counts:
            OPEN_APPEALS.labels(colour or "none", unit or "none").set(count)
        OVERDUE_APPEALS.set(sum(count for colour, _, count in counts if colour == "red"))

    def _given_now(self, value) -> datetime:
        try:
            now = schemas.TickInput().load({"now": value})["now"].astimezone(timezone.utc)
        except Exception as exc:
            raise InvalidInput("now must be an ISO 8601 time with a zone", getattr(exc, "messages", None)) from None
        if not self.supervisor.simulated and now > self.clock() + FUTURE_TOLERANCE:
            raise Forbidden("a tick in the future needs SIMULATED_CLOCK: true (simulations only)")
        return now

    @timer(interval=60)
    def tick_timer(self):
        if self.supervisor.timer_enabled:
            self._tick(self.clock())

    @rpc
    def tick(self, now_iso: str) -> dict:
        return self._tick(self._given_now(now_iso))

    @http("POST", "/api/v1/tick")
    def tick_http(self, request):
        self.auth.require(request, "office")
        body = json_body(request)
        if not isinstance(body, dict) or "now" not in body:
            raise InvalidInput('send {"now": "<ISO 8601 with zone>"}', {"now": ["required"]})
        return json_response(self._tick(self._given_now(body["now"])))

    # ------------------------------------------------------------ one appeal
    @http("GET", "/api/v1/appeals/<string:appeal_id>")
    def get_appeal(self, request, appeal_id):
        principal = self.auth.require(request, "office", "unit")
        appeal = ledger.get_appeal(self.db.session, appeal_id, principal)
        return json_response(schemas.appeal_detail_out.dump(appeal))

    @http("POST", "/api/v1/appeals/<string:appeal_id>/pause")
    def pause(self, request, appeal_id):
        principal = self.auth.require(request, "office")
        body = json_body(request) if request.get_data(cache=True) else {}
        if not isinstance(body, dict):  # a bare string or null is no {"reason": ...}: refuse, do not pause
            raise InvalidInput('the body must be a JSON object: {"reason": "..."}, or nothing')
        data = schemas.PauseInput().load(body)
        with self.db.transaction() as session:
            appeal = actions.pause_clock(session, self.supervisor.policy, appeal_id, principal,
                                          self.clock(request), data["reason"])
        return json_response(schemas.appeal_detail_out.dump(appeal))

    @http("POST", "/api/v1/appeals/<string:appeal_id>/pause-requests")
    def request_pause(self, request, appeal_id):
        principal = self.auth.require(request, "unit")
        body = json_body(request)
        if not isinstance(body, dict):
            raise InvalidInput('the body must be a JSON object: {"reason": "...", "days": N}')
        data = schemas.PauseRequestInput().load(body)
        with self.db.transaction() as session:
            pause_request = actions.request_pause(session, appeal_id, principal, self.clock(request),
                                                   data["reason"], data["days"])
        return json_response(schemas.PauseRequestOut().dump(pause_request), status=201)

    @http("GET", "/api/v1/pause-requests")
    def pause_requests(self, request):
        principal = self.auth.require(request, "office", "unit")
        page, size = paging(request)
        filters = schemas.PauseRequestFilters().load(request.args.to_dict())
        own = principal.unit if principal.role == "unit" else None
        items, total = actions.list_pause_requests(self.db.session, filters.get("status"), page, size, unit=own)
        return json_response(page_body(schemas.PauseRequestOut(many=True).dump(items), total, page, size))

    def _decide(self, request, request_id: str, approve: bool):
        principal = self.auth.require(request, "office")
        body = json_body(request) if request.get_data(cache=True) else {}
        if not isinstance(body, dict):
            raise InvalidInput('the body must be a JSON object: {"note": "..."}, or nothing')
        data = schemas.PauseDecisionInput().load(body)
        with self.db.transaction() as session:
            decided = actions.decide_pause(session, self.supervisor.policy, request_id, principal,
                                            self.clock(request), approve, data["note"])
        return json_response(schemas.PauseRequestOut().dump(decided))

    @http("POST", "/api/v1/pause-requests/<string:request_id>/approve")
    def approve_pause(self, request, request_id):
        return self._decide(request, request_id, approve=True)

    @http("POST", "/api/v1/pause-requests/<string:request_id>/refuse")
    def refuse_pause(self, request, request_id):
        return self._decide(request, request_id, approve=False)

    @http("POST", "/api/v1/appeals/<string:appeal_id>/resume")
    def resume(self, request, appeal_id):
        principal = self.auth.require(request, "office", "unit")
        with self.db.transaction() as session:
            appeal, effects = actions.resume_clock(session, self.supervisor.policy, appeal_id, principal,
                                                    self.clock(request))
        _count(effects)
        return json_response(schemas.appeal_detail_out.dump(appeal))

    @http("POST", "/api/v1/appeals/<string:appeal_id>/orders")
    def issue_order(self, request, appeal_id):
        principal = self.auth.require(request, "office")
        body = json_body(request)
        if not isinstance(body, dict):
            raise InvalidInput("the body must be a JSON object")
        data = schemas.OrderInput().load(body)
        with self.db.transaction() as session:
            order, effects = actions.issue_order(session, self.supervisor.policy, appeal_id, data, principal,
                                                  self.clock(request))
        _count(effects)
        return json_response(schemas.OrderOut().dump(order), status=201)

    # ------------------------------------------------------------ the ledger
    def _ledger(self, request, paged: bool):
        principal = self.auth.require(request, "office", "unit")
        filters = schemas.LedgerFilters().load(request.args.to_dict())
        own = principal.unit if principal.role == "unit" else None
        if paged:
            page, size = paging(request)
            return (*ledger.list_ledger(self.db.session, filters, page, size, unit=own), page, size)
        entries, total = ledger.list_ledger(self.db.session, filters, 1, EXPORT_MAX, unit=own)
        return entries, total

    @http("GET", "/api/v1/ledger")
    def ledger(self, request):
        items, total, page, size = self._ledger(request, paged=True)
        return json_response(page_body(schemas.ledger_entry_out.dump(items, many=True), total, page, size))

    @http("GET", "/api/v1/ledger.csv")
    def ledger_csv(self, request):
        entries, _ = self._ledger(request, paged=False)
        return Response(schemas.ledger_csv(entries), status=200, mimetype="text/csv",
                        headers={"Content-Disposition": 'attachment; filename="ledger.csv"'})

    @http("GET", "/api/v1/ledger.xlsx")
    def ledger_xlsx(self, request):
        entries, _ = self._ledger(request, paged=False)
        return Response(schemas.ledger_xlsx(entries), status=200,
                        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                        headers={"Content-Disposition": 'attachment; filename="ledger.xlsx"'})

    @http("GET", "/api/v1/meeting-agenda")
    def meeting_agenda(self, request):
        self.auth.require(request, "office")
        month = request.args.get("month", "")
        try:
            items = ledger.meeting_agenda(self.db.session, self.supervisor.policy, month)
        except ValueError as exc:
            raise InvalidInput(str(exc), {"month": [str(exc)]}) from None
        return json_response({"month": month, "items": items})

    # ------------------------------------------------------------ meetings (交办会, 调度会)
    @http("POST", "/api/v1/meetings")
    def create_meeting(self, request):
        principal = self.auth.require(request, "office")
        data = schemas.MeetingInput().load(_object(json_body(request)))
        with self.db.transaction() as session:
            meeting = meetings.create_meeting(session, self.supervisor.policy, data, principal, self.clock(request))
        return json_response(schemas.MeetingOut().dump(meeting), status=201)

    @http("GET", "/api/v1/meetings")
    def list_meetings(self, request):
        self.auth.require(request, "office")
        items = meetings.list_meetings(self.db.session, request.args.get("kind"), request.args.get("month"))
        return json_response({"items": schemas.MeetingSummaryOut(many=True).dump(items)})

    @http("GET", "/api/v1/meetings/<string:meeting_id>")
    def get_meeting(self, request, meeting_id):
        self.auth.require(request, "office")
        return json_response(schemas.MeetingOut().dump(meetings.get_meeting(self.db.session, meeting_id)))

    @http("POST", "/api/v1/meetings/<string:meeting_id>/decisions")
    def decide(self, request, meeting_id):
        principal = self.auth.require(request, "office")
        data = schemas.DecisionInput().load(_object(json_body(request)))
        with self.db.transaction() as session:
            meeting = meetings.decide(session, self.supervisor.policy, meeting_id, data, principal,
                                      self.clock(request), self.supervisor.units)
        return json_response(schemas.MeetingOut().dump(meeting))

    @http("GET", "/api/v1/meetings/<string:meeting_id>/minutes.csv")
    def minutes_csv(self, request, meeting_id):
        return self._minutes(request, meeting_id, "csv")

    @http("GET", "/api/v1/meetings/<string:meeting_id>/minutes.xlsx")
    def minutes_xlsx(self, request, meeting_id):
        return self._minutes(request, meeting_id, "xlsx")

    @http("GET", "/api/v1/meetings/<string:meeting_id>/minutes.md")
    def minutes_md(self, request, meeting_id):
        return self._minutes(request, meeting_id, "md")

    def _minutes(self, request, meeting_id: str, fmt: str):
        """The minutes (会议纪要): CSV and XLSX for the files, Markdown to read or paste."""
        self.auth.require(request, "office")
        meeting = meetings.get_meeting(self.db.session, meeting_id)
        names = self.supervisor.unit_names
        body = {"csv": meetings.minutes_csv, "xlsx": meetings.minutes_xlsx,
                "md": lambda m, n: meetings.minutes_markdown(m, n).encode("utf-8")}[fmt](meeting, names)
        return Response(body, status=200, mimetype=MINUTES_FORMATS[fmt],
                        headers={"Content-Disposition": f'attachment; filename="minutes-{meeting_id}.{fmt}"'})

    # ------------------------------------------------------------ documents
    @http("GET", "/openapi.json")
    def openapi(self, request):
        return json_response(openapi_document(self.supervisor.policy, sorted(self.supervisor.units)))


def openapi_document(policy: domain.Policy | None = None, units: list[str] | None = None) -> dict:
    """The API; with the deployment's policy and units, the meeting kinds and unit codes it accepts."""
    ref = lambda name: {"$ref": f"#/components/schemas/{name}"}  # noqa: E731
    appeal_param = [{"name": "appeal_id", "in": "path", "required": True, "schema": {"type": "string"}}]
    request_param = [{"name": "request_id", "in": "path", "required": True, "schema": {"type": "string"}}]
    detail = {"200": {"description": "the appeal's ledger entry", "content": json_content(ref("AppealDetail"))},
              "404": error("not under supervision, or not the unit's"),
              "409": error("not possible in the appeal's state (no running deadline, already paused ...)")}
    csv_or_xlsx = lambda media: {"200": {"description": media, "content": {media: {"schema": {"type": "string"}}}}}  # noqa: E731
    paths = {
        "/api/v1/tick": {"post": {
            "summary": "Run the deadline check at a given time (office; a time in the future needs "
                       "SIMULATED_CLOCK)", "security": BEARER,
            "requestBody": {"required": True, "content": json_content(ref("TickInput"))},
            "responses": {"200": {"description": "what the tick did"}}}},
        "/api/v1/appeals/{appeal_id}": {"get": {"summary": "One appeal's ledger entry", "security": BEARER,
                                                "parameters": appeal_param, "responses": detail}},
        "/api/v1/appeals/{appeal_id}/pause": {"post": {
            "summary": "The office pauses the stage's clock on its own word (a unit asks with a pause request)",
            "security": BEARER,
            "parameters": appeal_param, "requestBody": {"required": False, "content": json_content(ref("PauseInput"))},
            "responses": detail}},
        "/api/v1/appeals/{appeal_id}/pause-requests": {"post": {
            "summary": "The lead unit asks for a clock pause (暂停计时申请): reason and working days; the office "
                       "approves or refuses it", "security": BEARER,
            "parameters": appeal_param,
            "requestBody": {"required": True, "content": json_content(ref("PauseRequestInput"))},
            "responses": {"201": {"description": "the request, pending", "content": json_content(ref("PauseRequest"))},
                          "404": error("not under supervision, or not the unit's"),
                          "409": error("no running deadline, the clock already paused, or a request pending")}}},
        "/api/v1/pause-requests": {"get": {
            "summary": "Pause requests (the office: all; a unit: its own), oldest first", "security": BEARER,
            "parameters": [query(schemas.PauseRequestFilters), *paging_parameters()],
            "responses": {"200": {"description": "a page of pause requests", "content": json_content({
                "type": "object", "required": ["items", "total", "page", "page_size"], "properties": {
                    "items": {"type": "array", "items": ref("PauseRequest")}, "total": {"type": "integer"},
                    "page": {"type": "integer"}, "page_size": {"type": "integer"}}})}}}},
        **{f"/api/v1/pause-requests/{{request_id}}/{verb}": {"post": {
            "summary": summary, "security": BEARER, "parameters": request_param,
            "requestBody": {"required": False, "content": json_content(ref("PauseDecisionInput"))},
            "responses": {"200": {"description": "the request, decided", "content": json_content(ref("PauseRequest"))},
                          "404": error("no such pause request"),
                          "409": error(conflict)}}}
           for verb, summary, conflict in (
               ("approve", "The office approves a pending pause request: the clock pauses now, for the days asked",
                "the request is not pending, or the appeal's clock cannot pause (no running deadline, paused)"),
               ("refuse", "The office refuses a pending pause request: the clock runs on",
                "the request is not pending"))},
        "/api/v1/appeals/{appeal_id}/resume": {"post": {
            "summary": "Resume the clock; the deadline moves by the paused working time", "security": BEARER,
            "parameters": appeal_param, "responses": detail}},
        "/api/v1/appeals/{appeal_id}/orders": {"post": {
            "summary": "Issue a supervision order (督办单) with its own deadline, later than now", "security": BEARER,
            "parameters": appeal_param, "requestBody": {"required": True, "content": json_content(ref("OrderInput"))},
            "responses": {"201": {"description": "the order", "content": json_content(ref("Order"))},
                          "404": error("not under supervision"), "409": error("the appeal is closed")}}},
        "/api/v1/ledger": {"get": {"summary": "The ledger (台账)", "security": BEARER,
                                   "parameters": [query(schemas.LedgerFilters), *paging_parameters()],
                                   "responses": {"200": {"description": "a page of ledger entries"}}}},
        "/api/v1/ledger.csv": {"get": {"summary": "The ledger as CSV, Chinese headings", "security": BEARER,
                                       "parameters": [query(schemas.LedgerFilters)],
                                       "responses": csv_or_xlsx("text/csv")}},
        "/api/v1/ledger.xlsx": {"get": {"summary": "The ledger as XLSX, Chinese headings", "security": BEARER,
                                        "parameters": [query(schemas.LedgerFilters)],
                                        "responses": csv_or_xlsx("application/vnd.openxmlformats-officedocument"
                                                                 ".spreadsheetml.sheet")}},
        "/api/v1/meeting-agenda": {"get": {
            "summary": "The monthly coordination meeting's agenda (调度会)", "security": BEARER,
            "parameters": [{"name": "month", "in": "query", "required": True,
                            "description": f"a month, in a year {periods.BOUNDS}",
                            "schema": {"type": "string", "pattern": periods.MONTH_PATTERN, "examples": ["2026-11"]}}],
            "responses": {"200": {"description": "the items at the city-coordination rung that month"}}}},
    }
    meeting_param = [{"name": "meeting_id", "in": "path", "required": True, "schema": {"type": "string"}}]
    meeting = {"description": "the meeting with the appeals put to it", "content": json_content(ref("Meeting"))}
    paths.update({
        "/api/v1/meetings": {
            "post": {"summary": "Record a meeting (交办会, 调度会) with the appeals put to it", "security": BEARER,
                     "requestBody": {"required": True, "content": json_content(ref("MeetingInput"))},
                     "responses": {"201": meeting, "400": error(
                         "invalid input (a kind the profile does not hold); nothing recorded"),
                                   "404": error("an appeal not under supervision; nothing recorded")}},
            "get": {"summary": "The meetings, newest first", "security": BEARER, "parameters": [
                {"name": "kind", "in": "query", "required": False, "schema": {"type": "string"}},
                {"name": "month", "in": "query", "required": False,
                 "schema": {"type": "string", "pattern": periods.MONTH_PATTERN}}],
                    "responses": {"200": {"description": "the meetings", "content": json_content({
                        "type": "object", "required": ["items"],
                        "properties": {"items": {"type": "array", "items": ref("MeetingSummary")}}})},
                        "400": error("not a month")}}},
        "/api/v1/meetings/{meeting_id}": {"get": {
            "summary": "One meeting", "security": BEARER, "parameters": meeting_param,
            "responses": {"200": meeting, "404": error("no such meeting")}}},
        "/api/v1/meetings/{meeting_id}/decisions": {"post": {
            "summary": "The meeting's decision on one appeal put to it: the unit that leads, a deadline (kept "
                       "as a supervision order), the lead leader; applied as events", "security": BEARER,
            "parameters": meeting_param,
            "requestBody": {"required": True, "content": json_content(ref("DecisionInput"))},
            "responses": {"200": meeting, "400": error("invalid input (unknown unit, a deadline not later than "
                                                         "now); nothing changed"),
                          "404": error("no such meeting, or the appeal was not put to it"),
                          "409": error("already decided, or the appeal is closed; nothing changed")}}},
        **{f"/api/v1/meetings/{{meeting_id}}/minutes.{fmt}": {"get": {
            "summary": f"The minutes (会议纪要) as {fmt.upper()}, Chinese headings", "security": BEARER,
            "parameters": meeting_param,
            "responses": {**csv_or_xlsx(media), "404": error("no such meeting")}}}
           for fmt, media in MINUTES_FORMATS.items()},
    })
    deadline = lambda name, kind: {"required": [name], "properties": {name: {"type": kind}}}  # noqa: E731
    return build_spec("Suqiu supervision", "1.0.0", {
        "MeetingInput": schemas.MeetingInput, "DecisionInput": schemas.DecisionInput,
        "Meeting": schemas.MeetingOut, "MeetingSummary": schemas.MeetingSummaryOut,
        "TickInput": schemas.TickInput, "PauseInput": schemas.PauseInput, "OrderInput": schemas.OrderInput,
        "PauseRequestInput": schemas.PauseRequestInput, "PauseDecisionInput": schemas.PauseDecisionInput,
        "PauseRequest": schemas.PauseRequestOut,
        "Order": schemas.OrderOut, "LedgerEntry": schemas.LedgerEntryOut, "AppealDetail": schemas.AppealDetailOut,
    }, paths, refinements={
        # OrderInput._one_deadline: exactly one of due_at, working_days
        "OrderInput": {"oneOf": [deadline("due_at", "string"), deadline("working_days", "integer")]},
        # DecisionInput._a_decision: something decided, at most one deadline
        "DecisionInput": {"anyOf": [deadline("lead_unit", "string"), deadline("lead_leader", "string"),
                                    {"required": ["co_units"], "properties": {"co_units": {"minItems": 1}}},
                                    {"required": ["due_at"]}, {"required": ["working_days"]}],
                          "not": {"required": ["due_at", "working_days"]}},
    }, vocabulary={
        **({("MeetingInput", "kind"): [m.kind for m in policy.meetings]} if policy and policy.meetings else {}),
        **({("DecisionInput", "lead_unit"): [*units, None], ("DecisionInput", "co_units", "items"): units}
           if units else {}),
    })
