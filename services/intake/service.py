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

from services.intake import domain, handlers, open311, schemas, sheets, upstream
from services.intake.models import outbox
from services.intake.profile import IntakePart
from shared.auth import Auth, Principal
from shared.profile import load_part, profile_dir
from shared.consumers import Batch, PoisonMessage, consume
from shared.db import Database
from shared.events import Event, read_event
from shared.openapi import BEARER, build_spec, error, json_content, paging_parameters, query
from shared.outbox import OutboxRelay
from shared import service as base
from shared.errors import DomainError, Forbidden, InvalidInput, NotFound, Unauthorized
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
    """The office reads every appeal, an enterprise its own, anyone else what it submitted."""
    if principal.role == "office":
        return True
    if principal.role == "enterprise":
        return appeal["credit_code"] == principal.credit_code
    return appeal["submitted_by"] in principal.submitted_as  # a platform: its AMQP appeals too


class Open311Catalogue(DependencyProvider):
    """Open311's services: the campaign's categories, as the profile's dispatch part writes them
    (read-only, ``categories``), or DOMAIN.md's ten when the profile has no dispatch part."""

    def setup(self) -> None:
        path = profile_dir(self.container.config) / "dispatch.yaml"
        categories = [{"code": code} for code in open311.DEFAULT_CATEGORIES]
        if path.exists():
            categories = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("categories") or categories
        self.services = {service.code: service for service in open311.services_from_categories(categories)}

    def get_dependency(self, worker_ctx) -> "Open311Catalogue":
        return self


class Platforms(DependencyProvider):
    """The upstream platforms of ``intake.yaml`` (none when the profile has no intake part), whose
    exchanges are declared at start: the answers to their appeals go back there."""

    def setup(self) -> None:
        directory = profile_dir(self.container.config)
        self.platforms = load_part(directory, "intake", IntakePart)["platforms"] \
            if (directory / "intake.yaml").exists() else []

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
        if principal.role == "enterprise" and data["credit_code"] != principal.credit_code:
            raise Forbidden("an enterprise submits only for its own credit code")
        key = request.headers.get("Idempotency-Key")
        if key is not None and not 1 <= len(key) <= 128:
            raise InvalidInput("invalid Idempotency-Key", {"Idempotency-Key": ["1 to 128 characters"]})
        result = self._submit_once(data, now, principal.actor, key)
        if not result.created:
            DUPLICATES.labels("http").inc()
            return json_response({"id": result.appeal["id"], "duplicate": True,
                                  "appeal": schemas.appeal_out.dump(result.appeal)}, status=200)
        APPEALS_RECEIVED.labels(data["channel"]).inc()
        return json_response({"id": result.appeal["id"], "appeal": schemas.appeal_out.dump(result.appeal)},
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
        return json_response(schemas.appeal_out.dump(appeal))

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
        return json_response(page_body(schemas.appeal_out.dump(items, many=True), total, page, size))

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
            created = handlers.upsert_enterprise(session, data, now=self.clock(request))
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
            report = handlers.load_enterprises(session, rows, now=self.clock(request))
        counts = {status: sum(1 for r in report if r.status == status)
                  for status in ("accepted", "updated", "refused")}
        return json_response({"counts": counts, "rows": schemas.RowReportOut(many=True).dump(report)})

    # ------------------------------------------------------------ documents
    @http("GET", "/openapi.json")
    def openapi(self, request):
        return json_response(openapi_document(list(self.catalogue.services)))


SHEET_TYPES = ("text/csv", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


def openapi_document(services: list[str] | None = None) -> dict:
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
                    "409": error("Idempotency-Key reused for another request"),
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
                                  "201": {"description": "registered", "content": json_content(ref("Enterprise"))}}},
        },
        "/api/v1/enterprises/import": {"post": {
            "summary": "Load the enterprise registry from CSV or XLSX (office)", "security": BEARER,
            "requestBody": sheet_body, "responses": report}},
    }
    paths.update(open311_paths(services))
    return build_spec("Suqiu intake", "1.0.0", {
        "AppealInput": schemas.AppealInput, "Appeal": schemas.AppealOut,
        # the path names the enterprise: a credit_code in the body is ignored
        "EnterpriseBody": schemas.EnterpriseInput(exclude=("credit_code",)), "Enterprise": schemas.EnterpriseOut,
        "RowReport": schemas.RowReportOut,
    }, paths)


def open311_paths(services: list[str] | None) -> dict:
    """Open311 GeoReport v2 (services/intake/open311.py): every answer, errors too, in the format asked."""
    fmt = {"name": "format", "in": "path", "required": True, "schema": {"type": "string", "enum": list(open311.FORMATS)},
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
            "responses": {"200": answer("the definition", {"type": "object", "required": ["service_code", "attributes"]}),
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
            "parameters": [{"name": "service_request_id", "in": "path", "required": True, "schema": text}, fmt, api_key],
            "responses": {"200": answer("the request", {"type": "array", "items": request_out}), **errors}}},
        "/open311/v2/tokens/{token}.{format}": {"get": {
            "summary": "Open311: the request a token stands for (requests are made in real time: the token is "
                       "its id), with api_key",
            "parameters": [{"name": "token", "in": "path", "required": True, "schema": text}, fmt, api_key],
            "responses": {"200": answer("the request's id", {"type": "array"}), **errors}}},
    }
