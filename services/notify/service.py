"""The notify service: every party hears what concerns them, over real channels, exactly once.

Entrypoints only. Each event handler writes, in one transaction with its inbox
record, the notifications the event causes (one per recipient and channel); the
sender loop of :class:`services.notify.sender.Notifier` sends them.
"""
from __future__ import annotations

from services.notify import handlers, schemas
from services.notify.models import outbox
from services.notify.sender import Notifier
from shared import service as base
from shared.auth import Auth
from shared.consumers import Batch, consume
from shared.db import Database
from shared.errors import Forbidden, InvalidInput
from shared.openapi import BEARER, build_spec, json_content, paging_parameters, query
from shared.outbox import OutboxRelay
from shared.web import http, json_body, json_response, page_body, paging


class NotifyService(base.OperableService):
    name = "notify"

    db = Database("notify")
    relay = OutboxRelay(outbox)
    auth = Auth()
    notifier = Notifier()

    def _handle(self, batch: Batch) -> None:
        handlers.notify_events(batch.connection, batch.events, self.notifier.directory, self.notifier.renderer)

    # ------------------------------------------------------------ what notify remembers
    @consume("intake", "enterprise_updated")
    def on_enterprise_updated(self, batch: Batch):
        self._handle(batch)

    # ------------------------------------------------------------ the enterprise and its cadre
    @consume("intake", "appeal_received")
    def on_appeal_received(self, batch: Batch):
        self._handle(batch)

    @consume("dispatch", "appeal_accepted")
    def on_appeal_accepted(self, batch: Batch):
        self._handle(batch)

    @consume("dispatch", "appeal_replied")
    def on_appeal_replied(self, batch: Batch):
        self._handle(batch)

    @consume("assessment", "callback_requested")
    def on_callback_requested(self, batch: Batch):
        self._handle(batch)

    @consume("assessment", "appeal_closed")
    def on_appeal_closed(self, batch: Batch):
        self._handle(batch)

    # ------------------------------------------------------------ units
    @consume("dispatch", "appeal_dispatched")
    def on_appeal_dispatched(self, batch: Batch):
        self._handle(batch)

    @consume("assessment", "appeal_reopened")
    def on_appeal_reopened(self, batch: Batch):
        self._handle(batch)

    @consume("supervision", "appeal_escalated")
    def on_appeal_escalated(self, batch: Batch):
        self._handle(batch)

    # warnings before a deadline: yellow to the lead unit, red to the unit and its leader
    @consume("supervision", "appeal_deadline_set")
    def on_appeal_deadline_set(self, batch: Batch):
        self._handle(batch)

    @consume("supervision", "appeal_colour_changed")
    def on_appeal_colour_changed(self, batch: Batch):
        self._handle(batch)

    @consume("supervision", "supervision_order_issued")
    def on_supervision_order_issued(self, batch: Batch):
        self._handle(batch)

    @consume("supervision", "weekly_digest_ready")
    def on_weekly_digest_ready(self, batch: Batch):
        self._handle(batch)

    @consume("supervision", "monthly_supervision_list")
    def on_monthly_supervision_list(self, batch: Batch):
        self._handle(batch)

    # ------------------------------------------------------------ leaders
    @consume("assessment", "report_published")
    def on_report_published(self, batch: Batch):
        self._handle(batch)

    @consume("assessment", "unit_flagged")
    def on_unit_flagged(self, batch: Batch):
        self._handle(batch)

    # ------------------------------------------------------------ HTTP
    @http("POST", "/api/v1/policy-pushes")
    def push_policy(self, request):
        principal = self.auth.require(request, "office")
        push = schemas.load(schemas.PolicyPushInput(), json_body(request))
        with self.db.transaction() as session:
            result = handlers.push_policy(session, push, self.notifier.directory, self.notifier.renderer,
                                          now=self.clock(request), actor=principal.actor)
        return json_response(result, status=201)

    @http("GET", "/api/v1/deliveries")
    def deliveries(self, request):
        self.auth.require(request, "office")
        page, size = paging(request)
        filters = schemas.DeliveryFilters().load(request.args.to_dict())
        items, total = handlers.list_notifications(self.db.session, filters, page, size)
        return json_response(page_body(schemas.DeliveryOut(many=True).dump(items), total, page, size))

    @http("GET", "/api/v1/inbox")
    def inbox(self, request):
        principal = self.auth.require(request, "office", "unit", "cadre")
        page, size = paging(request)
        query = schemas.InboxQuery().load(request.args.to_dict())
        if principal.role != "office" and set(query) - {"page", "page_size"}:
            raise Forbidden("only the office reads another recipient's inbox")
        recipients = handlers.inbox_recipients(principal.role, principal.unit, principal.name, query,
                                               self.notifier.directory.office)
        items, total = handlers.list_notifications(self.db.session, {"channel": "inbox"}, page, size,
                                                   recipients=recipients)
        return json_response(page_body(schemas.InboxMessageOut(many=True).dump(items), total, page, size))

    @http("POST", "/api/v1/send-due")
    def send_due(self, request):
        """Run one sender pass now; with ``SIMULATED_CLOCK`` the body's ``now`` says when "now" is."""
        self.auth.require(request, "office")
        body = schemas.load(schemas.SendDueInput(), json_body(request) if request.get_data() else {})
        now = self.clock(request)
        if body["now"] is not None:
            if not self.notifier.simulated_clock:
                raise InvalidInput('"now" is only honoured with SIMULATED_CLOCK', {"now": ["not simulated"]})
            now = body["now"]
        report = self.notifier.send_due(now, limit=body["limit"])
        return json_response(report.as_dict())

    @http("GET", "/openapi.json")
    def openapi(self, request):
        return json_response(openapi_document(simulated_clock=self.notifier.simulated_clock))


def openapi_document(simulated_clock: bool = True) -> dict:
    """The API; without ``SIMULATED_CLOCK``, send-due takes no ``now``."""
    ref = lambda name: {"$ref": f"#/components/schemas/{name}"}  # noqa: E731
    page = lambda item: {"200": {"description": "a page", "content": json_content({  # noqa: E731
        "type": "object", "required": ["items", "total", "page", "page_size"], "properties": {
            "items": {"type": "array", "items": ref(item)}, "total": {"type": "integer"},
            "page": {"type": "integer"}, "page_size": {"type": "integer"}}})}}
    paging = ("page", "page_size")
    paths = {
        "/api/v1/policy-pushes": {"post": {
            "summary": "Push a policy or training notice to the matching enterprises (政策推送)", "security": BEARER,
            "requestBody": {"required": True, "content": json_content(ref("PolicyPushInput"))},
            "responses": {"201": {"description": "how many enterprises were reached, per channel"}}}},
        "/api/v1/deliveries": {"get": {
            "summary": "The delivery log: what was sent to whom, when, on which channel, with what result (office)",
            "security": BEARER,
            "parameters": [query(schemas.DeliveryFilters(exclude=paging)), *paging_parameters()],
            "responses": page("Delivery")}},
        "/api/v1/inbox": {"get": {
            "summary": "The caller's in-app inbox (the office: any enterprise's by credit_code or recipient; "
                       "others may give only page and page_size)", "security": BEARER,
            "parameters": [query(schemas.InboxQuery(exclude=paging)), *paging_parameters()],
            "responses": page("InboxMessage")}},
        "/api/v1/send-due": {"post": {
            "summary": "Run one sender pass now (simulations: at the body's now)", "security": BEARER,
            "requestBody": {"required": False, "content": json_content(ref("SendDueInput"))},
            "responses": {"200": {"description": "what the pass did"}}}},
    }
    send_due = schemas.SendDueInput() if simulated_clock else schemas.SendDueInput(exclude=("now",))
    document = build_spec("Suqiu notify", "1.0.0", {
        "PolicyPushInput": schemas.PolicyPushInput, "SendDueInput": send_due,
        "Delivery": schemas.DeliveryOut, "InboxMessage": schemas.InboxMessageOut,
    }, paths)
    # TargetsInput._strings_as_lists: one value or a list of them
    targets = document["components"]["schemas"]["TargetsInput"]["properties"]
    for name in ("district", "industry", "size", "tags"):
        items = targets[name]["items"]
        targets[name] = {"anyOf": [items, {"type": "array", "items": items}, {"type": "null"}],
                         "description": "one value, or a list of them"}
    return document
