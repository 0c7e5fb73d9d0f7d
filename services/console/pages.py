"""What each page shows: the calls to the services on the person's behalf and how their
answers combine. No HTTP framework here: each function takes a :class:`ServiceClient` (and
what it needs) and returns the template's context; the entrypoints render it."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import eventlet

from services.console import domain
from services.console.backends import NotDeployed, ServiceClient, ServiceRefused
from shared.errors import DomainError, InvalidInput

DESK_FILTERS = ("status", "colour", "overdue", "category")
LEDGER_FILTERS = ("unit", "status", "colour", "category", "difficulty", "level", "overdue", "phone_callback")


def _filters(args, names) -> dict:
    return {name: args.get(name) for name in names if args.get(name)}


def _page(args) -> int:
    try:
        return max(1, min(10**6, int(args.get("page") or 1)))
    except ValueError:
        return 1


def _optional(call: Callable, *args, **kwargs):
    """A part of a page from another service: (value, None), or (None, why it is missing)."""
    try:
        return call(*args, **kwargs), None
    except NotDeployed as exc:
        return None, exc.message
    except ServiceRefused as exc:
        if exc.status == 404:
            return None, None
        raise


def desk(client: ServiceClient, args) -> dict:
    filters = _filters(args, DESK_FILTERS)
    page = _page(args)
    listing = client.get("dispatch", "/api/v1/desk", page=page, page_size=50, **filters)
    ledger, missing = _optional(client.all_pages, "supervision", "/api/v1/ledger", 1000)
    deadlines = {entry["appeal_id"]: entry for entry in (ledger or [])}
    return {"items": listing["items"], "total": listing["total"], "page": page, "page_size": 50,
            "filters": filters, "deadlines": deadlines, "supervision_missing": missing}


def appeal(client: ServiceClient, person: domain.Person, appeal_id: str,
           names_of: Callable[[set[str]], dict[str, str]], unit_names: dict[str, str]) -> dict:
    """One appeal from every service that knows it, with its merged timeline. The dispatch view
    decides who may see it (a unit only its own: the service answers 404 otherwise, as for no appeal)."""
    office_like = person.service_role == "office"
    path = f"/api/v1/office/appeals/{appeal_id}" if office_like else f"/api/v1/desk/appeals/{appeal_id}"
    dispatch = client.get("dispatch", path)  # raises NotDeployed / ServiceRefused (403, 404)
    pool = eventlet.GreenPool(3)
    supervision = pool.spawn(_optional, client.get, "supervision", f"/api/v1/appeals/{appeal_id}")
    intake = pool.spawn(_optional, client.get, "intake", f"/api/v1/appeals/{appeal_id}") if office_like else None
    assessment = pool.spawn(_optional, client.get, "assessment", f"/api/v1/appeals/{appeal_id}/assessment") \
        if office_like else None
    supervision, supervision_missing = supervision.wait()
    intake, intake_missing = intake.wait() if intake else (None, None)
    assessment, assessment_missing = assessment.wait() if assessment else (None, None)
    timeline = domain.merge_timeline(intake, dispatch, supervision, assessment, unit_names)
    people = {e.who.partition("/")[2] for e in timeline if e.who and "/" in e.who}
    names = names_of(people)
    entries = [{"at": e.at, "source": e.source, "what": e.what, "note": e.note,
                "who": domain.actor_label(e.who, names, unit_names)} for e in timeline]
    return {"appeal": dispatch, "supervision": supervision, "intake": intake, "assessment": assessment,
            "timeline": entries, "missing": [m for m in (supervision_missing, intake_missing, assessment_missing) if m]}


def _labelled(requests_: list[dict], names_of: Callable[[set[str]], dict[str, str]],
              unit_names: dict[str, str]) -> list[dict]:
    actors = [a for r in requests_ for a in (r.get("requested_by"), r.get("decided_by")) if a and "/" in a]
    names = names_of({a.partition("/")[2] for a in actors})
    return [{**r, "asker": domain.actor_label(r.get("requested_by"), names, unit_names),
             "decider": domain.actor_label(r.get("decided_by"), names, unit_names) if r.get("decided_by") else ""}
            for r in requests_]


def pause_requests(client: ServiceClient, names_of: Callable[[set[str]], dict[str, str]],
                   unit_names: dict[str, str]) -> dict:
    """The office's pause approvals: the pending requests (oldest first) and the latest decided."""
    pending = client.get("supervision", "/api/v1/pause-requests", status="pending", page_size=100)
    decided = [r for status in ("approved", "refused")
               for r in client.get("supervision", "/api/v1/pause-requests", status=status, page_size=100)["items"]]
    decided.sort(key=lambda r: r.get("decided_at") or "", reverse=True)
    return {"items": _labelled(pending["items"], names_of, unit_names), "total": pending["total"],
            "decided": _labelled(decided[:20], names_of, unit_names)}


def with_titles(client: ServiceClient, entries: list[dict]) -> list[dict]:
    """Ledger entries with the enterprise's name and the title (dispatch's), fetched side by side."""
    if not client.deployed("dispatch"):
        return entries

    def title_of(entry: dict) -> dict:
        try:
            found = client.get("dispatch", f"/api/v1/office/appeals/{entry['appeal_id']}")
            return {**entry, "enterprise_name": found["enterprise_name"], "title": found["title"]}
        except DomainError:
            return entry

    return list(eventlet.GreenPool(8).imap(title_of, entries))


def ledger(client: ServiceClient, person: domain.Person, args) -> dict:
    filters = _filters(args, LEDGER_FILTERS)
    page = _page(args)
    listing = client.get("supervision", "/api/v1/ledger", page=page, page_size=30, **filters)
    items = listing["items"]
    if person.service_role == "office":
        items = with_titles(client, items)
    return {"items": items, "total": listing["total"], "page": page, "page_size": 30, "filters": filters}


def phone_callbacks(client: ServiceClient, args) -> dict:
    """The phone-callback list (assessment) and the replies waiting for their link's answer (dispatch)."""
    reason = args.get("reason") if args.get("reason") in ("expired", "round") else None
    listing, missing = _optional(client.get, "assessment", "/api/v1/callbacks/phone-list", page_size=100,
                                 reason=reason)
    waiting, dispatch_missing = _optional(client.get, "dispatch", "/api/v1/office/appeals", status="replied",
                                          page_size=100)
    phone_ids = {e["appeal_id"] for e in (listing or {}).get("items", [])}
    return {"items": (listing or {}).get("items", []), "total": (listing or {}).get("total", 0), "reason": reason,
            "waiting": [a for a in (waiting or {}).get("items", []) if a["id"] not in phone_ids],
            "missing": [m for m in (missing, dispatch_missing) if m]}


def enterprise_home(client: ServiceClient, credit_code: str) -> dict:
    submitted, intake_missing = _optional(client.all_pages, "intake", "/api/v1/appeals", 200)
    followed, dispatch_missing = _optional(client.all_pages, "dispatch", "/api/v1/enterprise/appeals", 200)
    callbacks, assessment_missing = _optional(client.get, "assessment", "/api/v1/enterprise/callbacks")
    states = {a["id"]: a for a in followed or []}
    return {"appeals": [{**a, "state": states.get(a["id"])} for a in submitted or []],
            "callbacks": (callbacks or {}).get("items", []),
            "missing": [m for m in (intake_missing, dispatch_missing, assessment_missing) if m]}


def cadre_home(client: ServiceClient, person: domain.Person) -> dict:
    """The enterprises paired with the cadre (the registry's cadre is the person's name), what the
    cadre submitted, and the state of their enterprises' appeals."""
    enterprises, registry_missing = _optional(client.all_pages, "intake", "/api/v1/enterprises", 500,
                                              cadre=person.display_name)
    submitted, _ = _optional(client.all_pages, "intake", "/api/v1/appeals", 200)
    followed, dispatch_missing = _optional(client.all_pages, "dispatch", "/api/v1/enterprise/appeals", 500)
    states = {a["id"]: a for a in followed or []}
    return {"enterprises": enterprises or [], "appeals": [{**a, "state": states.get(a["id"])}
                                                          for a in submitted or []],
            "missing": [m for m in (registry_missing, dispatch_missing) if m]}


VISIT_SUBJECT_TYPES = (("enterprise", "企业"), ("household", "困难家庭"), ("project", "项目"))


def visit_body(form: dict) -> dict:
    """The intake body of a visit from the form (intake checks every field again)."""
    body = {"subject_type": form.get("subject_type") or "enterprise",
            "subject_id": (form.get("subject_id") or "").strip().upper() if form.get("subject_type") in (
                None, "", "enterprise") else (form.get("subject_id") or "").strip(),
            "visited_on": form.get("visited_on", ""), "no_problem": form.get("no_problem") == "true",
            "findings": form.get("findings") or None,
            "appeal_ids": [i.strip() for i in (form.get("appeal_ids") or "").replace("，", ",").split(",")
                           if i.strip()]}
    missing = [k for k in ("subject_id", "visited_on") if not body[k]]
    if missing:
        raise InvalidInput("请填写必填项", {k: ["必填"] for k in missing})
    return body


def appeal_body(form: dict, now: datetime, channel: str) -> dict:
    """The intake body from the submission form (intake checks every field again)."""
    body = {"credit_code": form.get("credit_code", ""), "enterprise_name": form.get("enterprise_name", ""),
            "title": form.get("title", ""), "description": form.get("description", ""),
            "district": form.get("district", ""), "channel": channel,
            "category": form.get("category") or None,
            "collected_at": form.get("collected_at") or now.astimezone(domain.SHANGHAI).isoformat()}
    contact = {k: form.get(f"contact_{k}") for k in ("name", "phone") if form.get(f"contact_{k}")}
    if contact:
        body["contact"] = contact
    missing = [k for k in ("credit_code", "enterprise_name", "title", "description", "district") if not body[k]]
    if missing:
        raise InvalidInput("请填写必填项", {k: ["必填"] for k in missing})
    return body


def leader_overview(client: ServiceClient, now: datetime) -> dict:
    month = domain.month_of(now)
    report, report_missing = _optional(client.get, "assessment", "/api/v1/reports/monthly", month=month,
                                       format="json")
    red, ledger_missing = _optional(client.get, "supervision", "/api/v1/ledger", colour="red", page_size=50)
    red_items = with_titles(client, red["items"]) if red else []
    return {"month": month, "report": report, "red": red_items, "red_total": red["total"] if red else 0,
            "missing": [m for m in (report_missing, ledger_missing) if m]}


def bars(rows: list[tuple[str, float | None]], width: int = 320) -> list[dict]:
    """Bar geometry for an SVG chart drawn by the template (no script, no inline style)."""
    top = max([v for _, v in rows if v is not None] + [1e-9])
    return [{"label": label, "value": value, "width": 0 if value is None else round(width * value / top, 1),
             "y": i * 26} for i, (label, value) in enumerate(rows)]
