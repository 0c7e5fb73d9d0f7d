"""The intake service: appeals come in by HTTP, AMQP ingress and problem sheets.

Entrypoints only: each parses its input, calls a use case in ``handlers`` inside
one transaction, and serialises the answer.
"""
from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from typing import Any

import yaml
from marshmallow import ValidationError
from nameko.extensions import DependencyProvider
from prometheus_client import Counter
from sqlalchemy.exc import IntegrityError
from werkzeug.wrappers import Response

from services.intake import domain, handlers, open311, registry, schemas, sheets, upstream, visits
from services.intake.models import outbox
from services.intake.profile import load_intake_part
from shared import service as base
from shared.auth import Auth, Principal
from shared.consumers import Batch, PoisonMessage, consume
from shared.db import Database
from shared.errors import DomainError, Forbidden, InvalidInput, NotFound, Unauthorized
from shared.events import Event, read_event
from shared.openapi import BEARER, build_spec, error, json_content, paging_parameters, query
from shared.outbox import OutboxRelay
from shared.profile import load_units, profile_dir
from shared.web import error_response, http, json_body, json_response, page_body, paging

SUBMITTERS = ("office", "cadre", "platform", "enterprise")

APPEALS_RECEIVED = Counter("suqiu_appeals_received_total", "Appeals accepted into Suqiu.", ["channel"])
SUBMISSIONS_REFUSED = Counter("suqiu_appeal_submissions_refused_total", "Submissions refused as invalid.",
                              ["ingress"])
DUPLICATES = Counter("suqiu_appeal_duplicates_total", "Repeated submissions answered with the first appeal.",
                     ["ingress"])


def parse_upstream(body: Any, message) -> Event:
    """An upstream message: a CloudEvents-style envelope, or the bare appeal as JSON."""
    if isinstance(body, dict) and "specversion" in body and "data" in body:
        event = read_event(body, expected_type="appeal_submitted")
        event.data = body["data"]  # validated again, strictly, by the use case
        return event
    if not isinstance(body, dict):
        raise PoisonMessage("the message must be a JSON object: an envelope or an appeal")
    if not body.get("external_id"):
        raise PoisonMessage('an upstream appeal needs its "external_id" (the platform\'s own id)')
    properties = message.properties or {}
    message_id = properties.get("message_id")
    if not message_id:
        canonical = json.dumps([body.get("channel"), body.get("external_id")], ensure_ascii=False)
        message_id = hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]
    sent_at = properties.get("timestamp")  # AMQP's own: when the platform published it
    when = datetime.fromtimestamp(sent_at, timezone.utc) if isinstance(sent_at, (int, float)) else base.utcnow()
    return Event(type="appeal_submitted", data=body, id=str(message_id)[:64],
                 source=f"upstream/{body.get('channel', 'unknown')}", time=when)


def _may_read(principal, appeal: dict) -> bool:
    """The office reads every appeal, an enterprise its own, a cadre those of the subjects paired
    with them, anyone else what it submitted."""
    if principal.role == "office":
        return True
    if principal.role == "enterprise":
        return appeal["credit_code"] is not None and appeal["credit_code"] == principal.credit_code
    if principal.role == "cadre" and appeal.get("cadre_id") and appeal["cadre_id"] == person_of(principal):
        return True
    return appeal["submitted_by"] in principal.submitted_as  # a platform: its AMQP appeals too


def person_of(principal: Principal) -> str:
    """The registry id of a signed-in person: the name they sign in with."""
    return principal.person or principal.name


def _shown_appeal(principal: Principal, appeal: dict) -> dict:
    """A household's name and contact masked for all but the office and its paired cadre."""
    if appeal.get("subject_type") != "household" or domain.may_see_personal_data(
            principal.role, person_of(principal), appeal.get("cadre_id")):
        return appeal
    return {**appeal, "subject_name": domain.mask_name(appeal["subject_name"]),
            "contact": domain.masked_contact(appeal.get("contact"))}


class Campaign(DependencyProvider):
    """The profile's intake part (which subject types the campaign has) and its unit codes
    (a subject's lead department must be one)."""

    def setup(self) -> None:
        directory = profile_dir(self.container.config)
        self.part = load_intake_part(directory)
        self.subject_types = list(self.part["subject_types"])
        self.units = {unit["code"] for unit in load_units(directory)["units"]}

    def get_dependency(self, worker_ctx) -> Campaign:
        return self

    def require(self, subject_type: str) -> None:
        if subject_type not in self.subject_types:
            raise InvalidInput(f"this campaign has no {subject_type} subjects",
                               {"subject_type": [f"one of {', '.join(self.subject_types)}"]})


class Open311Catalogue(DependencyProvider):
    """Open311's services: the campaign's categories, as the profile's dispatch part writes them
    (read-only, ``categories``), or the ten of ``docs/domain.md`` when the profile has no dispatch part."""

    def setup(self) -> None:
        path = profile_dir(self.container.config) / "dispatch.yaml"
        categories = [{"code": code} for code in open311.DEFAULT_CATEGORIES]
        if path.exists():
            categories = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("categories") or categories
        self.services = {service.code: service for service in open311.services_from_categories(categories)}

    def get_dependency(self, worker_ctx) -> Open311Catalogue:
        return self


class Platforms(DependencyProvider):
    """The upstream platforms of ``intake.yaml`` (none when the profile has no intake part), whose
    exchanges are declared at start: the answers to their appeals go back there."""

    def setup(self) -> None:
        self.platforms = load_intake_part(profile_dir(self.container.config))["platforms"]

    def start(self) -> None:
        if self.platforms:
            from kombu import Connection, Exchange, Queue

            with Connection(self.container.config["AMQP_URI"], connect_timeout=5) as connection:
                channel = connection.channel()
                for platform in self.platforms:
                    exchange = Exchange(platform["exchange"], type="topic", durable=True)(channel)
                    exchange.declare()
                    if platform["queue"]:
                        queue = Queue(platform["queue"], durable=True)(channel)
                        queue.declare()
                        for key in sorted(set(platform["routing_keys"].values())):
                            queue.bind_to(exchange=exchange, routing_key=key)

    def get_dependency(self, worker_ctx) -> list[dict]:
        return self.platforms


def _described(exc: Exception) -> str:
    fields = getattr(exc, "fields", None) or getattr(exc, "messages", None)
    message = getattr(exc, "message", None) or str(exc)
    if isinstance(fields, dict) and fields:
        message += ": " + "; ".join(f"{key}: {', '.join(map(str, value)) if isinstance(value, list) else value}"
                                    for key, value in fields.items())
    return message


class IntakeService(base.OperableService):
    name = "intake"

    db = Database("intake")
    relay = OutboxRelay(outbox)
    auth = Auth()
    catalogue = Open311Catalogue()
    campaign = Campaign()
    platforms = Platforms()

    # ------------------------------------------------------------ appeals
    @http("POST", "/api/v1/appeals")
    def submit(self, request):
        principal = self.auth.require(request, *SUBMITTERS)
        body = json_body(request)
        now = self.clock(request)
        try:
            data = domain.validate_appeal(body, now)
        except Exception:
            SUBMISSIONS_REFUSED.labels("http").inc()
            raise
        self.campaign.require(data["subject_type"])
        if principal.role == "enterprise" and data["credit_code"] != principal.credit_code:
            raise Forbidden("an enterprise submits only for its own credit code")
        key = request.headers.get("Idempotency-Key")
        if key is not None and not 1 <= len(key) <= 128:
            raise InvalidInput("invalid Idempotency-Key", {"Idempotency-Key": ["1 to 128 characters"]})
        result = self._submit_once(data, now, principal.actor, key)
        if not result.created:
            DUPLICATES.labels("http").inc()
            return json_response({"id": result.appeal["id"], "duplicate": True,
                                  "appeal": schemas.appeal_out.dump(_shown_appeal(principal, result.appeal))},
                                 status=200)
        APPEALS_RECEIVED.labels(data["channel"]).inc()
        return json_response({"id": result.appeal["id"],
                              "appeal": schemas.appeal_out.dump(_shown_appeal(principal, result.appeal))},
                             status=201, headers={"Location": f"/api/v1/appeals/{result.appeal['id']}"})

    def _submit_once(self, data, now, actor, key) -> handlers.Submitted:
        # Two racing retries both pass the look-up; the loser's commit hits the unique
        # key, and its second try finds the winner's appeal.
        for attempt in (1, 2):
            try:
                with self.db.transaction() as session:
                    return handlers.submit_appeal(session, data, now=now, actor=actor, idempotency_key=key)
            except IntegrityError:
                if attempt == 2:
                    raise

    @http("GET", "/api/v1/appeals/<string:appeal_id>")
    def get_appeal(self, request, appeal_id):
        principal = self.auth.require(request, *SUBMITTERS)
        appeal = handlers.get_appeal(self.db.session, appeal_id)
        if not _may_read(principal, appeal):
            raise NotFound(f"no appeal {appeal_id}")
        return json_response(schemas.appeal_out.dump(_shown_appeal(principal, appeal)))

    @http("GET", "/api/v1/appeals")
    def list_appeals(self, request):
        principal = self.auth.require(request, *SUBMITTERS)
        page, size = paging(request)
        filters = schemas.AppealFilters().load(request.args.to_dict())
        if "credit_code" in filters:
            filters["credit_code"] = domain.compact_credit_code(filters["credit_code"])
        mine = None if principal.role in ("office", "enterprise") else principal.submitted_as
        if principal.role == "enterprise":  # its own appeals, whoever entered them
            filters["credit_code"] = principal.credit_code
        items, total = handlers.list_appeals(self.db.session, filters, page, size, submitted_by=mine)
        shown = [_shown_appeal(principal, item) for item in items]
        return json_response(page_body(schemas.appeal_out.dump(shown, many=True), total, page, size))

    @http("POST", "/api/v1/appeals/import")
    def import_sheet(self, request):
        principal = self.auth.require(request, "office", "cadre")
        rows = sheets.read_upload(request)
        now = self.clock(request)
        with self.db.transaction() as session:
            report = handlers.import_rows(session, rows, now=now, actor=principal.actor)
        counts = {status: sum(1 for r in report if r.status == status)
                  for status in ("accepted", "duplicate", "refused")}
        APPEALS_RECEIVED.labels("sheet").inc(counts["accepted"])
        SUBMISSIONS_REFUSED.labels("sheet").inc(counts["refused"])
        return json_response({"counts": counts, "rows": schemas.RowReportOut(many=True).dump(report)})

    # ------------------------------------------------------------ AMQP ingress
    @consume("upstream", "appeal_submitted", parser=parse_upstream)
    def receive_upstream(self, batch: Batch):
        results = handlers.receive_upstream(batch)

        def count() -> None:
            for result in results:
                if result.created:
                    APPEALS_RECEIVED.labels(result.appeal["channel"]).inc()
                else:
                    DUPLICATES.labels("amqp").inc()

        batch.after_commit(count)

    # ------------------------------------------------------------ where the appeal stands (Open311's status)
    @consume("assessment", "appeal_closed", "appeal_reopened")
    def on_loop_state(self, batch: Batch):
        handlers.record_loop_states(batch)
        upstream.publish_feedback(batch, self.platforms)  # the closing goes back to the platform

    # ------------------------------------------------------------ the answer goes back upstream
    @consume("dispatch", "appeal_accepted", "appeal_replied")
    def feed_back_upstream(self, batch: Batch):
        """An appeal's acceptance and reply, to the platform it came from (``intake.yaml``)."""
        upstream.publish_feedback(batch, self.platforms)

    # ------------------------------------------------------------ Open311 GeoReport v2
    def _open311(self, fmt: str, produce) -> Response:
        """Run ``produce`` (-> kind, items, status) and answer in ``fmt``; any refusal in Open311's error format."""
        try:
            kind, items, status = produce()
        except open311.Open311Error as exc:
            kind, items, status = "errors", open311.error_items(exc.status, exc.description), exc.status
        except (DomainError, ValidationError) as exc:
            status = error_response(exc).status_code
            kind, items = "errors", open311.error_items(status, _described(exc))
        return Response(open311.render(kind, items, fmt), status=status, content_type=open311.FORMATS[fmt])

    def _service(self, code: str | None) -> open311.Service:
        if not code:
            raise open311.Open311Error(400, "service_code missing")
        service = self.catalogue.services.get(code)
        if service is None:
            raise open311.Open311Error(404, f"no service {code}")
        return service

    def _api_key(self, values) -> Principal:
        key = values.get("api_key") or ""
        try:
            principal = self.auth.principal_of_key(key)
        except Unauthorized:
            raise open311.Open311Error(403, "invalid api_key") from None
        if principal.role not in open311.SUBMITTERS:
            raise open311.Open311Error(403, f"the api_key's role ({principal.role}) may not submit or read requests")
        return principal

    def _visible(self, principal: Principal, appeal_id: str) -> dict:
        appeal = handlers.find_appeal(self.db.session, appeal_id)
        if appeal is None or not _may_read(principal, appeal):
            raise open311.Open311Error(404, f"no service request {appeal_id}")
        return appeal

    def _requests_out(self, found: list[dict]) -> list[dict]:
        states = handlers.loop_states(self.db.session, [a["id"] for a in found])
        return [open311.request_out(a, states.get(a["id"]), self.catalogue.services) for a in found]

    @http("GET", "/open311/v2/services.<any(json,xml):fmt>")
    def open311_services(self, request, fmt):
        return self._open311(fmt, lambda: (
            "services", [open311.service_out(s) for s in self.catalogue.services.values()], 200))

    @http("GET", "/open311/v2/services/<path:service_code>.<any(json,xml):fmt>")
    def open311_service(self, request, service_code, fmt):
        return self._open311(fmt, lambda: (
            "service_definition", open311.service_definition(self._service(service_code)), 200))

    @http("POST", "/open311/v2/requests.<any(json,xml):fmt>")
    def open311_submit(self, request, fmt):
        def produce():
            form = {**request.args.to_dict(), **request.form.to_dict()}  # the spec's examples use both
            principal = self._api_key(form)
            service = self._service(form.get("service_code"))
            now = self.clock(request)
            data = domain.validate_appeal(open311.appeal_input(form, service, now), now)
            result = self._submit_once(data, now, principal.actor, None)
            APPEALS_RECEIVED.labels(data["channel"]).inc()
            return "requests", [{"service_request_id": result.appeal["id"],
                                 "service_notice": "已受理，按时限办理并回访", "account_id": None}], 201
        return self._open311(fmt, produce)

    @http("GET", "/open311/v2/requests.<any(json,xml):fmt>")
    def open311_requests(self, request, fmt):
        def produce():
            principal = self._api_key(request.args)
            query = schemas.Open311Query().load(request.args.to_dict())
            mine = None if principal.role == "office" else principal.submitted_as
            if query["service_request_id"]:
                found = [self._visible(principal, i) for i in query["service_request_id"]]
            else:
                filters = {"category": query.get("service_code"), "submitted_from": query.get("start_date"),
                           "submitted_to": query.get("end_date")}
                found, _ = handlers.list_appeals(self.db.session, filters, 1, open311.MAX_REQUESTS, submitted_by=mine)
            items = self._requests_out(found)
            if query.get("status"):
                items = [item for item in items if item["status"] == query["status"]]
            return "requests", items, 200
        return self._open311(fmt, produce)

    @http("GET", "/open311/v2/requests/<string:request_id>.<any(json,xml):fmt>")
    def open311_request(self, request, request_id, fmt):
        return self._open311(fmt, lambda: (
            "requests", self._requests_out([self._visible(self._api_key(request.args), request_id)]), 200))

    @http("GET", "/open311/v2/tokens/<string:token>.<any(json,xml):fmt>")
    def open311_token(self, request, token, fmt):
        """Requests are created in real time: a token is the request's own id."""
        return self._open311(fmt, lambda: ("requests", [
            {"service_request_id": self._visible(self._api_key(request.args), token)["id"], "token": token}], 200))

    # ------------------------------------------------------------ enterprises
    @http("PUT", "/api/v1/enterprises/<string:credit_code>")
    def put_enterprise(self, request, credit_code):
        self.auth.require(request, "office")
        body = json_body(request)
        if not isinstance(body, dict):
            raise InvalidInput("the body must be a JSON object")
        data = domain.validate_enterprise({**body, "credit_code": credit_code})
        with self.db.transaction() as session:
            created = handlers.upsert_enterprise(session, data, now=self.clock(request), units=self.campaign.units)
            enterprise = handlers.get_enterprise(session, data["credit_code"])
        return json_response(schemas.enterprise_out.dump(enterprise), status=201 if created else 200)

    @http("GET", "/api/v1/enterprises/<string:credit_code>")
    def get_enterprise(self, request, credit_code):
        self.auth.require(request, "office", "cadre")
        enterprise = handlers.get_enterprise(self.db.session, domain.compact_credit_code(credit_code))
        return json_response(schemas.enterprise_out.dump(enterprise))

    @http("GET", "/api/v1/enterprises")
    def list_enterprises(self, request):
        self.auth.require(request, "office", "cadre")
        page, size = paging(request)
        items, total = handlers.list_enterprises(self.db.session, request.args.get("district"), page, size,
                                                 cadre=request.args.get("cadre"))
        return json_response(page_body(schemas.enterprise_out.dump(items, many=True), total, page, size))

    @http("POST", "/api/v1/enterprises/import")
    def import_enterprises(self, request):
        self.auth.require(request, "office")
        rows = sheets.read_upload(request)
        with self.db.transaction() as session:
            report = handlers.load_enterprises(session, rows, now=self.clock(request), units=self.campaign.units)
        counts = {status: sum(1 for r in report if r.status == status)
                  for status in ("accepted", "updated", "refused")}
        return json_response({"counts": counts, "rows": schemas.RowReportOut(many=True).dump(report)})

    # ------------------------------------------------------------ people (cadres and leaders)
    @http("PUT", "/api/v1/people/<string:person_id>")
    def put_person(self, request, person_id):
        self.auth.require(request, "office")
        body = json_body(request)
        if not isinstance(body, dict):
            raise InvalidInput("the body must be a JSON object")
        data = domain.validate_person({**body, "id": person_id})
        if data["unit"] and data["unit"] not in self.campaign.units:
            raise InvalidInput("unknown unit", {"unit": [f"no unit {data['unit']} in units.yaml"]})
        with self.db.transaction() as session:
            created = registry.upsert_person(session, data, now=self.clock(request))
            person = registry.get_person(session, person_id)
        return json_response(schemas.person_out.dump(person), status=201 if created else 200)

    @http("GET", "/api/v1/people/<string:person_id>")
    def get_person(self, request, person_id):
        self.auth.require(request, "office", "cadre")
        return json_response(schemas.person_out.dump(registry.get_person(self.db.session, person_id)))

    @http("GET", "/api/v1/people")
    def list_people(self, request):
        self.auth.require(request, "office", "cadre")
        page, size = paging(request)
        filters = schemas.PeopleFilters().load(request.args.to_dict())
        items, total = registry.list_people(self.db.session, filters.get("role"), filters.get("unit"), page, size)
        return json_response(page_body(schemas.person_out.dump(items, many=True), total, page, size))

    # ------------------------------------------------------------ households and projects
    def _subject_type(self, kind: str) -> str:
        subject_type = kind[:-1]  # households -> household
        self.campaign.require(subject_type)
        return subject_type

    @http("PUT", "/api/v1/<any(households,projects):kind>/<string:subject_id>")
    def put_subject(self, request, kind, subject_id):
        principal = self.auth.require(request, "office")
        subject_type = self._subject_type(kind)
        body = json_body(request)
        if not isinstance(body, dict):
            raise InvalidInput("the body must be a JSON object")
        data = domain.validate_subject({**body, "subject_type": subject_type, "subject_id": subject_id})
        with self.db.transaction() as session:
            created = registry.upsert_subject(session, data, now=self.clock(request), units=self.campaign.units)
            subject = registry.get_subject(session, subject_type, subject_id)
        shown = registry.shown_subject(subject, role=principal.role, person=person_of(principal))
        return json_response(schemas.subject_out.dump(shown), status=201 if created else 200)

    @http("GET", "/api/v1/<any(households,projects):kind>/<string:subject_id>")
    def get_subject(self, request, kind, subject_id):
        principal = self.auth.require(request, "office", "cadre")
        subject = registry.get_subject(self.db.session, self._subject_type(kind), subject_id)
        shown = registry.shown_subject(subject, role=principal.role, person=person_of(principal))
        return json_response(schemas.subject_out.dump(shown))

    @http("GET", "/api/v1/<any(households,projects):kind>")
    def list_subjects(self, request, kind):
        principal = self.auth.require(request, "office", "cadre")
        subject_type = self._subject_type(kind)
        page, size = paging(request)
        filters = schemas.SubjectFilters().load(request.args.to_dict())
        items, total = registry.list_subjects(self.db.session, subject_type, filters, page, size)
        shown = [registry.shown_subject(item, role=principal.role, person=person_of(principal)) for item in items]
        return json_response(page_body(schemas.subject_out.dump(shown, many=True), total, page, size))

    # two concrete paths, not one template: /api/v1/households/import must not also answer GET and PUT
    @http("POST", "/api/v1/households/import")
    def import_households(self, request):
        return self._import_subjects(request, "households")

    @http("POST", "/api/v1/projects/import")
    def import_projects(self, request):
        return self._import_subjects(request, "projects")

    def _import_subjects(self, request, kind: str):
        self.auth.require(request, "office")
        subject_type = self._subject_type(kind)
        rows = sheets.read_upload(request)
        with self.db.transaction() as session:
            report = registry.load_subjects(session, subject_type, rows, now=self.clock(request),
                                            units=self.campaign.units)
        counts = {status: sum(1 for r in report if r.status == status)
                  for status in ("accepted", "updated", "refused")}
        return json_response({"counts": counts, "rows": schemas.RowReportOut(many=True).dump(report)})

    # ------------------------------------------------------------ visits (走访)
    @http("POST", "/api/v1/visits")
    def record_visit(self, request):
        principal = self.auth.require(request, "office", "cadre")
        body = json_body(request)
        now = self.clock(request)
        data = domain.validate_visit(body, domain.city_date(now))
        with self.db.transaction() as session:
            visit = visits.record_visit(session, data, now=now, role=principal.role, person=person_of(principal),
                                        actor=principal.actor, subject_types=self.campaign.subject_types)
        return json_response(schemas.visit_out.dump(visit), status=201,
                             headers={"Location": f"/api/v1/visits/{visit['id']}"})

    @http("GET", "/api/v1/visits")
    def list_visits(self, request):
        principal = self.auth.require(request, "office", "cadre")
        page, size = paging(request)
        filters = schemas.VisitFilters().load(request.args.to_dict())
        if principal.role == "cadre":  # a cadre's own visits
            filters["cadre_id"] = person_of(principal)
        items, total = visits.list_visits(self.db.session, filters, page, size)
        return json_response(page_body(schemas.visit_out.dump(items, many=True), total, page, size))

    @http("GET", "/api/v1/visits/<string:visit_id>")
    def get_visit(self, request, visit_id):
        principal = self.auth.require(request, "office", "cadre")
        visit = visits.get_visit(self.db.session, visit_id)
        if principal.role == "cadre" and visit["cadre_id"] != person_of(principal):
            raise NotFound(f"no visit {visit_id}")
        return json_response(schemas.visit_out.dump(visit))

    # ------------------------------------------------------------ documents
    @http("GET", "/openapi.json")
    def openapi(self, request):
        return json_response(openapi_document(list(self.catalogue.services), sorted(self.campaign.units)))


SHEET_TYPES = ("text/csv", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


def openapi_document(services: list[str] | None = None, units: list[str] | None = None) -> dict:
    """The API; with the deployment's Open311 service codes (its categories) as an enum."""
    ref = lambda name: {"$ref": f"#/components/schemas/{name}"}  # noqa: E731
    sheet_body = {"required": True, "content": {
        "text/csv": {"schema": {"type": "string", "minLength": 1,
                                "description": "UTF-8 (with or without BOM) or GB18030; a heading row"}},
        SHEET_TYPES[1]: {"schema": {"type": "string", "contentMediaType": SHEET_TYPES[1]}},
        "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
            "file": {"type": "string", "contentMediaType": "application/octet-stream"}}},
            "encoding": {"file": {"contentType": ", ".join(SHEET_TYPES)}}}}}
    report = {"200": {"description": "a report per row", "content": json_content({
        "type": "object", "required": ["counts", "rows"], "properties": {
            "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
            "rows": {"type": "array", "items": ref("RowReport")}}})},
        "400": error("the sheet cannot be read (not UTF-8 or GB18030, no heading row, a broken workbook, "
                     "more than 20000 rows)"),
        "415": error("neither CSV nor XLSX")}
    credit_code = {"name": "credit_code", "in": "path", "required": True,
                   "schema": {"type": "string", "format": "uscc",
                              "description": "unified social credit code (GB 32100-2015)"}}
    page = {"200": {"description": "a page", "content": json_content({
        "type": "object", "required": ["items", "total", "page", "page_size"], "properties": {
            "items": {"type": "array"}, "total": {"type": "integer"}, "page": {"type": "integer"},
            "page_size": {"type": "integer"}}})}}
    paths = {
        "/api/v1/appeals": {
            "post": {
                "summary": "Submit an appeal (office, cadre, platform; an enterprise only for its own credit code, "
                           "else 403)", "security": BEARER,
                "parameters": [{"name": "Idempotency-Key", "in": "header", "required": False,
                                "schema": {"type": "string", "minLength": 1, "maxLength": 128}}],
                "requestBody": {"required": True, "content": json_content(ref("AppealInput"))},
                "responses": {
                    "201": {"description": "created", "content": json_content({
                        "type": "object", "required": ["id", "appeal"],
                        "properties": {"id": {"type": "string"}, "appeal": ref("Appeal")}})},
                    "200": {"description": "a repeat: the first appeal, nothing published",
                            "content": json_content({
                                "type": "object", "required": ["id", "duplicate", "appeal"],
                                "properties": {"id": {"type": "string"}, "duplicate": {"const": True},
                                               "appeal": ref("Appeal")}})},
                    "409": error("Idempotency-Key reused for another request, or a household or project the "
                                 "registry does not hold"),
                },
            },
            "get": {
                "summary": "List appeals (a cadre or platform: what it submitted)", "security": BEARER,
                "parameters": [query(schemas.AppealFilters), *paging_parameters()],
                "responses": page,
            },
        },
        "/api/v1/appeals/{appeal_id}": {"get": {
            "summary": "One appeal", "security": BEARER,
            "parameters": [{"name": "appeal_id", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {"200": {"description": "the appeal", "content": json_content(ref("Appeal"))},
                          "404": error("no such appeal (or not the caller's)")}}},
        "/api/v1/appeals/import": {"post": {
            "summary": "Import a problem sheet (企业问题办理单), office or cadre", "security": BEARER,
            "requestBody": sheet_body, "responses": report}},
        "/api/v1/enterprises": {"get": {
            "summary": "The enterprise registry", "security": BEARER,
            "parameters": [*({"name": n, "in": "query", "required": False, "schema": {"type": "string"}}
                             for n in ("district", "cadre")), *paging_parameters()],
            "responses": page}},
        "/api/v1/enterprises/{credit_code}": {
            "get": {"summary": "One enterprise", "security": BEARER, "parameters": [credit_code],
                    "responses": {"200": {"description": "the enterprise", "content": json_content(ref("Enterprise"))},
                                  "404": error("unknown credit code")}},
            "put": {"summary": "Register or update an enterprise (office)", "security": BEARER,
                    "parameters": [credit_code],
                    "requestBody": {"required": True, "content": json_content(ref("EnterpriseBody"))},
                    "responses": {"200": {"description": "updated", "content": json_content(ref("Enterprise"))},
                                  "201": {"description": "registered", "content": json_content(ref("Enterprise"))},
                                  "409": error("a cadre or leader the registry does not hold as such")}},
        },
        "/api/v1/enterprises/import": {"post": {
            "summary": "Load the enterprise registry from CSV or XLSX (office)", "security": BEARER,
            "requestBody": sheet_body, "responses": report}},
    }
    paths.update(registry_paths(sheet_body, report, page, ref))
    paths.update(open311_paths(services))
    return _with_registry_rules(build_spec("Suqiu intake", "1.0.0", {
        "AppealInput": schemas.AppealInput, "Appeal": schemas.AppealOut,
        "PersonBody": schemas.PersonInput(exclude=("id",)), "Person": schemas.PersonOut,
        "HouseholdBody": schemas.HouseholdBody(exclude=("subject_type", "subject_id")),
        "ProjectBody": schemas.SubjectInput(exclude=("subject_type", "subject_id", "community", "phone")),
        "Subject": schemas.SubjectOut, "VisitInput": schemas.VisitInput, "Visit": schemas.VisitOut,
        # the path names the enterprise: a credit_code in the body is ignored
        "EnterpriseBody": schemas.EnterpriseInput(exclude=("credit_code",)), "Enterprise": schemas.EnterpriseOut,
        "RowReport": schemas.RowReportOut,
    }, paths), units)


def _with_registry_rules(document: dict, units: list[str] | None) -> dict:
    """What marshmallow cannot say of the registry's bodies, said in JSON Schema: a unit is one of
    the deployment's units.yaml; an appeal names an enterprise by credit code and name or another
    subject by its id; a visit found no problem (and raised no appeal) or says what it found."""
    components = document["components"]["schemas"]
    if units:
        for name, field in (("PersonBody", "unit"), ("HouseholdBody", "lead_department"),
                            ("ProjectBody", "lead_department"), ("EnterpriseBody", "lead_department")):
            components[name]["properties"][field]["enum"] = [*units, None]
    components["AppealInput"]["anyOf"] = [  # an enterprise by its credit code and name, else by its registry id
        {"type": "object", "required": ["credit_code", "enterprise_name"], "properties": {
            "subject_type": {"const": "enterprise"}, "credit_code": {"type": "string"},
            "enterprise_name": {"type": "string"}}},
        {"type": "object", "required": ["subject_type", "subject_id"], "properties": {
            "subject_type": {"enum": ["household", "project"]}, "subject_id": {"type": "string"}}},
    ]
    found = {"type": "object", "properties": {"no_problem": {"const": False}}}
    components["VisitInput"]["anyOf"] = [
        {"type": "object", "required": ["no_problem"],
         "properties": {"no_problem": {"const": True}, "appeal_ids": {"maxItems": 0}}},
        {**found, "required": ["findings"], "properties": {**found["properties"], "findings": {"type": "string"}}},
        {**found, "required": ["appeal_ids"], "properties": {**found["properties"], "appeal_ids": {"minItems": 1}}},
    ]
    return document


def registry_paths(sheet_body: dict, report: dict, page: dict, ref) -> dict:
    """People, households, projects and visits (issue 15)."""
    def path_id(name: str, description: str, pattern: str | None = None) -> dict:
        schema = {"type": "string", **({"pattern": pattern} if pattern else {})}
        return {"name": name, "in": "path", "required": True, "schema": schema, "description": description}

    key_pattern = domain.REGISTRY_KEY.regex.pattern

    def filters(schema) -> list:
        return [query(schema), *paging_parameters()]

    not_in_campaign = "invalid input (a subject type this campaign does not have: the profile's intake part)"
    paths = {
        "/api/v1/people": {"get": {
            "summary": "The cadres and leaders (office, cadre)", "security": BEARER,
            "parameters": filters(schemas.PeopleFilters), "responses": page}},
        "/api/v1/people/{person_id}": {
            "get": {"summary": "One person", "security": BEARER,
                    "parameters": [path_id("person_id", "the name they sign in with", key_pattern)],
                    "responses": {"200": {"description": "the person", "content": json_content(ref("Person"))},
                                  "404": error("no such person")}},
            "put": {"summary": "Register or change a cadre or leader (office)", "security": BEARER,
                    "parameters": [path_id("person_id", "the name they sign in with", key_pattern)],
                    "requestBody": {"required": True, "content": json_content(ref("PersonBody"))},
                    "responses": {"200": {"description": "changed", "content": json_content(ref("Person"))},
                                  "201": {"description": "registered", "content": json_content(ref("Person"))},
                                  "400": error("invalid input (an id that is not letters and digits, a unit "
                                               "outside units.yaml)")}}},
        "/api/v1/visits": {
            "post": {"summary": "Record a visit (走访): a cadre their own, the office anyone's", "security": BEARER,
                     "requestBody": {"required": True, "content": json_content(ref("VisitInput"))},
                     "responses": {"201": {"description": "recorded", "content": json_content(ref("Visit"))},
                                   "400": error("invalid input: a day in the future, nothing said found, a "
                                                "subject type this campaign does not have"),
                                   "403": error("a cadre naming another visitor"),
                                   "409": error("a subject or visitor the registry does not hold, or appeals "
                                                "of another subject")}},
            "get": {"summary": "Visits (a cadre: their own)", "security": BEARER,
                    "parameters": filters(schemas.VisitFilters), "responses": page}},
        "/api/v1/visits/{visit_id}": {"get": {
            "summary": "One visit", "security": BEARER, "parameters": [path_id("visit_id", "the visit's id")],
            "responses": {"200": {"description": "the visit", "content": json_content(ref("Visit"))},
                          "404": error("no such visit (or not the cadre's)")}}},
    }
    for kind, what, body in (("households", "households in hardship (结对帮扶)", "HouseholdBody"),
                             ("projects", "projects (包联项目)", "ProjectBody")):
        key = path_id("subject_id", "a household's registry id or a project's code", key_pattern)
        paths[f"/api/v1/{kind}"] = {"get": {
            "summary": f"The registry's {what} (office, cadre; a household's personal data masked but for "
                       "its paired cadre)", "security": BEARER,
            "parameters": filters(schemas.SubjectFilters),
            "responses": {**page, "400": error(not_in_campaign)}}}
        paths[f"/api/v1/{kind}/{{subject_id}}"] = {
            "get": {"summary": f"One of the {what}", "security": BEARER, "parameters": [key],
                    "responses": {"200": {"description": "found", "content": json_content(ref("Subject"))},
                                  "400": error(not_in_campaign), "404": error("not registered")}},
            "put": {"summary": f"Register or change one of the {what}, with its pairing (office)",
                    "security": BEARER, "parameters": [key],
                    "requestBody": {"required": True, "content": json_content(ref(body))},
                    "responses": {"200": {"description": "changed", "content": json_content(ref("Subject"))},
                                  "201": {"description": "registered", "content": json_content(ref("Subject"))},
                                  "400": error(not_in_campaign + "; a unit outside units.yaml"),
                                  "409": error("a cadre or leader the registry does not hold as such")}}}
        paths[f"/api/v1/{kind}/import"] = {"post": {
            "summary": f"Load {what} from CSV or XLSX (office)", "security": BEARER,
            "requestBody": sheet_body, "responses": report}}
    return paths


def open311_paths(services: list[str] | None) -> dict:
    """Open311 GeoReport v2 (services/intake/open311.py): every answer, errors too, in the format asked."""
    fmt = {"name": "format", "in": "path", "required": True,
           "schema": {"type": "string", "enum": list(open311.FORMATS)},
           "description": "json or xml"}
    api_key = {"name": "api_key", "in": "query", "required": True, "schema": {"type": "string"},
               "description": "a platform's, cadre's or office's token"}
    text = {"type": "string"}
    code = {"type": "string", **({"enum": services} if services else {})}
    error_list = {"type": "array", "items": {"type": "object", "required": ["code", "description"], "properties": {
        "code": {"type": "integer"}, "description": {"type": "string"}}}}

    def answer(description: str, schema: dict) -> dict:
        return {"description": description, "content": {"application/json": {"schema": schema},
                                                        "text/xml": {"schema": {"type": "string"}}}}

    def refused(description: str) -> dict:
        # Open311's error list; a URL refused before the entrypoint (a NUL) answers in the error table's JSON
        return answer(description, {"anyOf": [error_list, {"$ref": "#/components/schemas/Error"}]})

    errors = {"400": refused("invalid or missing argument"), "403": refused("invalid api_key"),
              "404": refused("no such service or service request"), "503": refused("the database does not answer")}
    service = {"type": "object", "required": ["service_code", "service_name", "metadata", "type"], "properties": {
        "service_code": text, "service_name": text, "description": text, "metadata": {"type": "boolean"},
        "type": {"enum": ["realtime", "batch", "blackbox"]}, "keywords": text, "group": text}}
    request_out = {"type": "object", "required": ["service_request_id", "status"], "properties": {
        "service_request_id": text, "status": {"enum": ["open", "closed"]},
        "requested_datetime": {"type": "string", "format": "date-time"}}}
    form = {"type": "object", "required": ["api_key", "service_code", "description", "attribute[credit_code]",
                                           "attribute[enterprise_name]", "attribute[district]"], "properties": {
        "api_key": text, "service_code": code, "description": {"type": "string", "maxLength": 5000},
        "attribute[credit_code]": {"type": "string", "format": "uscc"},
        "attribute[enterprise_name]": {"type": "string", "maxLength": 200},
        "attribute[district]": {"type": "string", "maxLength": 64}, "attribute[title]": text,
        "attribute[collected_at]": {"type": "string", "format": "date-time"},
        **{name: text for name in ("lat", "long", "address_string", "address_id", "email", "device_id",
                                   "account_id", "first_name", "last_name", "phone", "media_url")}}}
    return {
        "/open311/v2/services.{format}": {"get": {
            "summary": "Open311: the services (the campaign's categories)", "parameters": [fmt],
            "responses": {"200": answer("the services", {"type": "array", "items": service}), **errors}}},
        "/open311/v2/services/{service_code}.{format}": {"get": {
            "summary": "Open311: a service's definition (the attributes an appeal needs)",
            "parameters": [{"name": "service_code", "in": "path", "required": True, "schema": text}, fmt],
            "responses": {"200": answer("the definition",
                                        {"type": "object", "required": ["service_code", "attributes"]}),
                          **errors}}},
        "/open311/v2/requests.{format}": {
            "post": {"summary": "Open311: submit a service request (an appeal), with api_key", "parameters": [fmt],
                     "requestBody": {"required": True, "content": {
                         "application/x-www-form-urlencoded": {"schema": form},
                         "multipart/form-data": {"schema": form}}},
                     "responses": {"201": answer("created: its service_request_id", {"type": "array", "items": {
                         "type": "object", "required": ["service_request_id"]}}), **errors}},
            "get": {"summary": "Open311: the caller's service requests (the office: all), with api_key",
                    "parameters": [fmt, api_key, *({"name": n, "in": "query", "required": False, "schema": text}
                                                   for n in ("service_request_id", "service_code", "start_date",
                                                             "end_date")),
                                   {"name": "status", "in": "query", "required": False,
                                    "schema": {"enum": ["open", "closed"]}}],
                    "responses": {"200": answer("the requests", {"type": "array", "items": request_out}), **errors}}},
        "/open311/v2/requests/{service_request_id}.{format}": {"get": {
            "summary": "Open311: one service request, with api_key",
            "parameters": [{"name": "service_request_id", "in": "path", "required": True, "schema": text},
                           fmt, api_key],
            "responses": {"200": answer("the request", {"type": "array", "items": request_out}), **errors}}},
        "/open311/v2/tokens/{token}.{format}": {"get": {
            "summary": "Open311: the request a token stands for (requests are made in real time: the token is "
                       "its id), with api_key",
            "parameters": [{"name": "token", "in": "path", "required": True, "schema": text}, fmt, api_key],
            "responses": {"200": answer("the request's id", {"type": "array"}), **errors}}},
    }
