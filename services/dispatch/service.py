"""The dispatch service: classify, route to the responsible unit, and the unit's desk.

Entrypoints only: each parses its input, calls a use case in ``handlers`` inside
one transaction (the domain decides, the outbox carries the events), and
serialises the answer.
"""
from __future__ import annotations

from nameko.extensions import DependencyProvider
from prometheus_client import Counter, Histogram

from services.dispatch import common_problems, domain, handlers, schemas
from services.dispatch.models import outbox
from services.dispatch.profile import DispatchPart
from shared import service as base
from shared.auth import Auth
from shared.consumers import Batch, consume
from shared.db import Database
from shared.openapi import BEARER, build_spec, error, json_content, paging_parameters, query
from shared.outbox import OutboxRelay
from shared.profile import load_part, load_units, profile_dir
from shared.web import http, json_body, json_response, page_body, paging

DISPATCHED = Counter("suqiu_appeals_dispatched_total", "Appeals dispatched (and re-dispatched), by lead unit "
                     "(manual_queue: the office's queue) and category.", ["unit", "category"])
RETURNS = Counter("suqiu_appeal_returns_total", "Appeals returned by their lead unit (退单).", ["unit"])
LATENCY = Histogram("suqiu_dispatch_latency_seconds", "From appeal_received (its event time) to dispatched.",
                    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300))


class DispatchRules(DependencyProvider):
    """Injects :class:`domain.Rules`: the profile's dispatch part with its unit directory.

    Read once in ``setup()`` from ``PROFILE_DIR``; a bad profile stops the service
    at start with the file and line of each problem.
    """

    def setup(self) -> None:
        directory = profile_dir(self.container.config)
        part = load_part(directory, "dispatch", DispatchPart)
        units = load_units(directory)
        problems = DispatchPart.cross_check(part, units)
        if problems:
            raise RuntimeError(f"{directory}/dispatch.yaml: " + "; ".join(problems))
        self.rules = domain.Rules(part, units)

    def get_dependency(self, worker_ctx) -> domain.Rules:
        return self.rules


def _count(appeal: domain.Appeal | None) -> None:
    for event_type, data in (appeal.events if appeal else []):
        if event_type == "appeal_dispatched":
            DISPATCHED.labels(data["lead_unit"] or "manual_queue", data["category"]).inc()
        elif event_type == "appeal_returned":
            RETURNS.labels(data["unit"]).inc()


def _optional_body(request) -> dict:
    return json_body(request) if request.get_data(cache=True) else {}


class DispatchService(base.OperableService):
    name = "dispatch"

    db = Database("dispatch")
    relay = OutboxRelay(outbox)
    auth = Auth()
    rules = DispatchRules()

    # ------------------------------------------------------------ events from the mesh
    @consume("intake", "appeal_received")
    def receive_appeal(self, batch: Batch):
        routed = handlers.receive_appeals(batch, self.rules)
        received = {event.data["appeal_id"]: event.time for event in batch.events}

        def count() -> None:
            for appeal in routed:
                _count(appeal)
                LATENCY.observe(max(0.0, (batch.now - received[appeal.id]).total_seconds()))

        batch.after_commit(count)

    def _on_events(self, batch: Batch, change) -> None:
        changed = handlers.on_events(batch, change)
        batch.after_commit(lambda: [_count(appeal) for appeal in changed])

    @consume("assessment", "appeal_reopened")
    def on_appeal_reopened(self, batch: Batch):
        self._on_events(batch, lambda appeal, data: appeal.reopen(self.rules, data["reason"], data["reopen_count"],
                                                                  data.get("unit")))

    @consume("assessment", "appeal_closed")
    def on_appeal_closed(self, batch: Batch):
        self._on_events(batch, lambda appeal, data: appeal.close(data["outcome"], data.get("satisfaction")))

    @consume("supervision", "appeal_escalated")
    def on_appeal_escalated(self, batch: Batch):
        self._on_events(batch, lambda appeal, data: appeal.escalate(self.rules, data.get("to_unit"), data["rung"],
                                                                    data["reason"]))

    @consume("supervision", "meeting_decision_made")
    def on_meeting_decision(self, batch: Batch):
        """A meeting (交办会, 调度会) decided who leads: re-dispatched (reason ``assigned``)."""
        self._on_events(batch, lambda appeal, data: appeal.apply_meeting_decision(self.rules, data))

    @consume("supervision", "appeal_colour_changed")
    def on_appeal_colour_changed(self, batch: Batch):
        self._on_events(batch, lambda appeal, data: appeal.set_colour(data["colour"], data.get("stage")))

    @consume("supervision", "appeal_deadline_set")
    def on_deadline_set(self, batch: Batch):
        """A stage's deadline carries the colour it starts with (the desk's colour filter)."""
        batch.events = [event for event in batch.events if event.data.get("colour")]
        if batch.events:
            self._on_events(batch, lambda appeal, data: appeal.set_colour(data["colour"], data.get("stage")))

    def _listed(self, request, filters: dict, unit: str | None = None):
        """A page of the appeals that match ``filters`` (a unit's own only, when ``unit`` is given)."""
        page, size = paging(request)
        items, total = handlers.list_appeals(self.db.session, filters, page, size, unit=unit)
        return json_response(page_body(schemas.appeal_out.dump(items, many=True), total, page, size))

    # ------------------------------------------------------------ the unit's desk
    @http("GET", "/api/v1/desk")
    def desk(self, request):
        principal = self.auth.require(request, "unit")
        return self._listed(request, schemas.DeskFilters().load(request.args.to_dict()), unit=principal.unit)

    @http("GET", "/api/v1/desk/appeals/<string:appeal_id>")
    def desk_appeal(self, request, appeal_id):
        principal = self.auth.require(request, "unit")
        return json_response(schemas.appeal_detail_out.dump(
            handlers.readable(self.db.session, appeal_id, principal.unit)))

    def _act(self, request, appeal_id: str, role: str, schema, change):
        """Who (401/403 first), what (400), then the change in one transaction (403/404/409)."""
        principal = self.auth.require(request, role)
        body = schema().load(_optional_body(request) if schema is schemas.AcceptInput else json_body(request))
        now = self.clock(request)
        with self.db.transaction() as session:
            appeal = handlers.act(session, appeal_id, now=now, actor=principal.actor,
                                  change=lambda appeal: change(appeal, principal, body))
        _count(appeal)
        return json_response(schemas.appeal_detail_out.dump(handlers.appeal_view(self.db.session, appeal_id)))

    @http("POST", "/api/v1/desk/appeals/<string:appeal_id>/accept")
    def accept(self, request, appeal_id):
        return self._act(request, appeal_id, "unit", schemas.AcceptInput,
                         lambda appeal, who, body: appeal.accept(who.unit, who.actor))

    @http("POST", "/api/v1/desk/appeals/<string:appeal_id>/progress")
    def progress(self, request, appeal_id):
        return self._act(request, appeal_id, "unit", schemas.ProgressInput,
                         lambda appeal, who, body: appeal.progress(who.unit, body["note"], who.actor))

    @http("POST", "/api/v1/desk/appeals/<string:appeal_id>/reply")
    def reply(self, request, appeal_id):
        return self._act(request, appeal_id, "unit", schemas.ReplyInput,
                         lambda appeal, who, body: appeal.reply(who.unit, body["outcome"], body["reply_text"],
                                                                who.actor))

    @http("POST", "/api/v1/desk/appeals/<string:appeal_id>/return")
    def return_appeal(self, request, appeal_id):
        return self._act(request, appeal_id, "unit", schemas.ReturnInput,
                         lambda appeal, who, body: appeal.return_(self.rules, who.unit, body["reason"]))

    @http("POST", "/api/v1/desk/appeals/<string:appeal_id>/escalation-request")
    def escalation_request(self, request, appeal_id):
        return self._act(request, appeal_id, "unit", schemas.EscalationRequestInput,
                         lambda appeal, who, body: appeal.request_escalation(who.unit, body["note"], who.actor))

    @http("POST", "/api/v1/desk/appeals/<string:appeal_id>/plan")
    def submit_plan(self, request, appeal_id):
        return self._act(request, appeal_id, "unit", schemas.PlanInput,
                         lambda appeal, who, body: appeal.submit_plan(who.unit, body["plan"], who.actor))

    # ------------------------------------------------------------ the enterprise
    @http("GET", "/api/v1/enterprise/appeals")
    def enterprise_appeals(self, request):
        """An enterprise follows its own appeals, a cadre those of the enterprises paired with it
        (status, lead unit, reply), never their internal history."""
        principal = self.auth.require(request, "enterprise", "cadre")
        filters = {"credit_code": principal.credit_code} if principal.role == "enterprise" else \
            {"cadre": principal.name, "credit_code": request.args.get("credit_code")}
        return self._listed(request, filters)

    # ------------------------------------------------------------ the office
    @http("GET", "/api/v1/office/queue")
    def office_queue(self, request):
        self.auth.require(request, "office")
        return self._listed(request, {**schemas.DeskFilters().load(request.args.to_dict()), "status": domain.QUEUED})

    @http("GET", "/api/v1/office/appeals")
    def office_appeals(self, request):
        self.auth.require(request, "office")
        return self._listed(request, schemas.OfficeFilters().load(request.args.to_dict()))

    @http("GET", "/api/v1/office/appeals/<string:appeal_id>")
    def office_appeal(self, request, appeal_id):
        self.auth.require(request, "office")
        return json_response(schemas.appeal_detail_out.dump(handlers.appeal_view(self.db.session, appeal_id)))

    @http("POST", "/api/v1/office/appeals/<string:appeal_id>/assign")
    def assign(self, request, appeal_id):
        return self._act(request, appeal_id, "office", schemas.AssignInput,
                         lambda appeal, who, body: appeal.assign(self.rules, body["lead"], body["co_units"],
                                                                 replace_lead=body["replace_lead"], note=body["note"]))

    @http("POST", "/api/v1/office/appeals/<string:appeal_id>/classify")
    def classify(self, request, appeal_id):
        return self._act(request, appeal_id, "office", schemas.ClassifyInput,
                         lambda appeal, who, body: appeal.reclassify(self.rules, body["category"],
                                                                     body["difficulty"], body["nature"],
                                                                     body["urgency"]))

    # ------------------------------------------------------------ common problems (共性问题)
    @http("GET", "/api/v1/office/common-problems/candidates")
    def common_problem_candidates(self, request):
        """Suggested groups: open appeals of several enterprises, same category and district, alike."""
        self.auth.require(request, "office")
        filters = schemas.CandidateFilters().load(request.args.to_dict())
        found = common_problems.candidates(self.db.session, filters.get("category"), filters.get("district"))
        return json_response({"items": schemas.candidate_out.dump(found, many=True)})

    @http("GET", "/api/v1/office/common-problems")
    def common_problem_list(self, request):
        self.auth.require(request, "office")
        page, size = paging(request)
        items, total = common_problems.listing(self.db.session, page, size)
        return json_response(page_body(schemas.common_problem_out.dump(items, many=True), total, page, size))

    @http("POST", "/api/v1/office/common-problems")
    def confirm_common_problem(self, request):
        principal = self.auth.require(request, "office")
        body = schemas.CommonProblemInput().load(json_body(request))
        now = self.clock(request)
        with self.db.transaction() as session:
            problem_id = common_problems.confirm(session, self.rules, body, now=now, actor=principal.actor)
        return json_response(schemas.common_problem_out.dump(common_problems.view(self.db.session, problem_id)),
                             status=201, headers={"Location": f"/api/v1/office/common-problems/{problem_id}"})

    @http("GET", "/api/v1/office/common-problems/<string:problem_id>")
    def common_problem(self, request, problem_id):
        self.auth.require(request, "office")
        return json_response(schemas.common_problem_out.dump(common_problems.view(self.db.session, problem_id)))

    @http("GET", "/api/v1/desk/common-problems")
    def desk_common_problems(self, request):
        principal = self.auth.require(request, "unit")
        page, size = paging(request)
        items, total = common_problems.listing(self.db.session, page, size, unit=principal.unit)
        return json_response(page_body(schemas.common_problem_out.dump(items, many=True), total, page, size))

    @http("GET", "/api/v1/desk/common-problems/<string:problem_id>")
    def desk_common_problem(self, request, problem_id):
        principal = self.auth.require(request, "unit")
        return json_response(schemas.common_problem_out.dump(
            common_problems.view(self.db.session, problem_id, unit=principal.unit)))

    @http("POST", "/api/v1/desk/common-problems/<string:problem_id>/reply")
    def reply_common_problem(self, request, problem_id):
        """One reply for the whole group: every open member gets it (its own appeal_replied)."""
        principal = self.auth.require(request, "unit")
        body = schemas.ReplyInput().load(json_body(request))
        now = self.clock(request)
        with self.db.transaction() as session:
            result = common_problems.reply(session, problem_id, body, unit=principal.unit, now=now,
                                           actor=principal.actor)
        problem = common_problems.view(self.db.session, problem_id)
        return json_response(schemas.common_reply_out.dump({**result, "problem": problem}))

    # ------------------------------------------------------------ documents
    @http("GET", "/openapi.json")
    def openapi(self, request):
        return json_response(openapi_document(self.rules))


def openapi_document(rules: domain.Rules | None = None) -> dict:
    """The API; with the deployment's ``rules``, the unit codes and category spellings it accepts."""
    ref = lambda name: {"$ref": f"#/components/schemas/{name}"}  # noqa: E731
    appeal_id = {"name": "appeal_id", "in": "path", "required": True, "schema": {"type": "string"}}
    listing = {"200": {"description": "a page of appeals", "content": json_content({
        "type": "object", "required": ["items", "total", "page", "page_size"], "properties": {
            "items": {"type": "array", "items": ref("Appeal")}, "total": {"type": "integer"},
            "page": {"type": "integer"}, "page_size": {"type": "integer"}}})}}
    detail = {"200": {"description": "the appeal with its history", "content": json_content(ref("AppealDetail"))},
              "403": error("not a unit's token"),
              "404": error("no such appeal, or another unit's (the same answer in every service)")}

    def action(summary: str, body: str, who: str = "the lead unit") -> dict:
        operation = {"summary": summary, "security": BEARER, "parameters": [appeal_id], "responses": {
            **detail, "200": {"description": "done; the appeal as it is now",
                              "content": json_content(ref("AppealDetail"))},
            "400": error("invalid input, a message per field; nothing changed"),
            "403": error(f"only {who} may do this; nothing changed"),
            "409": error("not allowed in the appeal's state; nothing changed")},
            "requestBody": {"required": body != "AcceptInput", "content": json_content(ref(body))}}
        return {"post": operation}

    paths = {
        "/api/v1/desk": {"get": {"summary": "The unit's inbox: appeals it leads or co-handles", "security": BEARER,
                                 "parameters": [query(schemas.DeskFilters), *paging_parameters()],
                                 "responses": listing}},
        "/api/v1/desk/appeals/{appeal_id}": {"get": {"summary": "One appeal of the unit, with its history",
                                                     "security": BEARER, "parameters": [appeal_id],
                                                     "responses": detail}},
        "/api/v1/desk/appeals/{appeal_id}/accept": action("Accept (签收)", "AcceptInput"),
        "/api/v1/desk/appeals/{appeal_id}/progress": action("A progress note (进展)", "ProgressInput"),
        "/api/v1/desk/appeals/{appeal_id}/reply": action("Reply (办结反馈)", "ReplyInput"),
        "/api/v1/desk/appeals/{appeal_id}/return": action("Return (退单): re-dispatched to the next candidate "
                                                          "or the office queue", "ReturnInput"),
        "/api/v1/desk/appeals/{appeal_id}/escalation-request": action("Ask for escalation (提级申请)",
                                                                      "EscalationRequestInput"),
        "/api/v1/desk/appeals/{appeal_id}/plan": action("Submit the solution plan (解决方案; 建德 1+3+6+10)",
                                                        "PlanInput"),
        "/api/v1/enterprise/appeals": {"get": {
            "summary": "An enterprise's own appeals (from the console's signed link); a cadre's: those of "
                       "the enterprises paired with it", "security": BEARER,
            "parameters": [{"name": "credit_code", "in": "query", "required": False, "schema": {"type": "string"}},
                           *paging_parameters()], "responses": listing}},
        "/api/v1/office/queue": {"get": {"summary": "The office's manual queue", "security": BEARER,
                                         "parameters": [query(schemas.DeskFilters), *paging_parameters()],
                                         "responses": listing}},
        "/api/v1/office/appeals": {"get": {"summary": "Every unit's desk (unit= one unit's)", "security": BEARER,
                                           "parameters": [query(schemas.OfficeFilters), *paging_parameters()],
                                           "responses": listing}},
        "/api/v1/office/appeals/{appeal_id}": {"get": {"summary": "One appeal with its history",
                                                       "security": BEARER, "parameters": [appeal_id],
                                                       "responses": detail}},
        "/api/v1/office/appeals/{appeal_id}/assign": action("Assign or re-assign (派单/改派)", "AssignInput",
                                                            "the office"),
        "/api/v1/office/appeals/{appeal_id}/classify": action("Change category, difficulty, nature, urgency",
                                                              "ClassifyInput", "the office"),
    }
    problem_id = {"name": "problem_id", "in": "path", "required": True, "schema": {"type": "string"}}
    problem = {"200": {"description": "the common problem with its members",
                       "content": json_content(ref("CommonProblem"))},
               "404": error("no such common problem")}
    problems_page = {"200": {"description": "a page of common problems", "content": json_content({
        "type": "object", "required": ["items", "total", "page", "page_size"], "properties": {
            "items": {"type": "array", "items": ref("CommonProblem")}, "total": {"type": "integer"},
            "page": {"type": "integer"}, "page_size": {"type": "integer"}}})}}
    paths.update({
        "/api/v1/office/common-problems/candidates": {"get": {
            "summary": "Suggested common problems (共性问题): open appeals of several enterprises, same category "
                       "and district, alike texts", "security": BEARER, "parameters": [query(schemas.CandidateFilters)],
            "responses": {"200": {"description": "the suggested groups, largest first", "content": json_content({
                "type": "object", "required": ["items"],
                "properties": {"items": {"type": "array", "items": ref("Candidate")}}})}}}},
        "/api/v1/office/common-problems": {
            "get": {"summary": "The confirmed common problems", "security": BEARER,
                    "parameters": paging_parameters(), "responses": problems_page},
            "post": {"summary": "Confirm a common problem: its appeals become 共性, led by one unit",
                     "security": BEARER, "requestBody": {"required": True,
                                                         "content": json_content(ref("CommonProblemInput"))},
                     "responses": {"201": {"description": "confirmed", "content": json_content(ref("CommonProblem"))},
                                   "400": error("invalid input (fewer than two enterprises, several categories, "
                                                "an unknown unit), a message per field; nothing changed"),
                                   "404": error("an appeal that does not exist; nothing changed"),
                                   "409": error("an appeal already replied, closed or in another group; "
                                                "nothing changed")}}},
        "/api/v1/office/common-problems/{problem_id}": {"get": {
            "summary": "One common problem with its members", "security": BEARER, "parameters": [problem_id],
            "responses": problem}},
        "/api/v1/desk/common-problems": {"get": {
            "summary": "The common problems the unit leads", "security": BEARER,
            "parameters": paging_parameters(), "responses": problems_page}},
        "/api/v1/desk/common-problems/{problem_id}": {"get": {
            "summary": "One common problem the unit leads", "security": BEARER, "parameters": [problem_id],
            "responses": {**problem, "403": error("not led by this unit")}}},
        "/api/v1/desk/common-problems/{problem_id}/reply": {"post": {
            "summary": "Reply once to a common problem: every open member gets the reply (办结反馈)",
            "security": BEARER, "parameters": [problem_id],
            "requestBody": {"required": True, "content": json_content(ref("ReplyInput"))},
            "responses": {"200": {"description": "replied", "content": json_content(ref("CommonReply"))},
                          "400": error("invalid reply, a message per field; nothing changed"),
                          "403": error("only the lead unit replies; nothing changed"),
                          "404": error("no such common problem"),
                          "409": error("already replied; nothing changed")}}},
    })
    something = lambda name, kind: {"required": [name], "properties": {name: {"type": kind}}}  # noqa: E731
    return build_spec("Suqiu dispatch", "1.0.0", {
        "Appeal": schemas.AppealOut, "AppealDetail": schemas.AppealDetailOut,
        "AcceptInput": schemas.AcceptInput, "ProgressInput": schemas.ProgressInput,
        "ReplyInput": schemas.ReplyInput, "ReturnInput": schemas.ReturnInput,
        "EscalationRequestInput": schemas.EscalationRequestInput, "AssignInput": schemas.AssignInput,
        "PlanInput": schemas.PlanInput,
        "ClassifyInput": schemas.ClassifyInput, "CommonProblemInput": schemas.CommonProblemInput,
        "CommonProblem": schemas.CommonProblemOut, "Candidate": schemas.CandidateOut,
        "CommonReply": schemas.CommonReplyOut,
    }, paths, refinements={
        # ClassifyInput._something_to_change: at least one of them, not null
        "ClassifyInput": {"anyOf": [something("category", "string"), something("difficulty", "string"),
                                    something("nature", "string"), something("urgency", "string")]},
    }, vocabulary=None if rules is None else {
        ("AssignInput", "lead"): sorted(rules.units),
        ("AssignInput", "co_units", "items"): sorted(rules.units),
        ("ClassifyInput", "category"): [*rules.spellings, None],
        ("CommonProblemInput", "lead_unit"): sorted(rules.units),
    })
